import { PNG } from 'pngjs';

/**
 * Encodes one image (values in [lo, hi], layout [h, w, c] with c = 1 or 3) as PNG, scaled up
 * by an integer factor with nearest-neighbour so small images stay crisp.
 *
 * @example
 * ```ts
 * writeFileSync('x.png', encodePng(pixels, [28, 28, 1], { scale: 4 }));
 * ```
 */
export function encodePng(data: Float32Array, shape: number[], opts: { scale?: number; lo?: number; hi?: number } = {}): Buffer {
  const [h, w, c] = shape.length === 3 ? shape : [1, shape[0]!, 1];
  if (c !== 1 && c !== 3) throw new Error(`cannot draw an image with ${c} channels`);
  const s = opts.scale ?? 1;
  const lo = opts.lo ?? 0;
  const hi = opts.hi ?? 1;
  const png = new PNG({ width: w! * s, height: h! * s });
  for (let y = 0; y < h! * s; y++) {
    for (let x = 0; x < w! * s; x++) {
      const src = ((Math.floor(y / s) * w! + Math.floor(x / s)) * c!) | 0;
      const o = (y * w! * s + x) * 4;
      for (let k = 0; k < 3; k++) {
        const v = data[src + (c === 3 ? k : 0)]!;
        png.data[o + k] = Math.max(0, Math.min(255, Math.round(((v - lo) / (hi - lo)) * 255)));
      }
      png.data[o + 3] = 255;
    }
  }
  return PNG.sync.write(png);
}

/** The perturbation x_adv − x mapped to [0, 1] around grey 0.5, amplified so its largest entry reaches black or white. */
export function amplifiedPerturbation(x: Float32Array, xAdv: Float32Array): Float32Array {
  let m = 1e-12;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(xAdv[i]! - x[i]!));
  return Float32Array.from(x, (v, i) => 0.5 + (xAdv[i]! - v) / (2 * m));
}
