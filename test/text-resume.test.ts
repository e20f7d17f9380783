/**
 * Text evaluation resume: an evaluation interrupted after any chunk of messages and run again
 * with the same settings gives the result of one uninterrupted run (apart from clock fields) —
 * in the library (interrupted mid-attack and between attacks) and on the real path, `advtrain
 * eval --preset text --json OUT` SIGKILLed after a saved chunk and rerun with the same command.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectBackend } from '../src/engine/backend.js';
import { textThreat } from '../src/threat/text-threat.js';
import { evaluateText } from '../src/eval/text-eval.js';
import { createTextAttack } from '../src/text/attack/recipes.js';
import type { TextDataset } from '../src/data/text-dataset.js';
import { fixtureClassifier, fixtureTokenizer, spamMessages } from './text-fixture.js';
import { cli } from './kill-cli.js';

before(async () => {
  await selectBackend('cpu');
});

/** JSON without what measures the clock or records the command line. */
const withoutClock = (v: unknown): string => {
  const drop = new Set(['time_s', 'created', 'seconds', 'seconds_per_message', 'command']);
  return JSON.stringify(v, (k, x) => (drop.has(k) ? undefined : x));
};

function dataset(): TextDataset {
  const texts = [...spamMessages(14, 5), 'thanks for the meeting report', 'the project agenda for the week'];
  const y = Int32Array.from(texts.map((_, i) => (i < 14 ? 1 : 0)));
  return { name: 'fixture-spam', texts, y, n: texts.length, numClasses: 2, classNames: ['ham', 'spam'] };
}

class Interrupted extends Error {}

test('evaluateText interrupted after a chunk (mid-attack, at the last chunk of an attack, at the first of the next) resumes from its state to the uninterrupted result', async () => {
  const clf = fixtureClassifier();
  const ds = dataset();
  const opts = { threat: textThreat(fixtureTokenizer), seed: 3, chunk: 4 };
  // A small query budget, so that every attack leaves messages to the next and runs over several chunks.
  const attacks = () => ['pwws', 'goodword', 'deepwordbug'].map((n) => createTextAttack(n, { maxQueries: 30 }));
  const ref = await evaluateText(clf, ds, { ...opts, attacks: attacks() });
  assert.deepEqual(ref.result.text!.attacks.map((a) => a.attacked), [14, 14, 12], 'each attack runs over several chunks, the last on fewer messages');
  const root = mkdtempSync(join(tmpdir(), 'advtrain-text-resume-'));
  try {
    for (const [member, chunk] of [[0, 1], [1, 3], [2, 0]] as const) {
      const statePath = join(root, `s${member}${chunk}.state`);
      await assert.rejects(
        evaluateText(clf, ds, { ...opts, attacks: attacks(), statePath, afterChunk: (m, c) => {
          if (m === member && c === chunk) throw new Interrupted();
        } }),
        Interrupted,
      );
      assert.ok(existsSync(statePath));
      let chunksRun = 0;
      const again = await evaluateText(clf, ds, { ...opts, attacks: attacks(), statePath, afterChunk: () => void chunksRun++ });
      const total = ref.result.text!.attacks.reduce((a, f) => a + Math.ceil(f.attacked / 4), 0);
      assert.ok(chunksRun < total, `resumed run redid ${chunksRun} of ${total} chunks`);
      assert.equal(withoutClock(again.result), withoutClock(ref.result));
      assert.equal(withoutClock(again.examples), withoutClock(ref.examples));
    }
    // A state made with other settings is refused in one line naming the setting.
    const statePath = join(root, 'other.state');
    await assert.rejects(evaluateText(clf, ds, { ...opts, attacks: attacks(), statePath, afterChunk: () => { throw new Interrupted(); } }), Interrupted);
    await assert.rejects(evaluateText(clf, ds, { ...opts, seed: 4, attacks: attacks(), statePath }), (e: Error) => e.name === 'UserError' && /made with --seed 3, not 4/.test(e.message) && !e.message.includes('\n'));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('advtrain eval --preset text SIGKILLed after a saved chunk, rerun with the same command, writes the uninterrupted JSON and examples', () => {
  const root = mkdtempSync(join(tmpdir(), 'advtrain-text-resume-cli-'));
  try {
    const csv = join(root, 'mail.csv');
    const rows = ['body,kind'];
    const spammy = ['win', 'free', 'cash', 'prize', 'click', 'offer', 'money', 'bonus'];
    const hammy = ['meeting', 'report', 'lunch', 'patch', 'kernel', 'review', 'notes', 'agenda'];
    for (let i = 0; i < 80; i++) {
      const words = i % 2 ? spammy : hammy;
      rows.push(`"${Array.from({ length: 10 }, (_, j) => words[(i * 5 + j * 3) % words.length]).join(' ')} today ${i}",${i % 2 ? 'spam' : 'ham'}`);
    }
    writeFileSync(csv, rows.join('\n') + '\n');
    const model = join(root, 'm');
    const data = ['--dataset', `csv:${csv}`, '--text-column', 'body', '--label-column', 'kind'];
    const t = cli(['train', ...data, '--model', 'text-bag', '--epochs', '4', '--lr', '0.02', '--max-length', '16', '--min-count', '1', '--backend', 'cpu', '--out', model]);
    assert.equal(t.status, 0, t.stderr);
    const evalArgs = (json: string) => ['eval', '--model', model, ...data, '--preset', 'text', '--n', '8', '--backend', 'cpu', '--json', json, '--save-examples', `${json}.jsonl`];
    const ref = join(root, 'ref.json');
    const r = cli(evalArgs(ref));
    assert.equal(r.status, 0, r.stderr);
    const out = join(root, 'b.json');
    const k = cli(evalArgs(out), 'text-eval-chunk:2');
    assert.equal(k.signal, 'SIGKILL', k.stderr);
    assert.ok(existsSync(`${out}.state`) && !existsSync(out), 'a killed evaluation keeps its state and writes no result');
    const again = cli(evalArgs(out));
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stderr, /resuming the evaluation/);
    const read = (p: string) => withoutClock(JSON.parse(readFileSync(p, 'utf8')));
    assert.equal(read(out), read(ref));
    assert.equal(readFileSync(`${out}.jsonl`, 'utf8'), readFileSync(`${ref}.jsonl`, 'utf8'));
    assert.ok(!existsSync(`${out}.state`), 'the state is removed once every file is written');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
