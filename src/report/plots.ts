/**
 * The report's plots: Vega-Lite specs rendered to static SVG in Node (vega's headless SVG
 * renderer), so the HTML carries finished drawings and no script at all.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { EpsPoint, Histogram, MarginResult, MinimalNorm, TrainingEpoch, TransferResult } from '../eval/schema.js';

type Spec = Record<string, unknown>;

/** Colours shared by the plots and the page: clean inputs blue, adversarial inputs red. */
export const COLORS = { clean: '#3b6fb6', adversarial: '#d6453d', accent: '#6b7280' } as const;

const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif';

const CONFIG = {
  font: FONT,
  background: '#ffffff',
  padding: 6,
  view: { stroke: null },
  axis: {
    labelFontSize: 11,
    titleFontSize: 12,
    titleFontWeight: 600,
    labelColor: '#374151',
    titleColor: '#1f2937',
    gridColor: '#eceff3',
    domainColor: '#9ca3af',
    tickColor: '#9ca3af',
    labelFlush: false,
  },
  legend: { orient: 'top', labelFontSize: 11, titleFontSize: 11, symbolSize: 90, labelLimit: 260, title: null },
  title: { fontSize: 13, fontWeight: 600, anchor: 'start', color: '#111827', subtitleColor: '#6b7280', subtitleFontSize: 11.5, offset: 8 },
  line: { strokeWidth: 2 },
};

/**
 * Parses the budget of a threat string such as `linf:0.3` (undefined for other threat kinds).
 *
 * @example
 * ```ts
 * threatBudget('linf:0.3'); // { norm: 'linf', eps: 0.3 }
 * ```
 */
export function threatBudget(threat: string): { norm: string; eps: number } | undefined {
  const m = /^(linf|l2|l1|l0):([0-9.]+(?:e[+-]?\d+)?)$/i.exec(threat.trim());
  return m ? { norm: m[1]!.toLowerCase(), eps: Number(m[2]) } : undefined;
}

/**
 * Display name of a norm.
 *
 * @example
 * ```ts
 * normLabel('linf'); // 'L∞'
 * ```
 */
export function normLabel(norm: string): string {
  return norm === 'linf' ? 'L∞' : norm.toUpperCase();
}

function histRows(h: Histogram, extra: Spec = {}): Spec[] {
  return h.counts.map((count, i) => ({ ...extra, lo: h.edges[i], hi: h.edges[i + 1], count }));
}

const W = 320;
const H = 190;

/**
 * Vega-Lite spec: accuracy against ε, with the clean point and a marker at the evaluated budget.
 *
 * @example
 * ```ts
 * const [svg] = await renderSvgs([epsCurveSpec(result.eps_curve!, result.threat)]);
 * ```
 */
export function epsCurveSpec(curve: EpsPoint[], threat: string): Spec {
  const budget = threatBudget(threat);
  const norm = budget ? normLabel(budget.norm) : '';
  const layers: Spec[] = [
    {
      mark: { type: 'line', color: COLORS.adversarial, point: { filled: true, size: 45, color: COLORS.adversarial } },
      encoding: {
        x: { field: 'eps', type: 'quantitative', title: `ε (${norm || 'budget'})` },
        y: { field: 'accuracy', type: 'quantitative', title: 'accuracy', scale: { domain: [0, 1] }, axis: { format: '.0%' } },
      },
    },
  ];
  if (budget) {
    layers.push({
      data: { values: [{ eps: budget.eps, label: `evaluated ε = ${budget.eps}` }] },
      layer: [
        { mark: { type: 'rule', strokeDash: [4, 3], color: COLORS.accent }, encoding: { x: { field: 'eps', type: 'quantitative' } } },
        {
          mark: { type: 'text', align: 'left', dx: 4, baseline: 'top', y: 4, fontSize: 11, color: COLORS.accent },
          encoding: { x: { field: 'eps', type: 'quantitative' }, text: { field: 'label' } },
        },
      ],
    });
  }
  return {
    title: 'Accuracy vs. perturbation budget',
    width: W + 60,
    height: H,
    data: { values: [...curve].sort((a, b) => a.eps - b.eps) },
    layer: layers,
  };
}

