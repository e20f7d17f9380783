import { UserError } from '../errors.js';
import { isBox, type Domain } from '../data/domain.js';
import type { Attack } from './attack.js';
import type { AnyThreat } from '../threat/threat.js';
import { requireParamKeys, requireThreat, supportedThreats, type AttackAccess, type AttackSupport } from './support.js';
import { Fgsm, FGSM_SUPPORT } from './fgsm.js';
import { Pgd, PGD_SUPPORT } from './pgd.js';
import { checkLoss } from './losses.js';
import { Apgd, APGD_SUPPORT, ApgdTargeted, APGD_T_SUPPORT } from './apgd.js';
import { Fab, FAB_SUPPORT } from './fab.js';
import { DeepFool, DEEPFOOL_SUPPORT } from './deepfool.js';
import { CwL2, CW_L2_SUPPORT } from './cw-l2.js';
import { SquareAttack, SQUARE_SUPPORT } from './square.js';
import { HopSkipJump, HOPSKIPJUMP_SUPPORT } from './hopskipjump.js';
import { GenAttack, GENATTACK_SUPPORT } from './genattack.js';
import { DifferentialEvolution, DE_SUPPORT } from './differential-evolution.js';
import { Spatial, SPATIAL_SUPPORT } from './spatial.js';
import { Jsma, JSMA_SUPPORT } from './jsma.js';
import { Capgd, CAPGD_SUPPORT } from './capgd.js';
import { Moeva, MOEVA_SUPPORT } from './moeva.js';
import { Caa, CAA_SUPPORT } from './caa.js';

export type { AttackAccess } from './support.js';

/** The attack flags the CLI shares; each attack reads those that apply to it. */
export interface AttackFlags {
  steps?: number;
  restarts?: number;
  stepSize?: number;
  loss?: string;
  /** Query budget of black-box attacks. */
  queries?: number;
  /** Any hyperparameter by name (from `--params '{"rho":0.8}'`); wins over the flags above. */
  params?: Record<string, unknown>;
}

interface Entry {
  /** The threats it supports, the model access it needs and its hyperparameter keys: checked before any work starts. */
  support: AttackSupport;
  summary: string;
  /** The threat used when the user gives none, from the number of input features (default linf:0.3). */
  defaultThreat?: (features: number) => string;
  create(f: AttackFlags): Attack<AnyThreat>;
}

/** Drops undefined values so defaults apply. */
export function defined<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

const REGISTRY = new Map<string, Entry>();

/**
 * Adds an attack to the CLI's list (used by each attack family's module).
 *
 * @example
 * ```ts
 * registerAttack('fgsm', { support: FGSM_SUPPORT, summary: 'one signed gradient step', create: (f) => new Fgsm(f.params) });
 * ```
 */
export function registerAttack(name: string, entry: Entry): void {
  REGISTRY.set(name, entry);
}

/**
 * Names of all registered attacks.
 *
 * @example
 * ```ts
 * console.log(attackNames().join(', ')); // fgsm, pgd, mifgsm, apgd-ce, …
 * ```
 */
export function attackNames(): string[] {
  return [...REGISTRY.keys()];
}

/** One line per attack, for --help. */
export function attackHelp(): string {
  return [...REGISTRY.entries()].map(([n, e]) => `  ${n.padEnd(12)} ${e.summary} [${e.support.access}; ${supportedThreats(e.support)}]`).join('\n');
}

function entry(name: string): Entry {
  const e = REGISTRY.get(name);
  if (!e) throw new UserError(`unknown attack '${name}': choose one of ${attackNames().join(', ')}`);
  return e;
}

/**
 * Creates an attack by CLI name with sensible defaults for every unset hyperparameter. Unknown
 * `params` keys are refused, and so is `threat` (when given) if the attack does not support it:
 * one line naming what it takes, before any work.
 *
 * @example
 * ```ts
 * const pgd = createAttack('pgd', { steps: 50, restarts: 10, stepSize: 0.01 }, parseThreat('linf:0.3'));
 * ```
 */
