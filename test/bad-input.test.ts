import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import { selectBackend } from '../src/engine/backend.js';
import { saveModel, type ModelMetadata } from '../src/model/io.js';
import { encodeIdx } from '../src/data/idx.js';
import { BIN } from './cli-helpers.js';

// Malformed input over the CLI, each in a fresh process: a non-zero exit, exactly one line on
// stderr naming the field and the fix (no stack trace, no progress or engine line), and nothing
// written. Every case fails before data sets or engines load, so the suite stays quick.

const root = mkdtempSync(join(tmpdir(), 'advtrain-bad-'));
const fx = (...p: string[]) => join(root, 'fixtures', ...p);

/** A case: the arguments (OUT is a path in the case's own empty folder), what the line must name, and the fix it must give. */
interface Case {
  name: string;
  args: string[];
  field: RegExp;
  fix: RegExp;
}

const MODEL = () => fx('model');
const cases: Case[] = [
  // threat models
  { name: 'negative budget', args: ['attack', '--model', MODEL(), '--dataset', 'mnist', '--threat', 'linf:-1'], field: /threat/, fix: /NORM:EPS|≥ 0/ },
  { name: 'unknown norm', args: ['attack', '--model', MODEL(), '--dataset', 'mnist', '--threat', 'l3:2'], field: /threat|norm/, fix: /linf, l2, l1, l0/ },
  { name: 'budget not a number', args: ['attack', '--model', MODEL(), '--dataset', 'mnist', '--threat', 'linf:abc'], field: /threat/, fix: /e\.g\. linf:0\.3/ },
  { name: 'threat a standard training would ignore', args: ['train', '--dataset', 'mnist', '--threat', 'linf:0.3', '--out', 'OUT'], field: /--threat/, fix: /--method/ },
  { name: 'adversarial method without a threat', args: ['train', '--dataset', 'mnist', '--method', 'fgsm-rs', '--out', 'OUT'], field: /--method fgsm-rs/, fix: /--threat linf:0\.3/ },
  // numbers
  { name: 'negative --n', args: ['attack', '--model', MODEL(), '--dataset', 'mnist', '--n', '-3'], field: /--n/, fix: /positive integer/ },
  { name: 'fractional --n', args: ['eval', '--model', MODEL(), '--dataset', 'mnist', '--n', '1.5'], field: /--n/, fix: /positive integer/ },
  { name: 'zero --epochs', args: ['train', '--dataset', 'mnist', '--epochs', '0', '--out', 'OUT'], field: /--epochs/, fix: /positive integer/ },
  { name: 'word for --batch-size', args: ['train', '--dataset', 'mnist', '--batch-size', 'abc', '--out', 'OUT'], field: /--batch-size/, fix: /positive integer/ },
  { name: 'negative --lr', args: ['train', '--dataset', 'mnist', '--lr', '-1', '--out', 'OUT'], field: /--lr/, fix: /positive number/ },
  { name: 'fractional --seed', args: ['attack', '--model', MODEL(), '--dataset', 'mnist', '--seed', '1.5'], field: /--seed/, fix: /integer/ },
  { name: 'zero --threads', args: ['eval', '--model', MODEL(), '--dataset', 'mnist', '--threads', '0'], field: /--threads/, fix: /positive integer/ },
  { name: '--val-fraction of 1', args: ['train', '--dataset', 'mnist', '--val-fraction', '1', '--out', 'OUT'], field: /--val-fraction/, fix: /\[0, 1\)/ },
  { name: 'negative --steps', args: ['attack', '--model', MODEL(), '--dataset', 'mnist', '--steps', '-1'], field: /--steps/, fix: /positive integer/ },
  { name: 'unknown --lr-schedule', args: ['train', '--dataset', 'mnist', '--lr-schedule', 'bogus', '--out', 'OUT'], field: /--lr-schedule/, fix: /constant, cyclic/ },
  { name: 'bad --eps-curve form', args: ['eval', '--model', MODEL(), '--dataset', 'mnist', '--eps-curve', '0:0.4'], field: /--eps-curve/, fix: /START:STOP:STEP/ },
  { name: '--params not JSON', args: ['attack', '--model', MODEL(), '--dataset', 'mnist', '--params', '{bad'], field: /--params/, fix: /JSON object/ },
  // unknown names
  { name: 'unknown data set', args: ['train', '--dataset', 'cifar-99', '--out', 'OUT'], field: /cifar-99/, fix: /known: mnist/ },
  { name: 'unknown zoo model', args: ['train', '--dataset', 'mnist', '--model', 'resnet-9000', '--out', 'OUT'], field: /--model/, fix: /choices are .*mnist-small/ },
  { name: 'unknown attack', args: ['attack', '--model', MODEL(), '--dataset', 'mnist', '--attack', 'nosuch'], field: /attack 'nosuch'/, fix: /choose one of .*pgd/ },
  { name: 'unknown backend', args: ['eval', '--model', MODEL(), '--dataset', 'mnist', '--backend', 'tpu'], field: /--backend/, fix: /native, wasm, cpu/ },
  { name: 'unknown preset', args: ['eval', '--model', MODEL(), '--dataset', 'mnist', '--preset', 'nosuch'], field: /--preset/, fix: /quick/ },
  { name: 'unknown training method', args: ['train', '--dataset', 'mnist', '--method', 'nosuch', '--out', 'OUT'], field: /--method/, fix: /fgsm-rs/ },
  { name: 'unknown option', args: ['eval', '--model', MODEL(), '--dataset', 'mnist', '--nosuch'], field: /--nosuch/, fix: /unknown option/ },
  // models
  { name: 'missing model', args: ['eval', '--model', fx('nope'), '--dataset', 'mnist'], field: /model not found/, fix: /model\.json|\.onnx/ },
  { name: 'folder without model.json', args: ['eval', '--model', fx('empty'), '--dataset', 'mnist'], field: /has no model\.json/, fix: /pass/ },
  { name: 'model.json that is not JSON', args: ['eval', '--model', fx('corrupt'), '--dataset', 'mnist'], field: /model\.json is not valid JSON/, fix: /re-save/ },
  { name: 'model.json without a topology', args: ['eval', '--model', fx('no-topology'), '--dataset', 'mnist'], field: /modelTopology or weightsManifest/, fix: /not a TF\.js model/ },
  { name: 'truncated weights', args: ['eval', '--model', fx('truncated'), '--dataset', 'mnist'], field: /bytes but model\.json describes/, fix: /cut short/ },
  { name: 'missing weights file', args: ['eval', '--model', fx('no-weights'), '--dataset', 'mnist'], field: /weights file missing/, fix: /copy it beside model\.json/ },
  { name: 'metadata input shape that contradicts the model', args: ['eval', '--model', fx('bad-meta'), '--dataset', 'mnist'], field: /inputShape \[32, 32, 3\] .* \[28, 28, 1\]/, fix: /correct inputShape/ },
  { name: 'model path that is some other file', args: ['eval', '--model', fx('notes.txt'), '--dataset', 'mnist'], field: /neither a model\.json nor an \.onnx/, fix: /pass a model folder/ },
  { name: 'ONNX model given to eval', args: ['eval', '--model', fx('net.onnx'), '--dataset', 'mnist'], field: /ONNX/, fix: /--attack square/ },
  { name: 'ONNX model as surrogate', args: ['attack', '--model', MODEL(), '--surrogate', fx('net.onnx'), '--dataset', 'mnist'], field: /--surrogate/, fix: /TF\.js model/ },
  { name: 'gradient attack on an ONNX model', args: ['attack', '--model', fx('net.onnx'), '--dataset', 'mnist', '--attack', 'pgd'], field: /query-only/, fix: /square.*--surrogate/ },
  { name: 'model for another data set', args: ['eval', '--model', MODEL(), '--dataset', fx('good.csv')], field: /\[28,28,1\] but .*\[2\]/, fix: /data set it was trained for/ },
  { name: 'one model for a transfer matrix', args: ['transfer', '--models', MODEL(), '--dataset', 'mnist'], field: /--models/, fix: /two or more/ },
  // data files
  { name: 'missing IDX files', args: ['train', '--dataset', `idx:${fx('nope-images')},${fx('nope-labels')}`, '--out', 'OUT'], field: /IDX file not found/, fix: /check the path/ },
  { name: 'IDX file with a bad magic number', args: ['train', '--dataset', `idx:${fx('bad-magic.idx')},${fx('labels.idx')}`, '--out', 'OUT'], field: /bad-magic\.idx/, fix: /IDX|magic/ },
  { name: 'IDX images and labels that do not pair', args: ['train', '--dataset', `idx:${fx('images.idx')},${fx('labels-short.idx')}`, '--out', 'OUT'], field: /labels/, fix: /matching files/ },
  { name: 'missing CSV file', args: ['train', '--dataset', fx('nope.csv'), '--out', 'OUT'], field: /CSV file not found/, fix: /check the path/ },
  { name: 'CSV with ragged rows', args: ['train', '--dataset', fx('ragged.csv'), '--out', 'OUT'], field: /ragged\.csv line 3/, fix: /fields|columns/ },
  { name: 'CSV with a word in a numeric column', args: ['train', '--dataset', fx('word.csv'), '--out', 'OUT'], field: /column "a"/, fix: /fix the value/ },
  { name: 'empty CSV', args: ['train', '--dataset', fx('empty.csv'), '--out', 'OUT'], field: /empty/, fix: /header row/ },
  { name: 'CSV with no feature columns', args: ['train', '--dataset', fx('label-only.csv'), '--out', 'OUT'], field: /only the label column/, fix: /add feature columns/ },
  // output paths
  { name: 'train --out that is a file', args: ['train', '--dataset', 'mnist', '--out', fx('notes.txt')], field: /--out .*is a file/, fix: /folder path/ },
  { name: 'train --out that is not empty', args: ['train', '--dataset', 'mnist', '--out', fx('full')], field: /--out .*not empty/, fix: /--resume/ },
  { name: 'resume without a checkpoint', args: ['train', '--dataset', 'mnist', '--resume', '--out', 'OUT'], field: /no checkpoint/, fix: /without --resume/ },
  { name: 'attack --json that is a folder', args: ['attack', '--model', MODEL(), '--dataset', 'mnist', '--json', fx('full')], field: /--json .*is a folder/, fix: /give a file path/ },
  { name: 'attack --save-examples into a full folder', args: ['attack', '--model', MODEL(), '--dataset', 'mnist', '--save-examples', fx('full')], field: /--save-examples .*not empty/, fix: /new folder/ },
  { name: 'attack --save-examples that is a file', args: ['attack', '--model', MODEL(), '--dataset', 'mnist', '--save-examples', fx('notes.txt')], field: /--save-examples .*is a file/, fix: /folder path/ },
  { name: 'eval --report that is a folder', args: ['eval', '--model', MODEL(), '--dataset', 'mnist', '--report', fx('full')], field: /--report .*is a folder/, fix: /give a file path/ },
  { name: 'eval --json that cannot be written', args: ['eval', '--model', MODEL(), '--dataset', 'mnist', '--json', '/proc/advtrain-bad-input.json'], field: /--json .*cannot be written/, fix: /another path/ },
  { name: 'transfer --json below a file', args: ['transfer', '--models', `${MODEL()},${MODEL()}`, '--dataset', 'mnist', '--json', fx('notes.txt', 'm.json')], field: /--json .*which is a file/, fix: /another path/ },
  { name: 'report --out that is a folder', args: ['report', '--json', fx('notes.txt'), '--out', fx('full')], field: /--out .*is a folder/, fix: /give a file path/ },
  { name: 'report from a missing result', args: ['report', '--json', fx('nope.json'), '--out', 'OUT'], field: /result file not found/, fix: /advtrain eval --json/ },
  // text attacks and the text preset
  { name: 'image attack on text data', args: ['attack', '--model', MODEL(), '--dataset', 'spam', '--attack', 'pgd'], field: /spam is a text data set/, fix: /--attack pwws/ },
  { name: 'norm threat on text data', args: ['attack', '--model', MODEL(), '--dataset', 'spam', '--attack', 'pwws', '--threat', 'linf:0.2'], field: /text threat 'linf:0\.2'/, fix: /words:0\.1/ },
  { name: 'share of words above 1', args: ['eval', '--model', MODEL(), '--dataset', 'spam', '--preset', 'text', '--threat', 'words:2'], field: /share of words/, fix: /words:0\.1/ },
  { name: 'image-attack flag on a text attack', args: ['attack', '--model', MODEL(), '--dataset', 'spam', '--attack', 'pwws', '--steps', '3'], field: /--steps/, fix: /--queries or --params/ },
  { name: 'unknown text attack parameter', args: ['attack', '--model', MODEL(), '--dataset', 'spam', '--attack', 'pwws', '--params', '{"rho":1}'], field: /'rho'/, fix: /maxQueries, maxCandidates/ },
  { name: 'image model on text data', args: ['attack', '--model', MODEL(), '--dataset', 'spam', '--attack', 'pwws'], field: /not a text model/, fix: /advtrain train --dataset spam --model text-cnn/ },
  { name: 'image preset on text data', args: ['eval', '--model', MODEL(), '--dataset', 'spam', '--preset', 'quick'], field: /--preset text/, fix: /not quick/ },
  { name: 'text preset on image data', args: ['eval', '--model', MODEL(), '--dataset', 'mnist', '--preset', 'text'], field: /--preset text/, fix: /quick, standard, thorough/ },
  { name: 'text --save-examples that is a folder', args: ['eval', '--model', MODEL(), '--dataset', 'spam', '--save-examples', fx('full')], field: /--save-examples .*is a folder/, fix: /give a file path/ },
];

