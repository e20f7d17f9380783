import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectBackend } from '../src/engine/backend.js';
import { loadModel } from '../src/model/io.js';
import { encodeOnnxModel } from './fixtures/onnx-writer.js';
import { cli } from './cli-helpers.js';

/** Exports a trained zoo `mlp` (flatten → dense 256 relu → dense 256 relu → dense) to ONNX. */
async function exportMlp(dir: string, path: string): Promise<void> {
  await selectBackend('cpu');
  const { layers } = await loadModel(dir);
  const w = layers!.model.getWeights().map((t) => ({ dims: t.shape, values: Array.from(t.dataSync()) }));
  const names = ['W1', 'B1', 'W2', 'B2', 'W3', 'B3'];
  writeFileSync(path, encodeOnnxModel({
    inputs: [{ name: 'input', shape: ['N', 28, 28, 1] }],
    outputs: [{ name: 'logits', shape: ['N', 10] }],
    initializers: w.map((t, i) => ({ name: names[i]!, dims: t.dims, values: t.values })),
    nodes: [
      { op: 'Flatten', inputs: ['input'], outputs: ['f'], attributes: { axis: 1 } },
      { op: 'Gemm', inputs: ['f', 'W1', 'B1'], outputs: ['h1'] },
      { op: 'Relu', inputs: ['h1'], outputs: ['r1'] },
      { op: 'Gemm', inputs: ['r1', 'W2', 'B2'], outputs: ['h2'] },
      { op: 'Relu', inputs: ['h2'], outputs: ['r2'] },
      { op: 'Gemm', inputs: ['r2', 'W3', 'B3'], outputs: ['logits'] },
    ],
  }));
  layers!.model.dispose();
}

test('an ONNX model is attacked with query-only attacks and with transfer attacks from a TF.js surrogate', async () => {
  const root = mkdtempSync(join(tmpdir(), 'advtrain-onnx-cli-'));
  const tfDir = join(root, 'mlp');
  assert.equal(cli('train', '--dataset', 'mnist', '--model', 'mlp', '--epochs', '1', '--n', '2000', '--out', tfDir).status, 0);
  const onnx = join(root, 'mlp.onnx');
  await exportMlp(tfDir, onnx);

  const sq = cli('attack', '--model', onnx, '--dataset', 'mnist', '--attack', 'square', '--queries', '300', '--n', '40', '--json', join(root, 'sq.json'));
  assert.equal(sq.status, 0, sq.stderr);
  const r = JSON.parse(readFileSync(join(root, 'sq.json'), 'utf8'));
  assert.ok(r.clean_accuracy > 0.7, `ONNX twin classifies MNIST (${r.clean_accuracy})`);
  assert.ok(r.success_rate > 0.5 && r.queries.median > 0);

  const bad = cli('attack', '--model', onnx, '--dataset', 'mnist', '--attack', 'pgd', '--n', '20');
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /query-only \(ONNX\): use square, hopskipjump, genattack, de or moeva, or craft pgd on a TF\.js model with --surrogate DIR/);

  // The surrogate has the same weights, so the transfer attack is as strong as the white-box one.
  const white = cli('attack', '--model', tfDir, '--dataset', 'mnist', '--attack', 'pgd', '--threat', 'linf:0.1', '--n', '100', '--json', join(root, 'w.json'));
  const trans = cli('attack', '--model', onnx, '--surrogate', tfDir, '--dataset', 'mnist', '--attack', 'pgd', '--threat', 'linf:0.1', '--n', '100', '--json', join(root, 't.json'));
  assert.equal(trans.status, 0, trans.stderr);
  assert.match(trans.stdout, /transfer from .* to .*mlp\.onnx: clean [\d.]+%, under transfer [\d.]+%/);
  const w = JSON.parse(readFileSync(join(root, 'w.json'), 'utf8'));
  const t = JSON.parse(readFileSync(join(root, 't.json'), 'utf8'));
  assert.ok(Math.abs(t.robust_accuracy - w.robust_accuracy) <= 0.02, `transfer ${t.robust_accuracy} vs white-box ${w.robust_accuracy}`);
  assert.equal(white.status, 0);
});
