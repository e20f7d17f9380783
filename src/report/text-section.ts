import type { EvalResultV2, TextExampleView, TextStat } from '../eval/schema.js';
import { alignTokens } from '../threat/text-threat.js';
import { escapeHtml as e, pct } from './gallery.js';
import { defaultTokenizer } from '../text/tokenizer.js';

/** Styles of the text section (added to the report's sheet). */
export const TEXT_CSS = `
.tmsgs { display:grid; gap:14px; }
.tmsg { border:1px solid var(--line); border-radius:8px; padding:8px 12px 10px; }
.tmsg.broken { border-color:#f3b2ae; } .tmsg.survived { border-color:#a7d7b5; }
.tpair { display:grid; grid-template-columns:1fr 1fr; gap:12px; }
.tpair pre { margin:2px 0 0; max-height:220px; overflow:auto; white-space:pre-wrap; overflow-wrap:anywhere; font:12.5px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; background:var(--bg); border:1px solid var(--line); border-radius:6px; padding:6px 8px; }
.tpair del { background:var(--fail-bg); color:var(--fail); text-decoration:line-through; }
.tpair ins { background:var(--pass-bg); color:var(--pass); text-decoration:none; font-weight:650; }
@media (max-width:720px) { .tpair { grid-template-columns:1fr; } }
`;

/** Tokens kept on each side of a change when a long message is shortened around its changes. */
const CONTEXT = 24;

/**
 * The original and the adversarial message as HTML, changed tokens marked (`<del>` in the
 * original, `<ins>` in the adversarial). Tokens come from advtrain's tokenizer and are aligned
 * with a minimal edit script; far from every change, runs of text are shortened to "…" (with
 * `context` tokens kept around each change; Infinity keeps everything). Every piece of text is
 * escaped.
 *
 * @example
 * ```ts
 * const { original, adversarial } = highlightChanges('buy cheap pills', 'buy inexpensive pills');
 * // adversarial: 'buy <ins>inexpensive</ins> pills'
 * ```
 */
export function highlightChanges(original: string, adversarial: string, context = CONTEXT): { original: string; adversarial: string } {
  const tok = defaultTokenizer();
  const a = tok.tokenize(original);
  const b = tok.tokenize(adversarial);
  const ia = a.flatMap((t, k) => (t.kind === 'space' ? [] : [k]));
  const ib = b.flatMap((t, k) => (t.kind === 'space' ? [] : [k]));
  const touchedA = new Set<number>();
  const touchedB = new Set<number>();
  for (const { i, j } of alignTokens(ia.map((k) => a[k]!.text), ib.map((k) => b[k]!.text))) {
    if (i >= 0) touchedA.add(ia[i]!);
    if (j >= 0) touchedB.add(ib[j]!);
  }
  const render = (tokens: readonly { text: string }[], touched: Set<number>, tag: 'del' | 'ins') => {
    // Distances count words and marks, not white space.
    const ord: number[] = [];
    let n = 0;
    for (const t of tokens) ord.push(/^\s+$/u.test(t.text) ? n : n++);
    const marks = [...touched].map((m) => ord[m]!);
    const near = (k: number) => !Number.isFinite(context) || marks.some((m) => Math.abs(m - ord[k]!) <= context);
    let out = '';
    let skipping = false;
    tokens.forEach((t, k) => {
      if (!near(k) && marks.length > 0) {
        if (!skipping) out += ' <span class="muted">…</span> ';
        skipping = true;
        return;
      }
      skipping = false;
      out += touched.has(k) ? `<${tag}>${e(t.text)}</${tag}>` : e(t.text);
    });
    return out;
  };
  return { original: render(a, touchedA, 'del'), adversarial: render(b, touchedB, 'ins') };
}

const share = (s: TextStat) => (s.median === null ? '—' : pct(s.median));
const q = (s: TextStat) => (s.median === null ? '—' : String(Math.round(s.median)));

function message(x: TextExampleView): string {
  const h = highlightChanges(x.original, x.adversarial);
  const verdict = x.outcome === 'broken' ? `<span class="gout broken">broken</span>` : `<span class="gout survived">survived</span>`;
  return `<div class="tmsg ${x.outcome}">
<div class="ghead"><span>#${x.index} · ${e(x.label)} → <b>${e(x.predicted_after)}</b>${verdict}</span><span>${e(x.attack)} · ${x.changed_words.length} word${x.changed_words.length === 1 ? '' : 's'} (${pct(x.share)}) · ${x.queries} queries</span></div>
<div class="tpair"><div><div class="gkind">original</div><pre>${h.original}</pre></div><div><div class="gkind">adversarial</div><pre>${h.adversarial}</pre></div></div>
</div>`;
}

/**
 * The report's text section (evaluations with `--preset text`): each attack's success rate,
 * words changed, queries and time, the worst case over all of them, and messages shown before
 * and after the attack with the changes highlighted. Empty for other results.
 *
 * @example
 * ```ts
 * const html = textSection(result); // '' unless result.text is set
 * ```
 */
export function textSection(r: EvalResultV2): string {
  const t = r.text;
  if (!t) return '';
  const rows = t.attacks
    .map(
      (a) =>
        `<tr><td><code>${e(a.name)}</code></td><td class="n">${a.attacked}</td><td class="n">${pct(a.success_rate)}</td><td class="n">${share(a.words_changed)}</td><td class="n">${q(a.queries)}</td><td class="n">${a.seconds_per_message.toFixed(2)}</td><td class="n">${a.unverified}</td></tr>`,
    )
    .join('\n');
  return `<section id="text">
<h2>Text attacks</h2>
<p class="note">Attacked: the ${t.attacked} correctly classified ${e(t.attacked_classes.join(', '))} messages, under ${e(r.threat)} (at most that share of words changed; stop words, URLs, e-mail addresses and numbers untouched). Each attack ran on the messages the earlier ones could not break; every success is re-checked with a fresh forward pass.</p>
<div class="table-wrap"><table>
<thead><tr><th>attack</th><th class="n">ran on</th><th class="n">success rate</th><th class="n">median words changed</th><th class="n">median queries</th><th class="n">s / message</th><th class="n">unverified</th></tr></thead>
<tbody>
${rows}
<tr class="total"><td>worst case</td><td class="n">${t.attacked}</td><td class="n">${pct(t.success_rate)}</td><td class="n">${share(t.words_changed)}</td><td class="n">${q(t.queries_per_example)}</td><td></td><td></td></tr>
</tbody></table></div>
${t.examples.length ? `<div class="tmsgs">\n${t.examples.map(message).join('\n')}\n</div>` : ''}
</section>`;
}
