import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fabStep, fabStepJs, type FabStepInput } from '../src/attacks/fab-step.js';
import { loadNativeAddon } from '../src/engine/native/addon.js';
import { rand } from './helpers.js';

/** MNIST-like rows: most pixels on the box's lower face, so many coordinates have no room one way. */
function input(norm: FabStepInput['norm'], b: number, m: number, d: number, seed: number): FabStepInput {
  const x0 = rand(b * d, seed, 0, 1).map((v) => (v < 0.6 ? 0 : v));
  const cur = Float32Array.from(x0, (v, i) => Math.min(1, Math.max(0, v + 0.1 * Math.sin(i * 0.37 + seed))));
  const grads = rand(b * m * d, seed + 1, -0.05, 0.05);
  // Some exact zeros and repeated magnitudes: ties and skipped coordinates.
  for (let i = 0; i < grads.length; i += 7) grads[i] = 0;
  for (let i = 3; i < grads.length; i += 11) grads[i] = 0.02;
  const diff = rand(b * m, seed + 2, -3, 3);
  return { norm, alphaMax: 0.1, eta: 1.05, b, m, d, grads, diff, cur, x0, lo: new Float64Array(d), hi: new Float64Array(d).fill(1) };
}

const native = loadNativeAddon();
test('FAB step: the native engine and the JS version give the same next iterates (linf, l2, l1; one and several candidates)', { skip: native.ok && native.addon.fabStep ? false : 'native engine not built' }, () => {
  for (const norm of ['linf', 'l2', 'l1'] as const) {
    for (const m of [1, 3]) {
      const s = input(norm, 37, m, 196, m * 10 + norm.length);
      const a = new Float32Array(s.b * s.d);
      const b = new Float32Array(s.b * s.d);
      fabStep(s, a);
      fabStepJs(s, b);
      let moved = 0;
      for (let i = 0; i < a.length; i++) {
        assert.ok(Math.abs(a[i]! - b[i]!) <= 1e-6, `${norm} m=${m} element ${i}: native ${a[i]} vs JS ${b[i]}`);
        if (Math.abs(a[i]! - s.cur[i]!) > 1e-6) moved++;
      }
      assert.ok(moved > s.b, `${norm} m=${m}: the step moves the points (${moved} coordinates changed)`);
    }
  }
});