/**
 * Vega-Lite spec: clean vs adversarial histogram of the true-class confidence or of the logit margin, with the means.
 *
 * @example
 * ```ts
 * const [svg] = await renderSvgs([marginSpec(result.margin, 'margin')]);
 * ```
 */
export function marginSpec(margin: MarginResult, which: 'confidence' | 'margin'): Spec {
  const rows = [
    ...histRows(margin.clean[which].histogram, { set: 'clean' }),
    ...histRows(margin.adversarial[which].histogram, { set: 'adversarial' }),
  ];
  const means = [
    { set: 'clean', mean: margin.clean[which].mean },
    { set: 'adversarial', mean: margin.adversarial[which].mean },
  ];
  const color = {
    field: 'set',
    type: 'nominal',
    scale: { domain: ['clean', 'adversarial'], range: [COLORS.clean, COLORS.adversarial] },
    legend: { title: null },
  };
  const isMargin = which === 'margin';
  const layers: Spec[] = [
    {
      data: { values: rows },
      mark: { type: 'rect', opacity: 0.55, stroke: '#ffffff', strokeWidth: 0.5 },
      encoding: {
        x: { field: 'lo', type: 'quantitative', title: isMargin ? 'logit margin  z_y − max z_j  (j ≠ y)' : 'true-class confidence p_y', ...(isMargin ? {} : { scale: { domain: [0, 1] } }) },
        x2: { field: 'hi' },
        y: { field: 'count', type: 'quantitative', title: 'examples', stack: null },
        y2: { datum: 0 },
        color,
      },
    },
    {
      data: { values: means },
      mark: { type: 'rule', strokeDash: [5, 3], strokeWidth: 2 },
      encoding: { x: { field: 'mean', type: 'quantitative' }, color },
    },
  ];
  if (isMargin) {
    layers.push({
      data: { values: [{ x: 0 }] },
      mark: { type: 'rule', color: '#111827', strokeWidth: 1 },
      encoding: { x: { field: 'x', type: 'quantitative' } },
    });
  }
  return {
    title: { text: isMargin ? 'Logit margin' : 'True-class confidence', subtitle: 'dashed: means' + (isMargin ? '; solid: decision boundary' : '') },
    width: W,
    height: H,
    layer: layers,
  };
}

const LINE_LEGEND = { columns: 2, symbolType: 'stroke', symbolStrokeWidth: 2.5, symbolSize: 300, columnPadding: 14 };

type Series = { key: keyof TrainingEpoch; label: string; color: string; dash?: number[] };

function trainingSpec(rows: TrainingEpoch[], title: string, yTitle: string, series: Series[], percent: boolean): Spec | undefined {
  const present = series.filter((s) => rows.some((r) => typeof r[s.key] === 'number'));
  if (present.length === 0) return undefined;
  const values = rows.flatMap((r) =>
    present.filter((s) => typeof r[s.key] === 'number').map((s) => ({ epoch: r.epoch, series: s.label, value: r[s.key] })),
  );
  return {
    title,
    width: W,
    height: H,
    data: { values },
    mark: { type: 'line', point: { filled: true, size: 30 } },
    encoding: {
      x: { field: 'epoch', type: 'quantitative', title: 'epoch', axis: { tickMinStep: 1, format: 'd' } },
      y: {
        field: 'value',
        type: 'quantitative',
        title: yTitle,
        ...(percent ? { scale: { domain: [0, 1] }, axis: { format: '.0%' } } : { scale: { zero: false } }),
      },
      color: {
        field: 'series',
        type: 'nominal',
        scale: { domain: present.map((s) => s.label), range: present.map((s) => s.color) },
        legend: LINE_LEGEND,
      },
      strokeDash: {
        field: 'series',
        type: 'nominal',
        scale: { domain: present.map((s) => s.label), range: present.map((s) => s.dash ?? [1, 0]) },
        legend: LINE_LEGEND,
      },
    },
  };
}

