import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../src/engine/backend.js';
import { fromFunction } from '../src/model/classifier.js';
import { bilinearTransform, isSpatialThreat, parseSpatialThreat, spatialThreat, SPATIAL_DIMS } from '../src/threat/spatial.js';
import { lpThreat } from '../src/threat/threat-model.js';
import { Spatial } from '../src/attacks/spatial.js';
import { UserError } from '../src/errors.js';

const UNIT = { lower: 0, upper: 1 };

/** A smooth batch [b, h, w, 1]: one Gaussian blob per image at (row, col), σ² = s2. */
function blobs(h: number, w: number, centres: [number, number][], s2 = 2): tf.Tensor4D {
  const out = new Float32Array(centres.length * h * w);
  centres.forEach(([r0, c0], b) => {
    for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) out[(b * h + i) * w + j] = Math.exp(-((i - r0) ** 2 + (j - c0) ** 2) / (2 * s2));
  });
  return tf.tensor4d(out, [centres.length, h, w, 1]);
}

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

for (const backend of ['cpu', 'wasm'] as const) {
  test(`bilinear sampler (${backend}): identity is exact, integer shifts are exact, 90° rotation is a transpose-and-flip`, async () => {
    await selectBackend(backend);
    const before = tf.memory().numTensors;
    const H = 9;
    const x = tf.tidy(() => tf.randomUniform([3, H, H, 2], 0, 1, 'float32', 5)) as tf.Tensor4D;
    const run = (p: number[][], pad: 'zeros' | 'edge' = 'zeros', img: tf.Tensor = x) =>
      tf.tidy(() => bilinearTransform(img, tf.tensor2d(p), pad).arraySync()) as number[][][][];
    const src = x.arraySync() as number[][][][];
    const id = run([[0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 1]]);
    assert.ok(Math.max(...id.flat(3).map((v, k) => Math.abs(v - src.flat(3)[k]!))) <= 1e-6, 'identity');

    // Rows: shift right by 2; shift up by 1 and left by 3; shift down by 4.
    const shifted = run([[0, 2, 0, 1], [0, -3, -1, 1], [0, 0, 4, 1]]);
    const shifts = [[2, 0], [-3, -1], [0, 4]];
    let err = 0;
    for (let b = 0; b < 3; b++) {
      const [tx, ty] = shifts[b]!;
      for (let i = 0; i < H; i++) for (let j = 0; j < H; j++) for (let c = 0; c < 2; c++) {
        const si = i - ty!;
        const sj = j - tx!;
        const expect = si >= 0 && si < H && sj >= 0 && sj < H ? src[b]![si]![sj]![c]! : 0;
        err = Math.max(err, Math.abs(expect - shifted[b]![i]![j]![c]!));
      }
    }
    assert.equal(err, 0, 'integer translation equals the shifted image exactly (zero padding)');

    // Edge padding repeats the border: a shift right by 2 fills columns 0, 1 with column 0.
    const edge = run([[0, 2, 0, 1], [0, 0, 0, 1], [0, 0, 0, 1]], 'edge');
    for (let i = 0; i < H; i++) for (let j = 0; j < 3; j++) assert.equal(edge[0]![i]![j]![0], src[0]![i]![0]![0]);

    const rot = run([[90, 0, 0, 1], [-90, 0, 0, 1], [180, 0, 0, 1]]);
    let rerr = 0;
    for (let i = 0; i < H; i++) for (let j = 0; j < H; j++) for (let c = 0; c < 2; c++) {
      // +90° (clockwise as displayed): out[i][j] = in[H−1−j][i]; −90°: out[i][j] = in[j][H−1−i]; 180°: in[H−1−i][H−1−j].
      rerr = Math.max(rerr, Math.abs(rot[0]![i]![j]![c]! - src[0]![H - 1 - j]![i]![c]!));
      rerr = Math.max(rerr, Math.abs(rot[1]![i]![j]![c]! - src[1]![j]![H - 1 - i]![c]!));
      rerr = Math.max(rerr, Math.abs(rot[2]![i]![j]![c]! - src[2]![H - 1 - i]![H - 1 - j]![c]!));
    }
    assert.ok(rerr < 1e-5, `rotations by ±90° and 180° match the flipped image (max error ${rerr})`);

    // Scaling by 2 about the centre of a horizontal ramp halves its slope.
    const ramp = tf.tidy(() => tf.tile(tf.reshape(tf.range(0, H), [1, 1, H, 1]), [1, H, 1, 1])) as tf.Tensor4D;
    const zoom = run([[0, 0, 0, 2]], 'zeros', ramp);
    const c = (H - 1) / 2;
    for (let j = 0; j < H; j++) assert.ok(Math.abs(zoom[0]![4]![j]![0]! - ((j - c) / 2 + c)) < 1e-5);
    tf.dispose([x, ramp]);
    assert.equal(tf.memory().numTensors, before);
  });
}

