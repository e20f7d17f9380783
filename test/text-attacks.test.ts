import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../src/engine/backend.js';
import { textThreat, parseTextThreat } from '../src/threat/text-threat.js';
import { wordNet } from '../src/text/attack/wordnet.js';
import { createTextAttack, textAttackNames } from '../src/text/attack/recipes.js';
import { TextAttack } from '../src/text/attack/text-attack.js';
import { TextGoal } from '../src/text/attack/goal.js';
import { AttackedText, attackBase } from '../src/text/attack/attacked-text.js';
import { charEdits, wordNetSwap } from '../src/text/attack/transformations.js';
import { pwwsSearch } from '../src/text/attack/search.js';
import { tokenPositions } from '../src/text/attack/positions.js';
import { ENGLISH_STOP_WORDS } from '../src/text/stop-words.js';
import { UserError } from '../src/errors.js';
import { fixtureClassifier, fixtureTokenizer, spamMessages } from './text-fixture.js';

before(async () => {
  await selectBackend('cpu');
});

const threat = () => textThreat(fixtureTokenizer, { maxShare: 0.1 });

test('WordNet synonyms: shared synsets, inflected forms reduced, single plain words only, unknown words give none', () => {
  const wn = wordNet();
  assert.ok(wn.synonyms('cheap').includes('inexpensive'));
  assert.ok(wn.synonyms('Winner').includes('victor'));
  assert.ok(wn.synonyms('offers').includes('bid'), 'offers → offer by the detachment rules');
  assert.ok(!wn.synonyms('cheap').includes('cheap'));
  for (const s of wn.synonyms('free')) assert.match(s, /^[a-z]+$/);
  assert.deepEqual(wn.synonyms('qxzvword'), []);
  assert.ok(wn.size > 20000, `${wn.size} lemmas`);
});

test('text threat: share of words changed, insertions count, URLs / numbers / e-mail / stop words protected', () => {
  const t = threat();
  const orig = 'Get cheap meds now at http://x.biz for 100 dollars from me@x.org today, best prices online';
  assert.equal(t.toString(), 'words:0.1');
  const d = t.diff(orig, orig.replace('cheap', 'inexpensive'));
  assert.deepEqual(d.changes, [{ from: 'cheap', to: 'inexpensive' }]);
  assert.equal(d.words, 12);
  assert.equal(t.check([orig], [orig.replace('cheap', 'inexpensive')]).inside[0], 1);
  assert.equal(t.check([orig], [orig.replace('cheap', 'inexpensive').replace('meds', 'drugs')]).inside[0], 0, '2 of 12 words > 10%');
  assert.equal(t.check([orig], ['hello ' + orig]).inside[0], 1);
  assert.deepEqual(t.diff(orig, orig.replace('http://x.biz', 'http://y.biz')).violations, ['http://x.biz']);
  assert.deepEqual(t.diff(orig, orig.replace('100', '200')).violations, ['100']);
  assert.deepEqual(t.diff(orig, orig.replace('me@x.org', 'you@x.org')).violations, ['me@x.org']);
  assert.deepEqual(t.diff(orig, orig.replace(' for ', ' per ')).violations, ['for']);
  assert.equal(parseTextThreat('words:5%', fixtureTokenizer).maxShare, 0.05);
  assert.throws(() => parseTextThreat('words:2', fixtureTokenizer), UserError);
  assert.throws(() => parseTextThreat('linf:0.3', fixtureTokenizer), /words:SHARE/);
});

/** True for a token no attack may change: a URL, e-mail address, number or stop word. */
function isKept(t: { kind: string; text: string }): boolean {
  return t.kind === 'url' || t.kind === 'email' || t.kind === 'number' || (t.kind === 'word' && ENGLISH_STOP_WORDS.has(t.text.toLowerCase()));
}