/**
 * Vega-Lite spec: training accuracies per epoch (clean and adversarial, train and validation); undefined if the log has none.
 *
 * @example
 * ```ts
 * const spec = trainingAccuracySpec(result.training ?? []);
 * ```
 */
export function trainingAccuracySpec(rows: TrainingEpoch[]): Spec | undefined {
  return trainingSpec(
    rows,
    'Accuracy per epoch',
    'accuracy',
    [
      { key: 'clean_accuracy', label: 'clean (train)', color: COLORS.clean },
      { key: 'adv_accuracy', label: 'adversarial (train)', color: COLORS.adversarial },
      { key: 'val_accuracy', label: 'clean (val)', color: COLORS.clean, dash: [5, 3] },
      { key: 'robust_val_accuracy', label: 'robust (val)', color: COLORS.adversarial, dash: [5, 3] },
    ],
    true,
  );
}

/**
 * Vega-Lite spec: training losses per epoch, the adversarial training loss foremost; undefined if the log has none.
 *
 * @example
 * ```ts
 * const spec = trainingLossSpec(result.training ?? []);
 * ```
 */
export function trainingLossSpec(rows: TrainingEpoch[]): Spec | undefined {
  return trainingSpec(
    rows,
    'Loss per epoch',
    'loss',
    [
      { key: 'adv_loss', label: 'adversarial training loss', color: COLORS.adversarial },
      { key: 'loss', label: 'training loss', color: COLORS.accent, dash: [5, 3] },
    ],
    false,
  );
}

/**
 * Vega-Lite spec: the transfer matrix as a heatmap; rows are the evaluated (target) models, columns the source models.
 *
 * @example
 * ```ts
 * const [svg] = await renderSvgs([transferSpec(result.transfer!)]);
 * ```
 */
export function transferSpec(t: TransferResult): Spec {
  const values = t.matrix.flatMap((row, i) =>
    row.map((accuracy, j) => ({ target: t.models[i], source: t.models[j], accuracy, white: i === j })),
  );
  const cell = Math.max(38, Math.min(70, Math.floor(360 / t.models.length)));
  const x = { field: 'source', type: 'ordinal', sort: t.models, title: 'examples crafted on (source)', axis: { labelAngle: 0, orient: 'top', labelLimit: 120 } };
  const y = { field: 'target', type: 'ordinal', sort: t.models, title: 'evaluated on (target)', axis: { labelLimit: 140 } };
  return {
    title: { text: `Transfer: accuracy of each model on examples crafted on each model`, subtitle: `${t.attack}, ${t.threat}; the diagonal is white-box` },
    width: cell * t.models.length,
    height: cell * t.models.length,
    data: { values },
    encoding: { x, y },
    layer: [
      {
        mark: { type: 'rect', stroke: '#ffffff', strokeWidth: 2 },
        encoding: {
          color: {
            field: 'accuracy',
            type: 'quantitative',
            title: 'accuracy',
            scale: { domain: [0, 1], scheme: 'blues' },
            legend: { format: '.0%', orient: 'right', gradientLength: Math.max(100, cell * t.models.length - 20), title: 'accuracy' },
          },
        },
      },
      {
        mark: { type: 'text', fontSize: 12, fontWeight: 600 },
        encoding: {
          text: { field: 'accuracy', type: 'quantitative', format: '.1%' },
          color: { condition: { test: 'datum.accuracy > 0.55', value: '#ffffff' }, value: '#111827' },
        },
      },
    ],
  };
}

/**
 * Vega-Lite spec: histogram of one minimal-norm attack's perturbation sizes, with the median (and ε, in the same norm) marked.
 *
 * @example
 * ```ts
 * const [svg] = await renderSvgs([minimalNormSpec('fab', result.minimal_norms!.fab!, result.threat)]);
 * ```
 */
