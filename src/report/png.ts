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

/** The three pictures of one attacked example, as PNG files. */
export interface ExampleImages {
  clean: Buffer;
  adversarial: Buffer;
  perturbation: Buffer;
}

/**
 * Whether examples of this shape can be drawn: [h, w, c] with 1 or 3 channels.
 *
 * @example
 * ```ts
 * drawable([28, 28, 1]); // true; drawable([41]) is false (tabular)
 * ```
 */
export function drawable(shape: readonly number[]): boolean {
  return shape.length === 3 && (shape[2] === 1 || shape[2] === 3);
}

/**
 * The clean input, the adversarial input and the amplified perturbation of one example as PNGs,
 * scaled up by `scale`: the pictures of the report's gallery and of `attack --save-examples`.
 * Undefined when the shape is not an image ({@link drawable}).
 *
 * @example
 * ```ts
 * const png = exampleImages(x, xAdv, [28, 28, 1], 4);
 * if (png) writeFileSync('0-adv.png', png.adversarial);
 * ```
 */
export function exampleImages(x: Float32Array, xAdv: Float32Array, shape: readonly number[], scale: number): ExampleImages | undefined {
  if (!drawable(shape)) return undefined;
  const s = [...shape];
  return {
    clean: encodePng(x, s, { scale }),
    adversarial: encodePng(xAdv, s, { scale }),
    perturbation: encodePng(amplifiedPerturbation(x, xAdv), s, { scale }),
  };
}
