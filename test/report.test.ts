import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PNG } from 'pngjs';
import { UserError } from '../src/errors.js';
import { writeFileAtomic } from '../src/fsutil.js';
import { renderReport, writeReport } from '../src/report/html.js';
import { amplifiedPerturbation, encodePng } from '../src/report/png.js';
import { validateEvalResult } from '../src/eval/validate-result.js';
import type { EvalResultV2, Histogram } from '../src/eval/schema.js';

const FIXTURE = fileURLToPath(new URL('../../test/fixtures/eval-result.json', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';

const load = (): EvalResultV2 => JSON.parse(readFileSync(FIXTURE, 'utf8')) as EvalResultV2;

// ---------------------------------------------------------------------------------------------
// The fixture: a realistic `standard` evaluation of a PGD-trained MNIST model, with synthetic
// 28×28 digits for the gallery. Regenerate with `UPDATE_FIXTURES=1 node --test build/test/report.test.js`.

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function normal(r: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

// Seven-segment strokes (a top, b top-right, c bottom-right, d bottom, e bottom-left, f top-left, g middle).
const SEGMENTS: Record<string, [number, number, number, number]> = {
  a: [9, 6, 19, 6], b: [19, 6, 19, 14], c: [19, 14, 19, 22], d: [9, 22, 19, 22], e: [9, 14, 9, 22], f: [9, 6, 9, 14], g: [9, 14, 19, 14],
};
const DIGITS = ['abcdef', 'bc', 'abged', 'abgcd', 'fgbc', 'afgcd', 'afgedc', 'abc', 'abcdefg', 'abcdfg'];

/** A blurry, slanted, MNIST-looking digit in [0, 1], 28×28. */
function digit(d: number, r: () => number): Float32Array {
  const img = new Float32Array(28 * 28);
  const slant = 0.15 + 0.15 * r();
  const dx = (r() - 0.5) * 3;
  const width = 1.3 + 0.5 * r();
  const segs = [...DIGITS[d]!].map((s) => SEGMENTS[s]!);
  for (let y = 0; y < 28; y++) {
    for (let x = 0; x < 28; x++) {
      const px = x - dx - slant * (14 - y);
      let dist = Infinity;
      for (const [x0, y0, x1, y1] of segs) {
        const vx = x1 - x0, vy = y1 - y0;
        const t = Math.max(0, Math.min(1, ((px - x0) * vx + (y - y0) * vy) / (vx * vx + vy * vy)));
        dist = Math.min(dist, Math.hypot(px - x0 - t * vx, y - y0 - t * vy));
      }
      img[y * 28 + x] = Math.max(0, Math.min(1, (width + 1 - dist) / 1.2));
    }
  }
  return img;
}

/** An L∞ = 0.3 perturbation with the blobby structure PGD gives on MNIST, clipped to [0, 1]. */
function attack(x: Float32Array, r: () => number): Float32Array {
  const waves = Array.from({ length: 5 }, () => [r() * 0.9, r() * 0.9, r() * 6, normal(r)]);
  return Float32Array.from(x, (v, i) => {
    const y = Math.floor(i / 28), xx = i % 28;
    const f = waves.reduce((s, [a, b, p, w]) => s + w! * Math.sin(a! * xx + b! * y + p!), 0) + 0.6 * normal(r);
    const near = v > 0.05 || r() < 0.7;
    return Math.max(0, Math.min(1, v + (near ? 0.3 * Math.sign(f) : 0)));
  });
}

function hist(values: number[], lo: number, hi: number, bins: number): Histogram {
  const edges = Array.from({ length: bins + 1 }, (_, i) => Number((lo + ((hi - lo) * i) / bins).toFixed(6)));
  const counts = new Array<number>(bins).fill(0);
  for (const v of values) counts[Math.max(0, Math.min(bins - 1, Math.floor(((v - lo) / (hi - lo)) * bins)))]! += 1;
  return { edges, counts };
}

const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;
const round = (v: number, d = 4) => Number(v.toFixed(d));

function buildFixture(): EvalResultV2 {
  const r = rng(7);
  const n = 1000;
  // Gallery: the first ten MNIST test labels; three of them fooled.
  const labels = [7, 2, 1, 0, 4, 1, 4, 9, 5, 9];
  const fooledAs: Record<number, number> = { 4: 9, 7: 4, 8: 3 };
  const gallery = labels.map((label, index) => {
    const x = digit(label, r);
    const xa = attack(x, r);
    const advPred = fooledAs[index] ?? label;
    const b64 = (a: Float32Array) => encodePng(a, [28, 28, 1], { scale: 1 }).toString('base64');
    return {
      index,
      label,
      clean: { prediction: label, confidence: round(0.97 + 0.029 * r()), png: b64(x) },
      adversarial: { prediction: advPred, confidence: round(advPred === label ? 0.45 + 0.4 * r() : 0.5 + 0.3 * r()), png: b64(xa) },
      perturbation: { png: b64(amplifiedPerturbation(x, xa)) },
    };
  });
  const conf = (hiShare: number) => Array.from({ length: n }, () => (r() < hiShare ? 1 - Math.abs(normal(r)) * 0.04 : r()));
  const cleanConf = conf(0.93), advConf = conf(0.55).map((v) => v * 0.92);
  const cleanMargin = Array.from({ length: n }, () => 9 + 3.2 * normal(r));
  const advMargin = Array.from({ length: n }, () => 2.2 + 2.6 * normal(r));
  const side = (c: number[], m: number[]) => ({
    confidence: { mean: round(mean(c)), histogram: hist(c, 0, 1, 20) },
    margin: { mean: round(mean(m)), histogram: hist(m, -8, 20, 28) },
  });
  const training = Array.from({ length: 20 }, (_, k) => {
    const t = (k + 1) / 20;
    const eps = round(Math.min(0.3, 0.3 * Math.min(1, (k + 1) / 5)), 3);
    return {
      epoch: k + 1,
      loss: round(2.0 * Math.exp(-3.4 * t) + 0.33 + 0.02 * normal(r)),
      clean_accuracy: round(0.985 - 0.15 * Math.exp(-6 * t) + 0.002 * normal(r)),
      adv_loss: round(1.9 * Math.exp(-3 * t) + 0.31 + 0.02 * normal(r)),
      adv_accuracy: round(0.93 - 0.62 * Math.exp(-4 * t) + 0.005 * normal(r)),
      val_accuracy: round(0.988 - 0.12 * Math.exp(-6 * t) + 0.002 * normal(r)),
      robust_val_accuracy: round(0.9 - 0.6 * Math.exp(-4 * t) + 0.006 * normal(r)),
      eps,
    };
  });
  const norms = (median: number, spread: number, hi: number, norm: 'l2' | 'linf') => {
    const v = Array.from({ length: 880 }, () => Math.max(0.01, median * Math.exp(spread * normal(r))));
    const s = [...v].sort((a, b) => a - b);
    return { norm, median: round(s[440]!), mean: round(mean(v)), histogram: hist(v, 0, hi, 24) };
  };
  return {
    schema: 'advtrain/eval@2',
    created: '2026-05-14T09:31:07.412Z',
    versions: { advtrain: '0.1.0', tfjs: '4.22.0', node: 'v20.19.2' },
    engine: { backend: 'tensorflow', threads: 8 },
    seed: 0,
    model: { path: 'runs/mnist-pgd-at/model', architecture: 'mnist-small (conv 32-64, dense 1024)', trained_on: 'mnist, pgd-at linf:0.3, 20 epochs' },
    data: { dataset: 'mnist', split: 'test', n },
    threat: 'linf:0.3',
    preset: 'standard',
    clean_accuracy: 0.989,
    robust_accuracy: 0.894,
    attacks: [
      { name: 'apgd-ce', params: { steps: 100, restarts: 1, rho: 0.75 }, robust_accuracy: 0.912, attack_accuracy: 0.9221, queries: { median: 100, mean: 93.4, total: 92373 }, time_s: 412.7, attacked: 989 },
      { name: 'apgd-t-dlr', params: { steps: 100, targets: 9, restarts: 1 }, robust_accuracy: 0.897, attack_accuracy: 0.9836, queries: { median: 900, mean: 887.2, total: 809126 }, time_s: 3561.2, attacked: 912 },
      { name: 'fab-t', params: { steps: 100, targets: 9 }, robust_accuracy: 0.896, attack_accuracy: 0.9989, queries: { median: 1800, mean: 1795.5, total: 1610563 }, time_s: 2874.4, attacked: 897 },
      { name: 'square', params: { queries: 5000, p_init: 0.8 }, robust_accuracy: 0.894, attack_accuracy: 0.9978, queries: { median: 5000, mean: 4969.8, total: 4452941 }, time_s: 1907.9, attacked: 896 },
    ],
    margin: {
      clean: side(cleanConf, cleanMargin),
      adversarial: side(advConf, advMargin),
      gap: { confidence: round(mean(cleanConf) - mean(advConf)), margin: round(mean(cleanMargin) - mean(advMargin)) },
    },
    training,
    eps_curve: [0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4].map((eps, i) => ({ eps, accuracy: [0.989, 0.981, 0.971, 0.958, 0.942, 0.921, 0.896, 0.62, 0.21][i]! })),
    minimal_norms: { fab: norms(0.34, 0.18, 0.6, 'linf'), deepfool: norms(2.1, 0.3, 5, 'l2'), 'cw-l2': norms(1.85, 0.28, 5, 'l2') },
    transfer: {
      models: ['pgd-at', 'fgsm-rs', 'standard'],
      matrix: [
        [0.896, 0.951, 0.968],
        [0.902, 0.871, 0.955],
        [0.412, 0.388, 0.003],
      ],
      threat: 'linf:0.3',
      attack: 'pgd-50',
    },
    checks: [
      { name: 'iterative beats single-step', verdict: 'fail', detail: 'FGSM accuracy 87.9% is below PGD-20 accuracy 91.6% on 1000 examples: the single-step attack is stronger, a sign of gradient masking.' },
      { name: 'accuracy does not rise with ε', verdict: 'pass', detail: 'Accuracy falls monotonically over 9 budgets from 0 to 0.4.', affects: ['eps_curve', 'robust_accuracy'] },
      { name: 'unbounded attack reaches ~0%', verdict: 'pass', detail: 'PGD at ε = 1 leaves 0.0% accuracy.' },
      { name: 'white-box beats black-box and transfer', verdict: 'pass', detail: 'Square adds 0.2 pt over the white-box attacks; transfer from the standard model leaves 96.8%.' },
      { name: 'more steps or restarts change < 1 pt', verdict: 'warn', detail: 'APGD-CE with 5 restarts is 0.8 pt lower than with 1 restart (threshold 1 pt).', affects: ['robust_accuracy', 'attack:apgd-ce'] },
      { name: 'zero or non-finite gradients', verdict: 'pass', detail: '0.0% of input gradients are zero or non-finite.' },
    ],
    gallery,
    time_s: 8771.6,
  } as EvalResultV2;
}

if (process.env.UPDATE_FIXTURES === '1') writeFileAtomic(FIXTURE, JSON.stringify(buildFixture(), null, 1) + '\n');

// ---------------------------------------------------------------------------------------------

function expectError(mutate: (r: Record<string, any>) => void, pattern: RegExp) {
  const r = load() as unknown as Record<string, any>;
  mutate(r);
  assert.throws(
    () => validateEvalResult(r),
    (err: unknown) => {
      assert.ok(err instanceof UserError, `UserError expected, got ${String(err)}`);
      assert.doesNotMatch(err.message, /\n/, 'one line');
      assert.match(err.message, pattern);
      return true;
    },
  );
}

test('validateEvalResult accepts the fixture and names the first bad field', () => {
  const r = validateEvalResult(load());
  assert.equal(r.gallery.length, 10);
  for (const g of r.gallery) {
    for (const b64 of [g.clean.png, g.adversarial.png, g.perturbation.png]) {
      const png = PNG.sync.read(Buffer.from(b64, 'base64'));
      assert.equal(png.width, 28);
    }
  }
  expectError((x) => (x.schema = 'advtrain/eval@1'), /^invalid eval result: schema must be "advtrain\/eval@2" \(got "advtrain\/eval@1"\)$/);
  expectError((x) => delete x.model.path, /model\.path must be a non-empty string \(missing\)/);
  expectError((x) => (x.robust_accuracy = 89.4), /robust_accuracy must be a fraction in \[0, 1\] \(got 89\.4\)/);
  expectError((x) => (x.preset = 'fast'), /preset must be one of quick, standard, thorough, tabular, custom, text \(got "fast"\)/);
  expectError((x) => (x.attacks[1].queries.median = '900'), /attacks\[1\]\.queries\.median must be a finite number/);
  expectError((x) => x.margin.clean.margin.histogram.edges.pop(), /margin\.clean\.margin\.histogram\.edges must be one longer than counts/);
  expectError((x) => (x.checks[2].verdict = 'ok'), /checks\[2\]\.verdict must be one of pass, warn, fail/);
  expectError((x) => (x.gallery[3].adversarial.png = '"><script>alert(1)</script>'), /gallery\[3\]\.adversarial\.png must be a base64 PNG/);
  expectError((x) => x.transfer.matrix[1].pop(), /transfer\.matrix\[1\] must be 3 entries/);
  expectError((x) => (x.data.split = 'train'), /data\.split must be "test"/);
  assert.throws(() => validateEvalResult(null), /^UserError: invalid eval result: result must be an object \(got null\)$/);
});

const MALICIOUS = '<script>alert(1)</script><img src=x onerror=alert(2)>"\'&';

/** No external reference anywhere a browser would fetch from, and no script. */
function assertSelfContained(html: string) {
  assert.doesNotMatch(html, /<script/i, 'no script in the report');
  assert.doesNotMatch(html, /<link\b/i, 'no linked resources');
  assert.doesNotMatch(html, /\b(?:src|href|xlink:href)\s*=\s*["']?\s*(?!data:|#)[a-z][\w+.-]*:/i, 'no URL with a scheme except data:');
  assert.doesNotMatch(html, /(?:src|href)\s*=\s*["']?\s*(?:https?:)?\/\//i, 'no http(s) or protocol-relative URL');
  assert.doesNotMatch(html, /url\(\s*['"]?(?!data:|#)/i, 'no CSS url() except data:');
  assert.doesNotMatch(html, /@import|@font-face/i, 'no CSS imports or web fonts');
}

test('the report is one self-contained file and escapes every string from the result', async () => {
  const html = await renderReport(load());
  assertSelfContained(html);
  for (const id of ['summary', 'checks', 'eps-curve', 'margin', 'training', 'transfer', 'minimal-norms', 'gallery']) {
    assert.match(html, new RegExp(`<section id="${id}">`), `section ${id}`);
  }
  assert.equal((html.match(/<img src="data:image\/png;base64,/g) ?? []).length, 30);
  assert.match(html, /robust-accuracy">89\.4%<\/div>.*⚠ check 'iterative beats single-step' failed/s);

  const evil = load();
  evil.model.path = `runs/${MALICIOUS}/model`;
  evil.model.architecture = MALICIOUS;
  evil.data.dataset = MALICIOUS;
  evil.data.classes = Array.from({ length: 10 }, () => MALICIOUS);
  evil.checks[0]!.name = MALICIOUS;
  evil.checks[0]!.detail = MALICIOUS;
  evil.attacks[0]!.name = MALICIOUS;
  evil.attacks[0]!.params = { [MALICIOUS]: MALICIOUS };
  evil.transfer!.models = [MALICIOUS, 'b', 'c'];
  evil.transfer!.attack = MALICIOUS;
  evil.minimal_norms = { [MALICIOUS]: evil.minimal_norms!.fab! };
  const out = await renderReport(evil);
  assertSelfContained(out);
  assert.doesNotMatch(out, /<script|<img src=x/i);
  assert.match(out, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
});

test('sections without data are left out, and passing checks flag nothing', async () => {
  const r = load();
  delete r.training;
  delete r.eps_curve;
  delete r.transfer;
  delete r.minimal_norms;
  r.gallery = [];
  r.checks = r.checks.map((c) => ({ ...c, verdict: 'pass' as const }));
  const html = await renderReport(r);
  for (const id of ['training', 'eps-curve', 'transfer', 'minimal-norms', 'gallery']) assert.doesNotMatch(html, new RegExp(`id="${id}"`), id);
  for (const id of ['summary', 'checks', 'margin']) assert.match(html, new RegExp(`<section id="${id}">`), id);
  assert.doesNotMatch(html, /⚠/);
  assert.equal(await renderReport(r), html, 'deterministic');
});

test('writeReport writes the file atomically', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'advtrain-report-'));
  const path = join(dir, 'sub', 'report.html');
  await writeReport(path, load());
  assert.match(readFileSync(path, 'utf8'), /^<!DOCTYPE html>/);
  rmSync(dir, { recursive: true, force: true });
});

/** The parts of playwright-core this test uses (typed here so the build does not need the package). */
interface Page {
  on(event: 'console', f: (m: { type(): string; text(): string }) => void): void;
  on(event: 'pageerror', f: (e: Error) => void): void;
  on(event: 'request' | 'requestfailed', f: (r: { url(): string; failure(): { errorText: string } | null }) => void): void;
  goto(url: string, opts: { waitUntil: 'load' }): Promise<unknown>;
  evaluate<T>(f: () => T): Promise<T>;
  screenshot(opts: { path: string; fullPage: boolean }): Promise<unknown>;
}
interface Playwright {
  chromium: {
    launchPersistentContext(dir: string, opts: Record<string, unknown>): Promise<{ newPage(): Promise<Page>; close(): Promise<void> }>;
  };
}

test('the report renders in headless Chromium: no errors, no requests, plots drawn, gallery decoded', async (t) => {
  let pw: Playwright;
  try {
    const name = 'playwright-core';
    pw = (await import(name)) as Playwright;
  } catch {
    t.skip('playwright-core is not installed (npm i -D playwright-core): browser check skipped');
    return;
  }
  if (!existsSync(CHROMIUM)) {
    t.skip(`no Chromium at ${CHROMIUM} (apt-get install chromium): browser check skipped`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'advtrain-report-'));
  const file = join(dir, 'report.html');
  await writeReport(file, load());
  const url = pathToFileURL(file).href;
  const context = await pw.chromium.launchPersistentContext(join(dir, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1200, height: 900 },
  });
  try {
    const page = await context.newPage();
    const errors: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => m.type() === 'error' && errors.push(`console: ${m.text()}`));
    page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
    page.on('requestfailed', (r) => errors.push(`request failed: ${r.url().slice(0, 80)} ${r.failure()?.errorText ?? ''}`));
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(url, { waitUntil: 'load' });

    const seen = await page.evaluate(() => {
      const plots = [...document.querySelectorAll('section')].map((s) => ({
        id: s.id,
        svgs: [...s.querySelectorAll('.plot > svg')].map((svg) => ({
          width: svg.getBoundingClientRect().width,
          marks: svg.querySelectorAll('.role-mark path, .role-mark line').length,
          text: svg.textContent ?? '',
        })),
      }));
      const imgs = [...document.querySelectorAll<HTMLImageElement>('#gallery img')].map((i) => ({ ok: i.complete, w: i.naturalWidth, shown: i.getBoundingClientRect().width }));
      const verdicts = [...document.querySelectorAll<HTMLElement>('#checks .verdict')].map((v) => ({ text: v.textContent, bg: getComputedStyle(v).backgroundColor }));
      const flag = document.querySelector('.fig.robust .flag.fail')?.textContent ?? '';
      return { plots, imgs, verdicts, flag, robust: document.querySelector('#robust-accuracy')?.textContent };
    });

    const svgsOf = (id: string) => seen.plots.find((p) => p.id === id)?.svgs ?? [];
    for (const [id, n] of [['eps-curve', 1], ['margin', 2], ['training', 2], ['transfer', 1], ['minimal-norms', 3]] as const) {
      const svgs = svgsOf(id);
      assert.equal(svgs.length, n, `${id}: ${n} plots`);
      for (const s of svgs) {
        assert.ok(s.width > 100, `${id}: plot has a size`);
        assert.ok(s.marks >= 3, `${id}: plot has marks (${s.marks})`);
      }
    }
    assert.match(svgsOf('transfer')[0]!.text, /pgd-at.*fgsm-rs.*standard/s);
    assert.equal(seen.imgs.length, 30, '10 examples × 3 images');
    assert.ok(seen.imgs.every((i) => i.ok && i.w === 28 && i.shown > 0), 'every image decoded');
    assert.deepEqual(seen.verdicts.map((v) => v.text), ['fail', 'pass', 'pass', 'pass', 'warn', 'pass']);
    assert.equal(new Set(seen.verdicts.map((v) => v.bg)).size, 3, 'pass, warn and fail have distinct colours');
    assert.equal(seen.robust, '89.4%');
    assert.match(seen.flag, /check 'iterative beats single-step' failed/);

    assert.deepEqual(errors, [], 'no console errors or failed requests');
    const foreign = requests.filter((u) => u !== url && !u.startsWith('data:'));
    assert.deepEqual(foreign, [], 'no request but the file itself and data: URLs');

    const shot = join(dir, 'report.png');
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`report screenshot: ${shot}`);
  } finally {
    await context.close();
  }
});

test('a result without gallery outcomes (older files) still labels each example broken or survived', async () => {
  const r = load();
  assert.ok(r.gallery.every((g) => g.outcome === undefined));
  const html = await renderReport(r);
  assert.equal((html.match(/class="gout broken"/g) ?? []).length, 3);
  assert.equal((html.match(/class="gout survived"/g) ?? []).length, 7);
});

test('an older result without per-class rows renders without the table; with them, class names are escaped', async () => {
  const r = load();
  assert.equal(r.per_class, undefined);
  assert.doesNotMatch(await renderReport(r), /id="per-class"/);
  r.data.classes = Array.from({ length: 10 }, (_, i) => (i === 3 ? MALICIOUS : `c${i}`));
  r.per_class = [{ label: 3, n: 10, clean_correct: 9, robust: 4, clean_accuracy: 0.9, robust_accuracy: 0.4 }, { label: 5, n: 10, clean_correct: 10, robust: 8, clean_accuracy: 1, robust_accuracy: 0.8 }];
  const html = await renderReport(r);
  assertSelfContained(html);
  assert.doesNotMatch(html, /<script/);
  assert.match(html, /Lowest robust accuracy: <b>&lt;script&gt;/);
  assert.match(html, /<td><b>c5<\/b> <span class="muted">\(5\)<\/span><\/td><td class="n">10<\/td><td class="n">10<\/td><td class="n">100\.0%<\/td><td class="n">8<\/td><td class="n">80\.0%<\/td>/);
});
