import * as tf from '@tensorflow/tfjs-core';
import type { Classifier } from '../model/classifier.js';
import type { Dataset } from '../data/dataset.js';
import { exampleSize } from '../data/dataset.js';
import { subset, take } from '../data/batching.js';
import { lpThreat, type ThreatModel } from '../threat/threat-model.js';
import type { AnyThreat } from '../threat/threat.js';
import { UserError } from '../errors.js';
import type { Attack } from '../attacks/attack.js';
import { Fgsm } from '../attacks/fgsm.js';
import { Pgd } from '../attacks/pgd.js';
import { SquareAttack, SQUARE_SUPPORT } from '../attacks/square.js';
import { supportsThreat } from '../attacks/support.js';
import { runAttack } from './attack-run.js';
import type { ProtocolResult } from './protocol.js';
import type { Access } from './presets.js';

import type { Check } from './schema.js';
import { deriveSeed } from '../data/rng.js';
import { softmaxCrossEntropy } from '../engine/cross-entropy.js';

/** Options of {@link reliabilityChecks}. */
export interface CheckOptions {
  /** The evaluated threat; the checks' attacks (FGSM, PGD, Square) need a norm threat. */
  threat: AnyThreat;
  /** Access of each ensemble member, index-aligned with the protocol's members. */
  access: Access[];
  /** Examples the checks run on (the first m of the evaluated set). Default 200. */
  m?: number;
  seed?: number;
  /** A precomputed accuracy-vs-ε curve to use for the monotonicity check. */
  epsCurve?: { eps: number; accuracy: number }[];
  /** Called with (checks done, {@link CHECK_COUNT}) before the first check and after each one. */
  onProgress?: (done: number, total: number) => void;
}

/** How many checks {@link reliabilityChecks} runs. */
export const CHECK_COUNT = 6;

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

function grade(value: number, warnAbove: number, failAbove: number): Check['verdict'] {
  return value > failAbove ? 'fail' : value > warnAbove ? 'warn' : 'pass';
}

/** A check that had nothing to test, with the reason. */
function notApplicable(name: string, why: string): Check {
  return { name, verdict: 'not-applicable', detail: why };
}

async function accuracyUnder(clf: Classifier, ds: Dataset, attack: Attack, threat: AnyThreat, seed: number): Promise<{ acc: number; robust: Uint8Array }> {
  const r = await runAttack(clf, ds, attack, { threat, seed });
  return { acc: r.robust_accuracy, robust: r.robust };
}

/** The radius that reaches every point of the domain box from any other: an unbounded budget. */
function unboundedEps(threat: ThreatModel, clf: Classifier, d: number): number {
  const width = (v: number | Float32Array) => (typeof v === 'number' ? v : Math.max(...v));
  const lo = typeof clf.domain.lower === 'number' ? clf.domain.lower : Math.min(...clf.domain.lower);
  const w = width(clf.domain.upper) - lo;
  switch (threat.norm) {
    case 'linf':
      return w;
    case 'l2':
      return w * Math.sqrt(d);
    case 'l1':
      return w * d;
    case 'l0':
      return d;
  }
}

/** Share of examples whose loss gradient w.r.t. the input is all zero or not finite. */
function badGradientShare(clf: Classifier, ds: Dataset): number {
  let bad = 0;
  const size = exampleSize(ds);
  for (let s = 0; s < ds.n; s += 100) {
    const n = Math.min(100, ds.n - s);
    const flags = tf.tidy(() => {
      const x = tf.tensor(ds.x.subarray(s * size, (s + n) * size), [n, ...ds.shape]);
      const y = tf.oneHot(tf.tensor1d(ds.y.subarray(s, s + n), 'int32'), ds.numClasses);
      const g = tf.grad((xi: tf.Tensor) => softmaxCrossEntropy(clf.logits(xi), y, 'sum'))(x);
      const f = tf.reshape(g, [n, -1]);
      const finite = tf.all(tf.isFinite(f), 1);
      const nonzero = tf.any(tf.greater(tf.abs(f), 0), 1);
      return tf.logicalNot(tf.logicalAnd(finite, nonzero));
    });
    bad += Array.from(flags.dataSync()).reduce((a, b) => a + b, 0);
    flags.dispose();
  }
  return ds.n ? bad / ds.n : 0;
}