export function createAttack(name: string, flags: AttackFlags = {}, threat?: AnyThreat): Attack<AnyThreat> {
  const e = entry(name);
  requireParamKeys(name, e.support, flags.params ?? {});
  if (threat) requireThreat(name, e.support, threat);
  return e.create(flags);
}

/** What the attack supports (threats, model access, hyperparameter keys). */
export function attackSupport(name: string): AttackSupport {
  return entry(name).support;
}

/** How the attack may access the model. */
export function attackAccess(name: string): AttackAccess {
  return entry(name).support.access;
}

registerAttack('fgsm', {
  support: FGSM_SUPPORT,
  summary: 'FGSM/FGM: one steepest-ascent step of size ε (Goodfellow et al. 2015)',
  create: (f) => new Fgsm({ ...defined({ stepSize: f.stepSize, loss: f.loss ? checkLoss(f.loss) : undefined }), ...f.params }),
});
registerAttack('pgd', {
  support: PGD_SUPPORT,
  summary: 'PGD with random start and restarts, CE/CW/DLR loss (Madry et al. 2018)',
  create: (f) => new Pgd({ ...defined({ steps: f.steps, restarts: f.restarts, stepSize: f.stepSize, loss: f.loss ? checkLoss(f.loss) : undefined }), ...f.params }),
});
registerAttack('mifgsm', {
  support: PGD_SUPPORT,
  summary: 'momentum iterative FGSM, μ = 1 (Dong et al. 2018)',
  create: (f) =>
    new Pgd(
      { steps: 10, randomStart: false, momentum: 1, ...defined({ steps: f.steps, restarts: f.restarts, stepSize: f.stepSize, loss: f.loss ? checkLoss(f.loss) : undefined }), ...f.params },
      'mifgsm',
    ),
});
registerAttack('apgd-ce', {
  support: APGD_SUPPORT,
  summary: 'APGD with cross-entropy, step-size schedule and checkpoints (Croce & Hein 2020)',
  create: (f) => new Apgd({ loss: 'ce', ...defined({ steps: f.steps, restarts: f.restarts }), ...f.params }),
});
registerAttack('apgd-dlr', {
  support: APGD_T_SUPPORT,
  summary: 'targeted APGD-DLR against the 9 most likely wrong classes (AutoAttack APGD-T)',
  create: (f) => new ApgdTargeted({ ...defined({ steps: f.steps, restarts: f.restarts }), ...f.params }),
});
registerAttack('fab', {
  support: FAB_SUPPORT,
  summary: 'FAB minimal-norm attack, boundary linearisation (Croce & Hein 2020)',
  create: (f) => new Fab({ ...defined({ steps: f.steps, restarts: f.restarts }), ...f.params }),
});
registerAttack('deepfool', {
  support: DEEPFOOL_SUPPORT,
  summary: 'DeepFool minimal-norm attack (Moosavi-Dezfooli et al. 2016)',
  create: (f) => new DeepFool({ ...defined({ steps: f.steps }), ...f.params }),
});
registerAttack('cw-l2', {
  support: CW_L2_SUPPORT,
  defaultThreat: (d) => `l2:${+(Math.sqrt(d) / 10).toPrecision(2)}`,
  summary: 'Carlini-Wagner L2: tanh box, binary search over c, Adam (2017)',
  create: (f) => new CwL2({ ...defined({ steps: f.steps }), ...f.params }),
});
registerAttack('square', {
  support: SQUARE_SUPPORT,
  summary: 'Square attack: random search with square updates, Linf/L2 (Andriushchenko et al. 2020)',
  create: (f) => new SquareAttack({ ...defined({ maxQueries: f.queries }), ...f.params }),
});
registerAttack('hopskipjump', {
  support: HOPSKIPJUMP_SUPPORT,
  summary: 'HopSkipJump: decision-based, labels only, L2/Linf (Chen et al. 2020)',
  create: (f) => new HopSkipJump({ ...defined({ maxQueries: f.queries, iterations: f.steps }), ...f.params }),
});
registerAttack('genattack', {
  support: GENATTACK_SUPPORT,
  summary: 'GenAttack: genetic algorithm on scores, Linf (Alzantot et al. 2019)',
  create: (f) => new GenAttack({ ...defined({ maxQueries: f.queries }), ...f.params }),
});
registerAttack('de', {
  support: DE_SUPPORT,
  defaultThreat: () => 'l0:10',
  summary: 'differential-evolution few-pixel attack, threat l0:K (Su et al. 2019)',
  create: (f) => new DifferentialEvolution({ ...defined({ maxQueries: f.queries, iterations: f.steps }), ...f.params }),
});
registerAttack('spatial', {
  support: SPATIAL_SUPPORT,
  defaultThreat: () => 'spatial:rot=30,trans=3',
  summary: 'rotation/translation/scaling: grid search, worst-of-k, or first-order (Engstrom et al. 2019); threat spatial:rot=30,trans=3',
  create: (f) => new Spatial({ ...defined({ steps: f.steps, restarts: f.restarts }), ...f.params }),
});
registerAttack('jsma', {
  support: JSMA_SUPPORT,
  defaultThreat: (d) => `l0:${Math.max(2, Math.floor(d / 10))}`,
  summary: 'Jacobian saliency map attack, pairs of features (Papernot et al. 2016); threat l0:K',
  create: (f) => new Jsma({ ...f.params }),
});