test('the gradient w.r.t. the transform parameters matches central finite differences', async () => {
  await selectBackend('cpu');
  const before = tf.memory().numTensors;
  const H = 12;
  const x = blobs(H, H, [[4.2, 6.1], [7.3, 3.8]], 4);
  const wts = tf.randomNormal([2, H, H, 1], 0, 1, 'float32', 3);
  const f = (q: tf.Tensor2D) => tf.tidy(() => tf.sum(tf.mul(bilinearTransform(x, q), wts)).dataSync()[0]!);
  const p = [[7.3, 0.3, -0.45, 1.07], [-12.2, 1.2, 0.6, 0.93]];
  const g = tf.tidy(() => tf.grad((q: tf.Tensor) => tf.sum(tf.mul(bilinearTransform(x, q as tf.Tensor2D), wts)))(tf.tensor2d(p)).arraySync()) as number[][];
  const h = 1e-3;
  for (let b = 0; b < 2; b++) {
    for (let k = 0; k < SPATIAL_DIMS; k++) {
      const plus = p.map((r) => r.slice());
      const minus = p.map((r) => r.slice());
      plus[b]![k]! += h;
      minus[b]![k]! -= h;
      const tp = tf.tensor2d(plus);
      const tm = tf.tensor2d(minus);
      const fd = (f(tp) - f(tm)) / (2 * h);
      tf.dispose([tp, tm]);
      const scale = Math.max(1, Math.abs(fd));
      assert.ok(Math.abs(g[b]![k]! - fd) / scale < 0.02, `row ${b} column ${k}: analytic ${g[b]![k]} vs finite difference ${fd}`);
    }
  }
  // The image gradient exists too (adjoint of the sampler): ⟨T(x), w⟩ = ⟨x, Tᵀ(w)⟩.
  const q = tf.tensor2d(p);
  const gx = tf.grad((xi: tf.Tensor) => tf.sum(tf.mul(bilinearTransform(xi, q), wts)))(x);
  const lhs = f(q);
  const rhs = tf.tidy(() => tf.sum(tf.mul(x, gx)).dataSync()[0]!);
  assert.ok(Math.abs(lhs - rhs) < 1e-3 * Math.max(1, Math.abs(lhs)), `adjoint identity ${lhs} vs ${rhs}`);
  tf.dispose([x, wts, q, gx]);
  assert.equal(tf.memory().numTensors, before);
});

test('spatial threat: parsing, box projection, random draws, grid and distances', async () => {
  await selectBackend('cpu');
  const t = parseSpatialThreat('spatial:rot=30,trans=3');
  assert.ok(isSpatialThreat(t) && !isSpatialThreat(lpThreat('linf', 0.3)));
  assert.equal(t.toString(), 'spatial:rot=30,trans=3');
  assert.equal(parseSpatialThreat('spatial').toString(), 'spatial:rot=30,trans=3');
  const s = parseSpatialThreat('spatial:trans=2,rot=10,scale=0.8-1.25,pad=edge');
  assert.deepEqual([s.rotation, s.translation, ...s.scale, s.padding], [10, 2, 0.8, 1.25, 'edge']);
  assert.equal(s.toString(), 'spatial:rot=10,trans=2,scale=0.8-1.25,pad=edge');
  for (const bad of ['spatial:rot=x', 'spatial:rot=30,foo=1', 'spatial:scale=1.1-1.2', 'spatial:pad=mirror', 'linf:0.3', 'spatial:rot=-5']) {
    assert.throws(() => parseSpatialThreat(bad), UserError, bad);
  }

  const before = tf.memory().numTensors;
  const g = t.grid();
  assert.equal(g.length / SPATIAL_DIMS, 775);
  assert.deepEqual(Array.from(g.subarray(0, 4)), [0, 0, 0, 1], 'the identity comes first');
  const gd = t.transformSizeValues(g);
  for (let i = 1; i < gd.length; i++) assert.ok(gd[i]! >= gd[i - 1]!, 'grid sorted by distance');
  assert.equal(gd[gd.length - 1], 1);
  assert.equal(s.grid().length / SPATIAL_DIMS, 31 * 25 * 5);

  const r = s.random(500, 3);
  const rv = r.arraySync();
  const projected = tf.tidy(() => s.project(tf.tensor2d([[50, -7, 1, 3], [-1, 0.5, -9, 0.1]])));
  assert.deepEqual(projected.arraySync(), [[10, -2, 1, 1.25], [-1, 0.5, -2, 0.8]].map((row) => row.map((v) => Math.fround(v))));
  for (const row of rv) {
    for (let k = 0; k < SPATIAL_DIMS; k++) assert.ok(row[k]! >= s.lower[k]! && row[k]! <= s.upper[k]!);
  }
  assert.deepEqual(Array.from(s.randomValues(5, 3)), Array.from(s.randomValues(5, 3)));
  assert.notDeepEqual(Array.from(s.randomValues(5, 3)), Array.from(s.randomValues(5, 4)));
  const dT = s.transformSize(r);
  const dH = s.transformSizeValues(r.dataSync());
  dT.dataSync().forEach((v, i) => assert.ok(Math.abs(v - dH[i]!) < 1e-6 && v >= 0 && v <= 1 + 1e-6));
  assert.deepEqual(Array.from(s.transformSizeValues([5, 0, 0, 1, 0, 0, -2, 1, 0, 0, 0, 0.9, 0, 0, 0, 1.125])), [0.5, 1, 0.5, 0.5].map(Math.fround));
  tf.dispose([r, projected, dT]);
  assert.equal(tf.memory().numTensors, before);
});

