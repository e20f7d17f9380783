/**
 * The HTML report: one self-contained file made from an `advtrain/eval@2` result alone. Plots are
 * Vega-Lite specs rendered to inline SVG at render time, images are embedded PNG data URLs, CSS is
 * inline, and there is no script: the file opens offline and makes no request.
 */
import { writeFileAtomic } from '../fsutil.js';
import type { Check, EvalResultV2, Verdict } from '../eval/schema.js';
import { validateEvalResult } from '../eval/validate-result.js';
import { className, escapeHtml, gallerySection, pct } from './gallery.js';
import { TEXT_CSS, textSection } from './text-section.js';
import { shellLine } from '../eval/command.js';
import {
  epsCurveSpec,
  marginSpec,
  minimalNormSpec,
  normLabel,
  renderSvgs,
  threatBudget,
  trainingAccuracySpec,
  trainingLossSpec,
  transferSpec,
} from './plots.js';

const e = escapeHtml;

const CSS = `
:root { --fg:#111827; --muted:#6b7280; --line:#e5e7eb; --bg:#f6f7f9; --card:#fff;
  --pass:#15803d; --pass-bg:#dcfce7; --warn:#a16207; --warn-bg:#fef3c7; --fail:#b91c1c; --fail-bg:#fee2e2;
  --clean:#3b6fb6; --adv:#d6453d; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--fg);
  font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif; }
main { max-width:1120px; margin:0 auto; padding:24px 20px 48px; }
h1 { font-size:22px; margin:0 0 2px; }
h2 { font-size:16px; margin:0 0 12px; }
section { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:18px 20px; margin:16px 0; }
.sub { color:var(--muted); margin:0 0 14px; word-break:break-all; }
.meta { display:grid; grid-template-columns:repeat(auto-fill,minmax(200px,1fr)); gap:8px 20px; margin:0; }
.meta div { min-width:0; } .meta dt { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.04em; }
.meta dd { margin:0; font-weight:500; overflow-wrap:anywhere; }
.figures { display:grid; grid-template-columns:repeat(auto-fit,minmax(220px,1fr)); gap:14px; }
.fig { border:1px solid var(--line); border-radius:8px; padding:12px 14px; }
.fig .k { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.04em; }
.fig .v { font-size:30px; font-weight:650; line-height:1.2; font-variant-numeric:tabular-nums; }
.fig .d { color:var(--muted); font-size:12px; }
.fig.robust .v { color:var(--adv); } .fig.clean .v { color:var(--clean); }
.flag { display:block; margin-top:6px; font-size:12.5px; font-weight:600; border-radius:6px; padding:3px 8px; }
.flag.fail { color:var(--fail); background:var(--fail-bg); } .flag.warn { color:var(--warn); background:var(--warn-bg); }
.banner { border-radius:8px; padding:10px 14px; margin:16px 0 0; font-weight:600; }
.banner.fail { color:var(--fail); background:var(--fail-bg); border:1px solid #fca5a5; }
.banner.warn { color:var(--warn); background:var(--warn-bg); border:1px solid #fcd34d; }
table { border-collapse:collapse; width:100%; font-variant-numeric:tabular-nums; }
th, td { text-align:left; padding:7px 8px; border-bottom:1px solid var(--line); vertical-align:top; }
th { font-size:11px; color:var(--muted); font-weight:600; text-transform:uppercase; letter-spacing:.02em; }
#attacks { font-size:13px; } #attacks td:first-child { white-space:nowrap; }
td.n, th.n { text-align:right; white-space:nowrap; }
tr.total td { font-weight:650; border-top:2px solid var(--line); }
td code, .params { font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; color:#374151; overflow-wrap:break-word; }
td.params { min-width:150px; max-width:230px; }
.tflag { font:600 11.5px/1.3 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif; margin-top:4px; padding:2px 7px; border-radius:5px; width:max-content; max-width:100%; }
.tflag.fail { color:var(--fail); background:var(--fail-bg); } .tflag.warn { color:var(--warn); background:var(--warn-bg); }
.mark { font-weight:700; } .mark.fail { color:var(--fail); } .mark.warn { color:var(--warn); }
.table-wrap { overflow-x:auto; }
.verdict { display:inline-block; min-width:48px; text-align:center; border-radius:999px; padding:1px 10px; font-size:12px; font-weight:700; text-transform:uppercase; }
.verdict.pass { color:var(--pass); background:var(--pass-bg); } .verdict.warn { color:var(--warn); background:var(--warn-bg); }
.verdict.fail { color:var(--fail); background:var(--fail-bg); }
.verdict.not-applicable { color:var(--muted); background:var(--line); white-space:nowrap; }
tr.check-fail td { background:#fff7f7; }
.plots { display:flex; flex-wrap:wrap; gap:18px 28px; align-items:flex-start; }
.plot svg { max-width:100%; height:auto; display:block; }
.note { color:var(--muted); font-size:13px; margin:-4px 0 12px; }
.gallery { display:grid; grid-template-columns:repeat(auto-fill,minmax(300px,1fr)); gap:12px; }
.gcard { margin:0; border:1px solid var(--line); border-radius:8px; padding:8px 10px 10px; }
.gcard.fooled { border-color:#f3b2ae; } .gcard.survived { border-color:#a7d7b5; }
.gout { display:inline-block; margin-left:6px; border-radius:999px; padding:0 8px; font-size:11px; font-weight:700; text-transform:uppercase; letter-spacing:.03em; }
.gout.broken { color:var(--fail); background:var(--fail-bg); } .gout.survived { color:var(--pass); background:var(--pass-bg); }
.ghead { display:flex; justify-content:space-between; color:var(--muted); font-size:12.5px; margin-bottom:6px; }
.ghead b { color:var(--fg); }
.gimgs { display:flex; gap:10px; justify-content:space-between; }
.gcell { text-align:center; flex:1; }
.gcell img { width:84px; height:84px; image-rendering:pixelated; border-radius:4px; border:1px solid var(--line); display:block; margin:0 auto 3px; }
.glabel { font-weight:650; font-size:13px; } .glabel span { font-weight:400; color:var(--muted); }
.glabel.wrong { color:var(--fail); } .glabel.muted { color:var(--muted); font-weight:400; }
.gkind { font-size:11px; color:var(--muted); text-transform:uppercase; letter-spacing:.04em; }
.repro { margin:14px 0 0; } .repro .k { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.04em; }
.repro pre { margin:2px 0 0; padding:8px 10px; background:var(--bg); border:1px solid var(--line); border-radius:6px; white-space:pre-wrap; overflow-wrap:anywhere; }
.repro pre code, .repro .d code { font:12.5px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; } .repro .d { color:var(--muted); font-size:12px; margin-top:2px; }
td.bars { width:28%; min-width:120px; } .cbar { height:6px; background:var(--bg); border-radius:3px; margin:3px 0; }
.cbar > div { height:100%; border-radius:3px; } .cbar .clean { background:var(--clean); } .cbar .robust { background:var(--adv); }
.muted { color:var(--muted); font-weight:400; }
footer { color:var(--muted); font-size:12px; text-align:center; margin-top:20px; }
@media print { body { background:#fff; } section { break-inside:avoid; border:none; } }
`;