/**
 * Runs the reliability checks of a robustness evaluation on the first m examples:
 * (1) iterative attacks beat single-step; (2) accuracy does not rise with ε; (3) an unbounded
 * attack reaches ~0%; (4) white-box attacks beat black-box ones; (5) more steps and restarts
 * change the result by < 1 pt; (6) share of zero or non-finite gradients. A failed check means
 * the robust-accuracy figure beside it cannot be trusted (gradient masking is the usual cause).
 * A check with nothing to test (at 0% robust accuracy no example is left for (1), (3)–(5) to
 * attack) says `not-applicable` with the reason instead of passing.
 *
 * @example
 * ```ts
 * const checks = await reliabilityChecks(clf, test, result, { threat, access: members.map((m) => m.access) });
 * ```
 */
export async function reliabilityChecks(clf: Classifier, ds: Dataset, result: ProtocolResult, o: CheckOptions): Promise<Check[]> {
  const threat = o.threat;
  if (threat.kind !== 'norm') throw new UserError(`the reliability checks attack with FGSM, PGD and Square, which need a norm threat such as linf:0.3 (got ${threat}): turn them off (--no-checks, or checks: false)`);
  const m = Math.min(o.m ?? 200, ds.n);
  const sub = subset(ds, m);
  const seed = o.seed ?? 0;
  const ensembleRobust = result.robust.subarray(0, m);
  const ensembleAcc = ensembleRobust.reduce((a, b) => a + b, 0) / m;
  const checks: Check[] = [];
  const done = (c: Check) => {
    checks.push(c);
    o.onProgress?.(checks.length, CHECK_COUNT);
  };
  o.onProgress?.(0, CHECK_COUNT);

  const still = Array.from({ length: m }, (_, i) => i).filter((i) => ensembleRobust[i]);
  const cleanCorrect = result.cleanCorrect.subarray(0, m).reduce((a, b) => a + b, 0);
  const noneSurvived = `no example of the ${m} survived the ensemble (robust accuracy ${pct(ensembleAcc)})`;

  // (1) single-step vs the ensemble's iterative attacks.
  if (still.length === 0) {
    done(notApplicable('iterative attacks beat single-step', `${noneSurvived}: there is nothing FGSM could break that the ensemble did not`));
  } else {
    const fgsm = await accuracyUnder(clf, sub, new Fgsm(), o.threat, seed);
    let fgsmOnly = 0;
    for (let i = 0; i < m; i++) if (ensembleRobust[i] && !fgsm.robust[i]) fgsmOnly++;
    done({
      name: 'iterative attacks beat single-step',
      verdict: fgsmOnly > 0.01 * m ? 'fail' : fgsmOnly > 0 ? 'warn' : 'pass',
      detail: `FGSM accuracy ${pct(fgsm.acc)} vs ensemble ${pct(ensembleAcc)} on ${m} examples; FGSM broke ${fgsmOnly} the ensemble did not`,
    });
  }

  // (2) accuracy against ε.
  let curve = o.epsCurve;
  if (!curve && cleanCorrect > 0) {
    curve = [];
    for (const f of [0.25, 0.5, 1, 1.5, 2]) {
      const t = threat.norm === 'l0' ? lpThreat('l0', Math.max(1, Math.round(threat.eps * f))) : threat.scaled(f);
      curve.push({ eps: t.eps, accuracy: (await accuracyUnder(clf, sub, new Pgd({ steps: 20 }), t, seed)).acc });
    }
  }
  if (!curve) {
    done(notApplicable('accuracy does not rise with ε', `the model classifies none of the ${m} examples correctly, so accuracy is 0% at every ε`));
  } else if (curve.every((c) => c.accuracy === 0)) {
    done(notApplicable('accuracy does not rise with ε', `accuracy is 0.0% at every ε tried (${curve.map((c) => +c.eps.toPrecision(3)).join(', ')}): there is nothing that could rise`));
  } else {
    let rise = 0;
    for (let k = 1; k < curve.length; k++) rise = Math.max(rise, curve[k]!.accuracy - curve[k - 1]!.accuracy);
    done({
      name: 'accuracy does not rise with ε',
      verdict: grade(rise, 0, 0.01),
      detail: `PGD-20 accuracy at ε = ${curve.map((c) => `${+c.eps.toPrecision(3)}: ${pct(c.accuracy)}`).join(', ')}${rise > 0 ? `; largest rise ${pct(rise)}` : ''}`,
    });
  }

  // (3) an unbounded attack.
  if (still.length === 0) {
    done(notApplicable('an unbounded attack reaches ~0% accuracy', `${noneSurvived}: the attacks at ${o.threat} already reach 0%, an unbounded budget has nothing to add`));
  } else if (clf.domain.immutable?.length || clf.domain.relations?.length) {
    // Immutable features and relations keep a record's class reachable only within the feasible set, not the whole box.
    done(notApplicable('an unbounded attack reaches ~0% accuracy', 'the domain has immutable features or relations: even an unbounded attacker cannot reach every input, so 0% is not expected'));
  } else {
    const big = lpThreat(threat.norm, unboundedEps(threat, clf, exampleSize(ds)));
    const unb = await accuracyUnder(clf, sub, new Pgd({ steps: 50, stepSize: big.eps / 10 }), big, seed);
    done({
      name: 'an unbounded attack reaches ~0% accuracy',
      verdict: grade(unb.acc, 0.01, 0.05),
      detail: `PGD-50 at ${big} (the whole input box): accuracy ${pct(unb.acc)}`,
    });
  }

  // (4) white-box vs black-box.
  const blackMembers = o.access.flatMap((a, k) => (a === 'black-box' ? [k] : []));
  const blackName = 'white-box attacks beat black-box';
  if (blackMembers.length > 0) {
    const reached = blackMembers.reduce((s, k) => s + (result.members[k]?.attacked ?? 0), 0);
    if (reached === 0) {
      done(notApplicable(blackName, `no example survived the white-box attacks, so the black-box attacks of the ensemble ran on none`));
    } else {
      let blackOnly = 0;
      for (let i = 0; i < result.n; i++) if (blackMembers.includes(result.brokenBy[i]!)) blackOnly++;
      blackOnly = blackOnly / result.n;
      done({ name: blackName, verdict: grade(blackOnly, 0.002, 0.01), detail: `black-box attacks broke ${pct(blackOnly)} of the examples after every white-box attack failed on them` });
    }
  } else if (!supportsThreat(SQUARE_SUPPORT, threat)) {
    done(notApplicable(blackName, `no black-box attack for ${threat.norm}: Square runs at ${SQUARE_SUPPORT.norms.join(' and ')} only`));
  } else if (still.length === 0) {
    done(notApplicable(blackName, `${noneSurvived}: Square has nothing to attack`));
  } else {
    const sq = await runAttack(clf, take(sub, still), new SquareAttack({ maxQueries: 1000 }), { threat: o.threat, seed, exampleIndices: still });
    const blackOnly = (sq.attacked - sq.robust.reduce((a, b) => a + b, 0)) / m;
    done({ name: blackName, verdict: grade(blackOnly, 0.002, 0.01), detail: `Square (1,000 queries) broke ${pct(blackOnly)} of ${m} examples the white-box attacks did not` });
  }

  // (5) more steps and restarts.
  if (still.length === 0) {
    done(notApplicable('more steps and restarts change little', `${noneSurvived}: more steps and restarts have nothing to attack`));
  } else {
    const r = await runAttack(clf, take(sub, still), new Pgd({ steps: 200, restarts: 3 }), { threat: o.threat, seed: deriveSeed(seed, 'more-steps'), exampleIndices: still });
    const extra = (r.attacked - r.robust.reduce((a, b) => a + b, 0)) / m;
    done({
      name: 'more steps and restarts change little',
      verdict: grade(extra, 0.005, 0.01),
      detail: `PGD-200 × 3 restarts broke a further ${pct(extra)} of ${m} examples`,
    });
  }

  // (6) gradients.
  const bad = badGradientShare(clf, sub);
  done({
    name: 'gradients are non-zero and finite',
    verdict: grade(bad, 0.01, 0.1),
    detail: `${pct(bad)} of ${m} examples have an all-zero or non-finite input gradient`,
  });
  return checks;
}
