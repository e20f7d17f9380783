/** The report's image gallery and the HTML escaping every part of the report uses. */
import type { EvalResultV2, GalleryItem } from '../eval/schema.js';

/**
 * Escapes text for HTML element content and double-quoted attribute values.
 *
 * @example
 * ```ts
 * escapeHtml('<b>"x"</b>'); // '&lt;b&gt;&quot;x&quot;&lt;/b&gt;'
 * ```
 */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/**
 * Formats a fraction as a percentage with one decimal.
 *
 * @example
 * ```ts
 * pct(0.9123); // '91.2%'
 * ```
 */
export function pct(v: number): string {
  return `${(v * 100).toFixed(1)}%`;
}

/**
 * Display name of class `i`: its name from `data.classes` when there is one, else the index.
 *
 * @example
 * ```ts
 * className(result, 3); // 'dress' for fashion-mnist with class names, else '3'
 * ```
 */
export function className(result: EvalResultV2, i: number): string {
  return result.data.classes?.[i] ?? String(i);
}

function img(b64: string, alt: string): string {
  // The validator only lets base64 through; escaping is a second fence.
  return `<img src="data:image/png;base64,${escapeHtml(b64)}" alt="${escapeHtml(alt)}">`;
}

/** Whether the attacks broke the example (from older files without `outcome`: its adversarial prediction). */
export function outcomeOf(g: GalleryItem): 'broken' | 'survived' {
  return g.outcome ?? (g.adversarial.prediction !== g.label ? 'broken' : 'survived');
}

function card(result: EvalResultV2, g: GalleryItem): string {
  const name = (i: number) => escapeHtml(className(result, i));
  const fooled = g.adversarial.prediction !== g.label;
  const cleanWrong = g.clean.prediction !== g.label;
  const outcome = outcomeOf(g);
  return `<figure class="gcard ${outcome}${fooled ? ' fooled' : ''}">
  <figcaption class="ghead"><span>#${g.index} <span class="gout ${outcome}">${outcome === 'broken' ? 'broken' : 'survived'}</span></span><span>true <b>${name(g.label)}</b></span></figcaption>
  <div class="gimgs">
    <div class="gcell">${img(g.clean.png, `example ${g.index}, clean`)}<div class="glabel${cleanWrong ? ' wrong' : ''}">${name(g.clean.prediction)} <span>${pct(g.clean.confidence)}</span></div><div class="gkind">clean</div></div>
    <div class="gcell">${img(g.adversarial.png, `example ${g.index}, adversarial`)}<div class="glabel${fooled ? ' wrong' : ' right'}">${name(g.adversarial.prediction)} <span>${pct(g.adversarial.confidence)}</span></div><div class="gkind">adversarial</div></div>
    <div class="gcell">${img(g.perturbation.png, `example ${g.index}, perturbation`)}<div class="glabel muted">amplified</div><div class="gkind">perturbation</div></div>
  </div>
</figure>`;
}

/**
 * The gallery section: for each example its clean input, adversarial input and amplified
 * perturbation, with predicted class and confidence (adversarial predictions that differ from the
 * true class in red), each labelled `broken` (an attack changed the prediction) or `survived`
 * (every attack failed; its adversarial image is the last attack's best attempt). Empty string
 * when the result has no gallery.
 *
 * @example
 * ```ts
 * const html = gallerySection(result); // '<section id="gallery">…' or ''
 * ```
 */
export function gallerySection(result: EvalResultV2): string {
  if (result.gallery.length === 0) return '';
  const broken = result.gallery.filter((g) => outcomeOf(g) === 'broken').length;
  const survived = result.gallery.length - broken;
  return `<section id="gallery">
<h2>Gallery</h2>
<p class="note">${result.gallery.length} examples: ${broken} <b>broken</b> by an attack, ${survived} that <b>survived</b> every attack (shown with the last attack’s best attempt). Predicted class and its confidence under each image; the perturbation x<sub>adv</sub> − x is amplified around grey so its largest entry reaches black or white.</p>
<div class="gallery">
${result.gallery.map((g) => card(result, g)).join('\n')}
</div>
</section>`;
}