/** Checks that did not pass and vouch for `figure` (`robust_accuracy` when a check names none). */
function flagsFor(result: EvalResultV2, figure: string): Check[] {
  return result.checks.filter((c) => (c.verdict === 'fail' || c.verdict === 'warn') && (c.affects ?? ['robust_accuracy']).includes(figure));
}

function flagHtml(checks: Check[]): string {
  return checks
    .map((c) => `<span class="flag ${c.verdict}" title="${e(c.detail)}">⚠ check '${e(c.name)}' ${c.verdict === 'fail' ? 'failed' : 'warned'}</span>`)
    .join('');
}

function inlineFlags(checks: Check[]): string {
  return checks
    .map((c) => `<div class="tflag ${c.verdict}" title="${e(c.detail)}">⚠ check '${e(c.name)}' ${c.verdict === 'fail' ? 'failed' : 'warned'}</div>`)
    .join('');
}

/** A ⚠ after a figure in a table cell, coloured by the worst verdict of the checks that undermine it. */
function mark(checks: Check[]): string {
  if (checks.length === 0) return '';
  const v = checks.some((c) => c.verdict === 'fail') ? 'fail' : 'warn';
  return ` <span class="mark ${v}" title="${e(checks.map((c) => `${c.name}: ${c.verdict}`).join('; '))}">⚠</span>`;
}