export function minimalNormSpec(name: string, m: MinimalNorm, threat: string): Spec {
  const budget = threatBudget(threat);
  const sameNorm = budget !== undefined && budget.norm === m.norm;
  // Labels of the median and ε rules go on opposite sides so they never overlap.
  const epsLeft = sameNorm && budget.eps < m.median;
  const side = (left: boolean) => (left ? { align: 'right', dx: -4 } : { align: 'left', dx: 4 });
  const layers: Spec[] = [
    {
      data: { values: histRows(m.histogram) },
      mark: { type: 'rect', color: '#7c5cbf', opacity: 0.8, stroke: '#ffffff', strokeWidth: 0.5 },
      encoding: {
        x: { field: 'lo', type: 'quantitative', title: `minimal ${normLabel(m.norm)} perturbation` },
        x2: { field: 'hi' },
        y: { field: 'count', type: 'quantitative', title: 'examples' },
        y2: { datum: 0 },
      },
    },
    {
      data: { values: [{ v: m.median, label: `median ${fmt(m.median)}` }] },
      layer: [
        { mark: { type: 'rule', strokeDash: [5, 3], strokeWidth: 2, color: '#111827' }, encoding: { x: { field: 'v', type: 'quantitative' } } },
        {
          mark: { type: 'text', ...side(sameNorm && !epsLeft), baseline: 'top', y: 4, fontSize: 11, color: '#111827' },
          encoding: { x: { field: 'v', type: 'quantitative' }, text: { field: 'label' } },
        },
      ],
    },
  ];
  if (sameNorm) {
    layers.push({
      data: { values: [{ v: budget.eps, label: `ε = ${budget.eps}` }] },
      layer: [
        { mark: { type: 'rule', strokeWidth: 1.5, color: COLORS.adversarial }, encoding: { x: { field: 'v', type: 'quantitative' } } },
        {
          mark: { type: 'text', ...side(epsLeft), baseline: 'top', y: 4, fontSize: 11, color: COLORS.adversarial },
          encoding: { x: { field: 'v', type: 'quantitative' }, text: { field: 'label' } },
        },
      ],
    });
  }
  return { title: { text: name, subtitle: `${normLabel(m.norm)}: median ${fmt(m.median)}, mean ${fmt(m.mean)}` }, width: W - 70, height: H - 40, layer: layers };
}

function fmt(v: number): string {
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3);
}

/**
 * Renders Vega-Lite specs to standalone SVG strings with vega's headless renderer (no DOM, no
 * canvas). Text inside the SVG (titles, axis labels, model names) is XML-escaped by vega.
 * Deterministic: the same specs give the same SVG.
 *
 * @example
 * ```ts
 * const [svg] = await renderSvgs([epsCurveSpec(result.eps_curve!, result.threat)]);
 * ```
 */
export async function renderSvgs(specs: Spec[]): Promise<string[]> {
  const [vega, vl] = await Promise.all([import('vega'), import('vega-lite')]);
  vega.resetSVGDefIds();
  const warnings: string[] = [];
  // vega-lite's logger interface; its warnings (none expected for these specs) are dropped, not printed.
  const logger: Record<'level' | 'error' | 'warn' | 'info' | 'debug', (...a: unknown[]) => unknown> = {
    level: () => logger,
    error: (...a) => (warnings.push(a.join(' ')), logger),
    warn: (...a) => (warnings.push(a.join(' ')), logger),
    info: () => logger,
    debug: () => logger,
  };
  const out: string[] = [];
  for (const spec of specs) {
    const full = { config: CONFIG, ...spec } as unknown as TopLevelSpec;
    const compiled = vl.compile(full, { logger: logger as never }).spec;
    const view = new vega.View(vega.parse(compiled), { renderer: 'none', logLevel: vega.Error });
    try {
      out.push(await view.toSVG());
    } finally {
      view.finalize();
    }
  }
  return out;
}