/** Every file under `dir`, relative, with its size: what "nothing written" is checked against. */
function listing(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const f of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, f.name);
      if (f.isDirectory()) walk(p);
      else out.push(`${relative(dir, p)}:${statSync(p).size}`);
    }
  };
  walk(dir);
  return out.sort();
}

function run(args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, FORCE_COLOR: '0' } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs `jobs` with at most `limit` at a time. */
async function pool<T>(jobs: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < jobs.length) {
        const i = next++;
        results[i] = await jobs[i]!();
      }
    }),
  );
  return results;
}

before(async () => {
  await selectBackend('cpu');
  mkdirSync(fx(), { recursive: true });
  const meta: ModelMetadata = { inputShape: [28, 28, 1], numClasses: 10, domain: { lower: 0, upper: 1 }, output: 'logits' };
  const tiny = () => tfl.sequential({ layers: [tfl.layers.flatten({ inputShape: [28, 28, 1] }), tfl.layers.dense({ units: 10 })] });
  await saveModel(MODEL(), tiny(), meta);
  await saveModel(fx('bad-meta'), tiny(), { ...meta, inputShape: [32, 32, 3] });
  cpSync(MODEL(), fx('truncated'), { recursive: true });
  truncateSync(fx('truncated', 'weights.bin'), 100);
  mkdirSync(fx('no-weights'));
  cpSync(fx('model', 'model.json'), fx('no-weights', 'model.json'));
  mkdirSync(fx('corrupt'));
  writeFileSync(fx('corrupt', 'model.json'), '{"modelTopology": ');
  mkdirSync(fx('no-topology'));
  writeFileSync(fx('no-topology', 'model.json'), '{}');
  mkdirSync(fx('empty'));
  mkdirSync(fx('full'));
  writeFileSync(fx('full', 'keep.txt'), 'the user\'s file');
  writeFileSync(fx('notes.txt'), 'not a model');
  writeFileSync(fx('net.onnx'), 'not really ONNX');
  const images = encodeIdx([4, 2, 2], 'uint8', new Uint8Array(16));
  writeFileSync(fx('images.idx'), images);
  writeFileSync(fx('labels.idx'), encodeIdx([4], 'uint8', [0, 1, 0, 1]));
  writeFileSync(fx('labels-short.idx'), encodeIdx([3], 'uint8', [0, 1, 0]));
  writeFileSync(fx('bad-magic.idx'), Buffer.from('PNG this is not an IDX file'));
  writeFileSync(fx('good.csv'), 'a,b,label\n0.1,0.2,x\n0.3,0.4,y\n0.5,0.6,x\n0.7,0.8,y\n0.2,0.1,x\n');
  writeFileSync(fx('ragged.csv'), 'a,b,label\n1,2,x\n3,y\n');
  writeFileSync(fx('word.csv'), 'a,b,label\n1,2,x\n3,4,y\nfive,6,x\n7,8,y\n');
  writeFileSync(fx('empty.csv'), '');
  writeFileSync(fx('label-only.csv'), 'label\nx\ny\n');
});