test('property: every attack, on 40 spam messages, keeps URLs / e-mail / numbers / stop words and the 10% budget, and succeeds on some', () => {
  const clf = fixtureClassifier();
  const t = threat();
  const msgs = spamMessages(40, 3);
  for (const name of textAttackNames()) {
    const attack = createTextAttack(name, { maxQueries: 1500 });
    let wins = 0;
    msgs.forEach((m, i) => {
      const o = attack.attack(clf, m, 1, { threat: t, seed: 1, index: i });
      const words = fixtureTokenizer.tokenize(m).filter((k) => k.kind === 'word').length;
      // Independent of the threat's own diff: substitutions keep every token in place, insertions prepend.
      const a = fixtureTokenizer.tokenize(o.adversarial).filter((k) => k.kind !== 'space');
      const b = fixtureTokenizer.tokenize(m).filter((k) => k.kind !== 'space');
      const changed = a.length === b.length ? a.filter((x, k) => x.text !== b[k]!.text).length : a.length - b.length;
      if (a.length !== b.length) assert.deepEqual(a.slice(a.length - b.length), b, `${name} #${i}: only insertions in front`);
      else b.forEach((x, k) => isKept(x) && assert.equal(a[k]!.text, x.text, `${name} #${i}: '${x.text}' must stay`));
      assert.ok(changed <= Math.floor(0.1 * words), `${name} #${i}: ${changed} changes in ${words} words`);
      assert.equal(t.check([m], [o.adversarial]).inside[0], 1, `${name} #${i}: the threat's check agrees`);
      if (o.success) {
        wins++;
        const pred = tf.tidy(() => tf.argMax(clf.logitsOfTexts([o.adversarial]), 1).dataSync()[0]);
        assert.equal(pred, 0, `${name} #${i}: a fresh forward pass confirms the success`);
      }
    });
    assert.ok(wins >= 10, `${name}: ${wins}/40 successes`);
  }
});

test('query budget honoured by every attack, and the goal counts exactly the texts the model scored', () => {
  const clf = fixtureClassifier();
  const [m] = spamMessages(1, 5);
  for (const name of textAttackNames()) {
    for (const budget of [1, 7, 60]) {
      const o = createTextAttack(name, name === 'goodword' ? { maxQueries: budget, vocabulary: 30 } : { maxQueries: budget }).attack(clf, m!, 1, { threat: threat(), index: 0 });
      assert.ok(o.queries <= budget, `${name}: ${o.queries} queries > budget ${budget}`);
    }
  }
  const goal = new TextGoal(clf, { label: 1, maxQueries: 5 });
  const base = attackBase(m!, fixtureTokenizer, threat());
  const before = clf.texts;
  const cands = base.editable.slice(0, 8).map((i) => new AttackedText(base).replace(i, 'zz'));
  const s = goal.score(cands);
  assert.equal(goal.queries, 5);
  assert.equal(clf.texts - before, 5);
  assert.equal(s.filter((x) => Number.isFinite(x.score)).length, 5);
  assert.ok(goal.exhausted);
});

test('batching: candidates are scored in one forward per batch, never one per candidate', () => {
  const clf = fixtureClassifier();
  const [m] = spamMessages(1, 9);
  const base = attackBase(m!, fixtureTokenizer, threat());
  const cands = Array.from({ length: 600 }, (_, k) => new AttackedText(base).replace(base.editable[k % base.editable.length]!, `w${k}`));
  const goal = new TextGoal(clf, { label: 1, maxQueries: 10_000, batchSize: 256 });
  clf.calls = 0;
  goal.score(cands);
  assert.equal(clf.calls, 3, '600 candidates in batches of 256');
  assert.equal(goal.queries, 600);
  goal.score(cands);
  assert.equal(clf.calls, 3, 'scored texts are cached');
  for (const name of textAttackNames()) {
    clf.calls = 0;
    const before = clf.texts;
    const o = createTextAttack(name).attack(clf, m!, 1, { threat: threat(), index: 0 });
    const scored = clf.texts - before;
    assert.ok(clf.calls * 4 <= scored, `${name}: ${clf.calls} forward calls for ${scored} texts`);
    assert.ok(o.queries > 0);
  }
});

test('no tensor leaks, and the same seed gives the same adversarial text', () => {
  const clf = fixtureClassifier();
  const msgs = spamMessages(3, 11);
  const t = threat();
  for (const name of textAttackNames()) createTextAttack(name).attack(clf, msgs[0]!, 1, { threat: t, index: 0 }); // warm caches
  const n0 = tf.memory().numTensors;
  for (const name of textAttackNames()) {
    const a = msgs.map((m, i) => createTextAttack(name).attack(clf, m, 1, { threat: t, seed: 4, index: i }).adversarial);
    const b = msgs.map((m, i) => createTextAttack(name).attack(clf, m, 1, { threat: t, seed: 4, index: i }).adversarial);
    assert.deepEqual(a, b, name);
  }
  assert.equal(tf.memory().numTensors, n0);
});