/**
 * A two-class model that decides by the horizontal centre of mass of the image: class 0 when the
 * mass lies left of the centre column, class 1 when right. Translation and rotation move the mass,
 * so the spatial robustness of each blob is known from geometry.
 */
function centreOfMassModel(H: number) {
  const c = (H - 1) / 2;
  const cols = tf.keep(tf.reshape(tf.tile(tf.reshape(tf.range(0, H), [1, H]), [H, 1]), [1, H * H]));
  return fromFunction(
    (x) => tf.tidy(() => {
      const f = tf.reshape(x, [x.shape[0]!, H * H]);
      const mass = tf.add(tf.sum(f, 1, true), 1e-6);
      const mx = tf.div(tf.sum(tf.mul(f, cols), 1, true), mass);
      const z = tf.mul(tf.sub(c, mx), 4);
      return tf.concat([z, tf.zerosLike(z)], 1);
    }),
    { inputShape: [H, H, 1], numClasses: 2, domain: UNIT },
  );
}

test('grid search breaks exactly the blobs a ±30°/±3 px transform can move across the centre; worst-of-10 is weaker; first-order finds them too', async () => {
  await selectBackend('wasm');
  const H = 24;
  const c = (H - 1) / 2;
  const clf = centreOfMassModel(H);
  // (dx, dy) offsets of each blob from the centre. Breakable: the x-offset can change sign.
  const cases: { d: [number, number]; breakable: boolean }[] = [
    { d: [-1, 0], breakable: true },
    { d: [-2, 0], breakable: true },
    { d: [-2.5, 0], breakable: true },
    { d: [0.7, 0], breakable: true },
    { d: [2.4, 1], breakable: true },
    { d: [-4.5, -4], breakable: true }, // only with rotation: −4.5·cos30° − (−4)·sin30° + 3 > 0
    { d: [-6, 0], breakable: false },
    { d: [6, 0], breakable: false },
    { d: [-5, 2], breakable: false },
  ];
  const x = blobs(H, H, cases.map(({ d }) => [c + d[1], c + d[0]] as [number, number]), 1.5);
  const y = tf.tensor1d(cases.map(({ d }) => (d[0] < 0 ? 0 : 1)), 'int32');
  const clean = tf.tidy(() => tf.argMax(clf.logits(x), 1).dataSync());
  assert.deepEqual(Array.from(clean), Array.from(y.dataSync()), 'the model is right on every clean blob');
  const threat = parseSpatialThreat('spatial:rot=30,trans=3');
  const before = tf.memory().numTensors;

  const grid = await new Spatial({ mode: 'grid', batchSize: 512 }).run(clf, x, y, { threat });
  const random = await new Spatial({ mode: 'random', samples: 10 }).run(clf, x, y, { threat, seed: 1 });
  const first = await new Spatial({ mode: 'first-order', steps: 20, restarts: 3 }).run(clf, x, y, { threat, seed: 1 });
  assert.deepEqual(Array.from(grid.success), cases.map((k) => (k.breakable ? 1 : 0)), 'grid: success exactly on the breakable blobs');
  assert.deepEqual(Array.from(first.success), cases.map((k) => (k.breakable ? 1 : 0)), 'first-order: success exactly on the breakable blobs');
  const acc = (s: Uint8Array) => 1 - s.reduce((a, v) => a + v, 0) / s.length;
  assert.ok(acc(grid.success) <= acc(random.success), `grid accuracy ${acc(grid.success)} ≤ worst-of-10 accuracy ${acc(random.success)}`);
  for (let i = 0; i < cases.length; i++) if (!cases[i]!.breakable) assert.equal(random.success[i], 0, 'nothing inside the box breaks a robust blob');

  // The grid visits transforms by increasing size: dx = −1 first breaks at tx = 1.5 (size 0.5).
  assert.equal(grid.distance[0], 0.5);
  // Early stop: a broken example spends fewer queries than the 775 of an unbroken one.
  cases.forEach((k, i) => (k.breakable ? assert.ok(grid.queries[i]! < 775) : assert.equal(grid.queries[i], 775)));
  assert.equal(grid.iterations, 775);
  random.queries.forEach((q) => assert.ok(q >= 1 && q <= 10));
  first.queries.forEach((q) => assert.ok(q >= 1 && q <= 3 * 21));

  for (const r of [grid, random, first]) {
    // Every transform lies in the box, the distance is its normalised size, xAdv is x under it.
    for (let i = 0; i < cases.length; i++) {
      const p = r.params.subarray(i * 4, i * 4 + 4);
      assert.ok(Math.abs(p[0]!) <= 30 + 1e-4 && Math.abs(p[1]!) <= 3 + 1e-6 && Math.abs(p[2]!) <= 3 + 1e-6 && p[3] === 1, `params ${p}`);
      assert.ok(Math.abs(r.distance[i]! - Math.max(Math.abs(p[0]!) / 30, Math.abs(p[1]!) / 3, Math.abs(p[2]!) / 3)) < 1e-6);
    }
    const again = tf.tidy(() => threat.transform(x, tf.tensor2d(r.params, [cases.length, 4]), UNIT));
    assert.ok(maxAbsDiff(again, r.xAdv) === 0);
    const pred = tf.tidy(() => tf.argMax(clf.logits(r.xAdv), 1).dataSync());
    for (let i = 0; i < cases.length; i++) assert.equal(pred[i] !== clean[i] ? 1 : 0, r.success[i], 'success means xAdv is misclassified');
    tf.dispose([again, r.xAdv]);
  }
  assert.equal(tf.memory().numTensors, before);

  // Same seed, same numbers; another seed, other draws.
  const r1 = await new Spatial({ mode: 'random', samples: 4 }).run(clf, x, y, { threat, seed: 7 });
  const r2 = await new Spatial({ mode: 'random', samples: 4 }).run(clf, x, y, { threat, seed: 7 });
  const r3 = await new Spatial({ mode: 'random', samples: 4 }).run(clf, x, y, { threat, seed: 8 });
  assert.deepEqual(Array.from(r1.params), Array.from(r2.params));
  assert.notDeepEqual(Array.from(r1.params), Array.from(r3.params));
  const f1 = await new Spatial({ mode: 'first-order', steps: 5, restarts: 2 }).run(clf, x, y, { threat, seed: 7 });
  const f2 = await new Spatial({ mode: 'first-order', steps: 5, restarts: 2 }).run(clf, x, y, { threat, seed: 7 });
  assert.deepEqual(Array.from(f1.params), Array.from(f2.params));
  tf.dispose([r1.xAdv, r2.xAdv, r3.xAdv, f1.xAdv, f2.xAdv]);
  assert.equal(tf.memory().numTensors, before);

  // Targeted: aim every blob at class 1; only left-side breakable blobs can reach it.
  const targets = tf.tensor1d(cases.map(() => 1), 'int32');
  const tg = await new Spatial({ mode: 'grid' }).run(clf, x, y, { threat, targeted: true, targets });
  cases.forEach((k, i) => assert.equal(tg.success[i], k.d[0] > 0 || k.breakable ? 1 : 0));
  tf.dispose([tg.xAdv, targets, x, y]);
});

test('spatial attack rejects bad settings with a message naming the field', async () => {
  await selectBackend('cpu');
  assert.throws(() => new Spatial({ mode: 'spiral' as never }), /spatial mode/);
  assert.throws(() => new Spatial({ samples: 0 }), /samples/);
  assert.throws(() => new Spatial({ stepSize: -1 }), /stepSize/);
  const clf = centreOfMassModel(8);
  const x = tf.zeros([1, 8, 8, 1]);
  const y = tf.tensor1d([0], 'int32');
  await assert.rejects(new Spatial().run(clf, x, y, { threat: lpThreat('linf', 0.3) as never }), /attack spatial does not support the threat linf:0.3: it supports spatial/);
  assert.throws(() => spatialThreat({ rotation: 30, translation: 3, scale: [1.2, 1.5] }), /scale range/);
  tf.dispose([x, y]);
});