function header(r: EvalResultV2): string {
  const item = (k: string, v: string | undefined) => (v === undefined ? '' : `<div><dt>${k}</dt><dd>${v}</dd></div>`);
  const budget = threatBudget(r.threat);
  return `<header>
<h1>Robustness report</h1>
<p class="sub">${e(r.model.path)}</p>
<dl class="meta">
${item('Model', e(r.model.architecture ?? r.model.path.split(/[\\/]/).filter(Boolean).pop() ?? r.model.path))}
${item('Trained on', r.model.trained_on === undefined ? undefined : e(r.model.trained_on))}
${item('Data', `${e(r.data.dataset)} · ${e(r.data.split)} · first ${r.data.n.toLocaleString('en-US')}`)}
${item('Threat model', budget ? `${normLabel(budget.norm)}, ε = ${budget.eps} <code>${e(r.threat)}</code>` : `<code>${e(r.threat)}</code>`)}
${item('Preset', e(r.preset))}
${item('Seed', String(r.seed))}
${item('Engine', `${e(r.engine.backend)}${r.engine.threads ? ` · ${r.engine.threads} threads` : ''}`)}
${item('Time', duration(r.time_s))}
${item('Created', e(r.created.replace('T', ' ').replace(/\.\d+Z$/, 'Z')))}
${item('Versions', `advtrain ${e(r.versions.advtrain)} · tfjs ${e(r.versions.tfjs)} · node ${e(r.versions.node)}`)}
</dl>
${reproduce(r)}
</header>`;
}

/** The command line (or library call) that reproduces the result, when the result records it. */
function reproduce(r: EvalResultV2): string {
  const c = r.command;
  if (!c) return '';
  const where = c.cwd ? `<div class="d">in <code>${e(c.cwd)}</code></div>` : '';
  return c.argv
    ? `<div class="repro" id="command"><div class="k">Reproduce with</div><pre><code>${e(shellLine(c.argv))}</code></pre>${where}</div>`
    : `<div class="repro" id="command"><div class="k">Library call</div><pre><code>${e(c.call ?? '')}</code></pre>${where}</div>`;
}