test('a recipe built from parts; a message the model already misses is skipped; bad parameters refused in one line', () => {
  const clf = fixtureClassifier();
  const [m] = spamMessages(1, 2);
  const mine = new TextAttack('bug-pwws', { transformation: charEdits({ perWord: 6 }), search: pwwsSearch(), maxQueries: 2000 });
  const o = mine.attack(clf, m!, 1, { threat: threat(), seed: 0, index: 0 });
  assert.ok(o.success);
  assert.equal(o.predAfter, 0);
  const ham = new TextAttack('pwws', { transformation: wordNetSwap(), search: pwwsSearch() }).attack(clf, 'thanks for the meeting report', 1, { threat: threat() });
  assert.ok(ham.skipped && !ham.success && ham.adversarial === 'thanks for the meeting report');
  assert.throws(() => createTextAttack('pwws', { steps: 3 }), /no parameter 'steps': its parameters are maxQueries, maxCandidates/);
  assert.throws(() => createTextAttack('pwws', { maxQueries: -1 }), UserError);
  assert.throws(() => createTextAttack('bogus'), /unknown text attack 'bogus'/);
});

test('words beyond the model window are never edited; token positions follow the encoding', () => {
  const clf = fixtureClassifier(12);
  const m = 'the meeting is a free offer for you, and cheap cash is a winner prize for the free bonus and the urgent money';
  const tokens = fixtureTokenizer.tokenize(m);
  const ids = tf.tidy(() => clf.encode([m]).dataSync() as Int32Array);
  const pos = tokenPositions(clf, tokens, ids);
  const seen = tokens.map((t, i) => [t.text, pos[i]] as const).filter(([, p]) => p! >= 0);
  assert.equal(seen.length, 12);
  assert.deepEqual(seen.slice(0, 3), [['the', 0], ['meeting', 1], ['is', 2]]);
  assert.equal(pos[tokens.findIndex((t) => t.text === ',')], -1, 'punctuation the fixture drops');
  for (const name of textAttackNames()) {
    const o = createTextAttack(name).attack(clf, m, 1, { threat: textThreat(fixtureTokenizer, { maxShare: 0.3 }), index: 0 });
    const tail = m.slice(m.indexOf(' winner'));
    if (name !== 'goodword') assert.ok(o.adversarial.endsWith(tail), `${name}: ${o.adversarial}`);
  }
});

test('id fast path: candidates scored from the base encoding get exactly the scores of their texts', () => {
  const dense = fixtureClassifier(40, true);
  const [m] = spamMessages(1, 13);
  const t = threat();
  const base = attackBase(m!, fixtureTokenizer, t);
  const start = new AttackedText(base);
  const e = base.editable;
  const cands = [
    start.replace(e[0]!, 'inexpensive'),
    start.replace(e[1]!, 'FREE').replace(e[2]!, 'frее'), // a homoglyph: one token, unknown to the model
    start.replace(e[3]!, ''), // a deletion probe
    start.insert(0, 'meeting'),
    start.insert(0, 'meeting').insert(0, 'agenda').replace(e[4]!, 'cash'),
    start.replace(e[e.length - 1]!, 'prize'), // maybe beyond the 40-token window
  ];
  const goal = new TextGoal(dense, { label: 1, maxQueries: 100 });
  const got = goal.score(cands);
  assert.equal(dense.idCalls, 1, 'one forward on ids');
  assert.equal(dense.calls, 0, 'no text went through logitsOfTexts');
  const want = tf.tidy(() => tf.softmax(dense.logitsOfTexts(cands.map((c) => c.text))).arraySync() as number[][]);
  got.forEach((g, k) => assert.ok(Math.abs(g.score - (1 - want[k]![1]!)) < 1e-6, `candidate ${k}: ${g.score} vs ${1 - want[k]![1]!}`));
  // An encoding that drops punctuation inside its window is not dense: the goal falls back to the texts.
  const sparse = fixtureClassifier(40, false);
  const b2 = attackBase('Hi, ' + m!, fixtureTokenizer, t);
  new TextGoal(sparse, { label: 1, maxQueries: 100 }).score([new AttackedText(b2).replace(b2.editable[0]!, 'inexpensive')]);
  assert.equal(sparse.idCalls, 0);
  assert.equal(sparse.calls, 1);
});