test(`${cases.length} malformed inputs: each one line naming the field and the fix, a non-zero exit, nothing written`, async () => {
  assert.ok(new Set(cases.map((c) => c.name)).size === cases.length && new Set(cases.map((c) => c.args.join(' '))).size === cases.length, 'cases are distinct');
  assert.ok(cases.length >= 40);
  const fixtures = listing(fx());
  const results = await pool(
    cases.map((c, i) => async () => {
      const cwd = join(root, 'cases', String(i));
      mkdirSync(cwd, { recursive: true });
      const args = c.args.map((a) => (a === 'OUT' ? join(cwd, 'out') : a));
      return { c, cwd, r: await run(args, cwd) };
    }),
    3,
  );
  const failures: string[] = [];
  for (const { c, cwd, r } of results) {
    const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
    const problems = [
      r.code === 0 || r.code === null ? `exit code ${r.code}` : '',
      lines.length !== 1 ? `${lines.length} lines on stderr` : '',
      lines.length >= 1 && !/error/.test(lines[0]!) ? 'the line does not say error' : '',
      lines.length >= 1 && !c.field.test(lines[0]!) ? `does not name the field (${c.field})` : '',
      lines.length >= 1 && !c.fix.test(lines[0]!) ? `does not give the fix (${c.fix})` : '',
      r.stdout !== '' ? 'wrote to stdout' : '',
      readdirSync(cwd).length ? `wrote ${readdirSync(cwd).join(', ')}` : '',
    ].filter(Boolean);
    if (problems.length) failures.push(`${c.name}: ${problems.join('; ')}\n    ${r.stderr.trim().split('\n').join('\n    ')}`);
  }
  assert.equal(failures.length, 0, `\n${failures.join('\n')}`);
  assert.deepEqual(listing(fx()), fixtures, 'the fixtures are untouched');
});

test('a model given as its model.json is accepted like its folder', async () => {
  const json = join(root, 'via-json.json');
  const r = await run(['attack', '--model', join(MODEL(), 'model.json'), '--dataset', 'mnist', '--n', '8', '--steps', '1', '--json', json], root);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(readFileSync(json, 'utf8')).data.n, 8);
});

test('a threat whose ball holds the whole input box is run, with one warning that it measures nothing', async () => {
  const r = await run(['attack', '--model', MODEL(), '--dataset', 'mnist', '--threat', 'linf:2', '--n', '4', '--steps', '1'], root);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr.split('\n').filter((l) => /reaches every input/.test(l)).length, 1, r.stderr);
  const ok = await run(['attack', '--model', MODEL(), '--dataset', 'mnist', '--threat', 'linf:0.3', '--n', '4', '--steps', '1'], root);
  assert.equal(ok.code, 0, ok.stderr);
  assert.doesNotMatch(ok.stderr, /reaches every input/);
});