function duration(s: number): string {
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

function count(v: number, n: number): string {
  return `${Math.round(v * n).toLocaleString('en-US')} / ${n.toLocaleString('en-US')}`;
}

function summary(r: EvalResultV2): string {
  const n = r.data.n;
  const bad = r.checks.filter((c) => c.verdict === 'fail');
  const warn = r.checks.filter((c) => c.verdict === 'warn');
  const banner = bad.length
    ? `<div class="banner fail">⚠ ${bad.length} of ${r.checks.length} reliability checks failed: the robust figures below may be overestimates (see Checks).</div>`
    : warn.length
      ? `<div class="banner warn">⚠ ${warn.length} of ${r.checks.length} reliability checks gave a warning (see Checks).</div>`
      : '';
  const g = r.margin.gap;
  return `<section id="summary">
<h2>Summary</h2>
<div class="figures">
<div class="fig clean"><div class="k">Clean accuracy</div><div class="v">${pct(r.clean_accuracy)}</div><div class="d">${count(r.clean_accuracy, n)} correct</div></div>
<div class="fig robust"><div class="k">Robust accuracy (worst case)</div><div class="v" id="robust-accuracy">${pct(r.robust_accuracy)}</div><div class="d">${count(r.robust_accuracy, n)} survive all ${r.attacks.length} attacks</div>${flagHtml(flagsFor(r, 'robust_accuracy'))}</div>
<div class="fig"><div class="k">Margin gap (clean − adv.)</div><div class="v">${g.confidence.toFixed(3)}</div><div class="d">true-class confidence; logit margin gap ${g.margin.toFixed(2)}</div></div>
</div>
${banner}
<h2 style="margin-top:18px">Attacks</h2>
<div class="table-wrap"><table id="attacks">
<thead><tr><th>Attack</th><th>Parameters</th><th class="n">Attacked</th><th class="n">Alone</th><th class="n">Robust after</th><th class="n">Queries med. / mean</th><th class="n">Queries total</th><th class="n">Time</th></tr></thead>
<tbody>
<tr><td>clean</td><td class="params">no attack</td><td class="n">${n.toLocaleString('en-US')}</td><td class="n">—</td><td class="n">${pct(r.clean_accuracy)}</td><td class="n">—</td><td class="n">—</td><td class="n">—</td></tr>
${r.attacks
  .map(
    (a) => `<tr><td><b>${e(a.name)}</b></td><td class="params">${e(Object.entries(a.params).map(([k, v]) => `${k}=${v}`).join(', ') || '—')}${inlineFlags(flagsFor(r, `attack:${a.name}`))}</td><td class="n">${a.attacked.toLocaleString('en-US')}</td><td class="n">${a.attack_accuracy === undefined ? '—' : pct(a.attack_accuracy)}</td><td class="n">${pct(a.robust_accuracy)}${mark(flagsFor(r, `attack:${a.name}`))}</td><td class="n">${fmtQ(a.queries.median)} / ${fmtQ(a.queries.mean)}</td><td class="n">${a.queries.total.toLocaleString('en-US')}</td><td class="n">${duration(a.time_s)}</td></tr>`,
  )
  .join('\n')}
<tr class="total"><td>worst case</td><td class="params">per example, over all attacks${inlineFlags(flagsFor(r, 'robust_accuracy'))}</td><td class="n"></td><td class="n"></td><td class="n">${pct(r.robust_accuracy)}${mark(flagsFor(r, 'robust_accuracy'))}</td><td class="n"></td><td class="n">${r.attacks.reduce((s, a) => s + a.queries.total, 0).toLocaleString('en-US')}</td><td class="n">${duration(r.time_s)}</td></tr>
</tbody>
</table></div>
<p class="note" style="margin-top:8px">“Alone”: accuracy under that attack on the points it ran on. “Robust after”: share of all ${n.toLocaleString('en-US')} examples still correct after this and every earlier attack.</p>
</section>`;
}

function fmtQ(q: number): string {
  return Number.isInteger(q) ? q.toLocaleString('en-US') : q.toFixed(1);
}

const VERDICT_TEXT: Record<Verdict, string> = { pass: 'pass', warn: 'warn', fail: 'fail', 'not-applicable': 'not applicable' };

function checksSection(r: EvalResultV2): string {
  if (r.checks.length === 0) return '';
  const na = r.checks.filter((c) => c.verdict === 'not-applicable').length;
  return `<section id="checks">
<h2>Reliability checks</h2>
<table>
<thead><tr><th>Verdict</th><th>Check</th><th>Detail</th></tr></thead>
<tbody>
${r.checks
  .map((c) => `<tr class="check-${c.verdict}"><td><span class="verdict ${c.verdict}">${VERDICT_TEXT[c.verdict]}</span></td><td><b>${e(c.name)}</b></td><td>${e(c.detail)}</td></tr>`)
  .join('\n')}
</tbody>
</table>${na ? `\n<p class="note" style="margin-top:8px">${na} of ${r.checks.length} checks had nothing to test on this result (e.g. no example survived the attacks) and vouch for nothing.</p>` : ''}
</section>`;
}

function perClassSection(r: EvalResultV2): string {
  const rows = r.per_class;
  if (!rows || rows.length === 0) return '';
  const weakest = rows.reduce((w, c) => (c.robust_accuracy < w.robust_accuracy ? c : w));
  const bar = (v: number, kind: string) => `<div class="cbar"><div class="${kind}" style="width:${(v * 100).toFixed(1)}%"></div></div>`;
  return `<section id="per-class">
<h2>Per class</h2>
<p class="note">Clean and robust accuracy of the evaluated examples of each true class${r.tabular ? ' (for a detector: its detection rate of each class, clean and under attack)' : ''}. Lowest robust accuracy: <b>${e(className(r, weakest.label))}</b> (${pct(weakest.robust_accuracy)}, ${weakest.robust} of ${weakest.n}).</p>${
    r.tabular
      ? `\n<p class="note">Adversarial records valid in the data set's domain (feature types, immutable features, relations): <b>${pct(r.tabular.validity_rate)}</b>${r.attacks.some((a) => a.validity_rate !== undefined) ? ` (${r.attacks.map((a) => `${e(a.name)}: ${a.validity_rate === undefined ? '—' : pct(a.validity_rate)} of its records`).join(', ')}; an invalid record never counts as adversarial)` : ''}. Features changed per adversarial record: median ${r.tabular.features_changed.median ?? '—'}, mean ${r.tabular.features_changed.mean === null ? '—' : r.tabular.features_changed.mean.toFixed(1)}, max ${r.tabular.features_changed.max ?? '—'}.</p>`
      : ''
  }
<div class="table-wrap"><table id="per-class-table">
<thead><tr><th>Class</th><th class="n">Examples</th><th class="n">Clean correct</th><th class="n">Clean</th><th class="n">Robust</th><th class="n">Robust acc.</th><th>Clean / robust</th></tr></thead>
<tbody>
${rows
  .map(
    (c) => `<tr><td><b>${e(className(r, c.label))}</b>${r.data.classes?.[c.label] !== undefined ? ` <span class="muted">(${c.label})</span>` : ''}</td><td class="n">${c.n.toLocaleString('en-US')}</td><td class="n">${c.clean_correct.toLocaleString('en-US')}</td><td class="n">${pct(c.clean_accuracy)}</td><td class="n">${c.robust.toLocaleString('en-US')}</td><td class="n">${pct(c.robust_accuracy)}</td><td class="bars">${bar(c.clean_accuracy, 'clean')}${bar(c.robust_accuracy, 'robust')}</td></tr>`,
  )
  .join('\n')}
</tbody>
</table></div>
</section>`;
}

function plotSection(id: string, title: string, svgs: string[], note = '', flags = ''): string {
  if (svgs.length === 0) return '';
  return `<section id="${id}">
<h2>${title}</h2>${flags ? `<p>${flags}</p>` : ''}${note ? `<p class="note">${note}</p>` : ''}
<div class="plots">
${svgs.map((s) => `<div class="plot">${s}</div>`).join('\n')}
</div>
</section>`;
}

/**
 * Renders an evaluation result as one self-contained HTML page: header, summary and attack table,
 * reliability-check verdicts (a failed check is shown beside the figure it undermines), and the
 * plots and gallery for which the result has data (sections without data are left out). Every
 * string from the result is escaped. The result is validated first ({@link validateEvalResult}).
 *
 * @example
 * ```ts
 * const html = await renderReport(validateEvalResult(JSON.parse(readFileSync('eval.json', 'utf8'))));
 * ```
 */
export async function renderReport(result: EvalResultV2): Promise<string> {
  const r = validateEvalResult(result);
  const specs: { key: string; spec: Record<string, unknown> }[] = [];
  const add = (key: string, spec: Record<string, unknown> | undefined) => spec && specs.push({ key, spec });
  if (r.eps_curve && r.eps_curve.length > 0) add('eps', epsCurveSpec(r.eps_curve, r.threat));
  add('margin', marginSpec(r.margin, 'confidence'));
  add('margin', marginSpec(r.margin, 'margin'));
  if (r.training && r.training.length > 0) {
    add('training', trainingAccuracySpec(r.training));
    add('training', trainingLossSpec(r.training));
  }
  if (r.transfer) add('transfer', transferSpec(r.transfer));
  for (const [name, m] of Object.entries(r.minimal_norms ?? {})) add('minimal', minimalNormSpec(name, m, r.threat));

  const svgs = await renderSvgs(specs.map((s) => s.spec));
  const of = (key: string) => svgs.filter((_, i) => specs[i]!.key === key);
  const flags = (fig: string) => flagHtml(flagsFor(r, fig));
  const title = `Robustness report — ${r.model.architecture ?? r.model.path} · ${r.data.dataset} · ${r.threat}`;

  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="generator" content="advtrain ${e(r.versions.advtrain)}">
<title>${e(title)}</title>
<style>${CSS}${r.text ? TEXT_CSS : ''}</style>
</head>
<body>
<main>
${header(r)}
${summary(r)}
${checksSection(r)}
${perClassSection(r)}
${plotSection('eps-curve', 'Accuracy vs. ε', of('eps'), 'Robust accuracy at each budget; ε = 0 is the clean accuracy. It should fall as ε grows.', flags('eps_curve'))}
${plotSection('margin', 'Robustness margin', of('margin'), `How far examples sit from the decision boundary, on clean inputs and on their worst-case adversarial inputs. Mean gap: confidence ${r.margin.gap.confidence.toFixed(3)}, logit margin ${r.margin.gap.margin.toFixed(2)}.`)}
${plotSection('training', 'Training', of('training'), 'From the model’s training log.')}
${plotSection('transfer', 'Transferability', of('transfer'), 'Rows: the model evaluated; columns: the model the examples were crafted on. Low off-diagonal cells mean the attack transfers.', flags('transfer'))}
${plotSection('minimal-norms', 'Minimal perturbations', of('minimal'), 'Size of the smallest adversarial perturbation each minimal-norm attack found, per example it succeeded on.', flags('minimal_norms'))}
${textSection(r)}
${gallerySection(r)}
<footer>Made by advtrain ${e(r.versions.advtrain)} from an <code>advtrain/eval@2</code> result · plots drawn with Vega-Lite</footer>
</main>
</body>
</html>
`;
}

/**
 * Renders the report for `result` and writes it to `path` atomically (temp file, then rename),
 * creating the directory if needed.
 *
 * @example
 * ```ts
 * await writeReport('runs/m/report.html', result);
 * ```
 */
export async function writeReport(path: string, result: EvalResultV2): Promise<void> {
  writeFileAtomic(path, await renderReport(result));
}