// Constrained attacks for tabular data: their records stay valid (relations, immutables, types).
// TabularBench attacks min-max scaled features in an L2 ball of radius 0.5.
registerAttack('capgd', {
  support: CAPGD_SUPPORT,
  defaultThreat: () => 'l2:0.5',
  summary: 'constrained adaptive PGD for tabular data: loss CE − violation, repair each step (Simonetto et al. 2024)',
  create: (f) => new Capgd({ ...defined({ steps: f.steps, restarts: f.restarts }), ...f.params }),
});
registerAttack('moeva', {
  support: MOEVA_SUPPORT,
  defaultThreat: () => 'l2:0.5',
  summary: 'multi-objective evolutionary attack (NSGA-III) over controllable features, valid records only',
  create: (f) => new Moeva({ ...defined({ generations: f.steps }), ...f.params }),
});
registerAttack('caa', {
  support: CAA_SUPPORT,
  defaultThreat: () => 'l2:0.5',
  summary: 'constrained adaptive attack: CAPGD, then MOEVA on the survivors (Simonetto et al. 2024)',
  create: (f) => new Caa({ ...defined({ steps: f.steps, restarts: f.restarts }), ...f.params }),
});

/**
 * The attack `advtrain attack` runs when none is named: on a tabular data set (a domain with
 * feature types, immutables or relations) the constrained ensemble `caa`, else `pgd`.
 *
 * @example
 * ```ts
 * defaultAttackFor({ lower: 0, upper: 1 }); // 'pgd'
 * ```
 */
export function defaultAttackFor(domain: Domain): string {
  return isBox(domain) ? 'pgd' : 'caa';
}

/** The threat an attack uses when none is given (CLI form). */
export function defaultThreatFor(name: string, features: number): string {
  return REGISTRY.get(name)?.defaultThreat?.(features) ?? 'linf:0.3';
}

/**
 * The attacks that only query the model (scores or decisions), so can attack a model without
 * gradients such as an ONNX file.
 *
 * @example
 * ```ts
 * queryOnlyAttacks(); // ['square', 'hopskipjump', 'genattack', 'de', 'moeva']
 * ```
 */
export function queryOnlyAttacks(): string[] {
  return attackNames().filter((n) => attackAccess(n) !== 'gradient');
}
