import { join } from 'node:path';
import { encodeIdx } from '../data/idx.js';
import { writeFileAtomic, withNewDir } from '../fsutil.js';
import { exampleImages } from '../report/png.js';
import type { KeptExample } from './attack-run.js';

/** One entry of `examples.json`, as written by {@link writeExamples}. */
export interface SavedExample {
  /** Position of the example in the attacked test split. */
  index: number;
  /** True class name (or index). */
  label: string;
  clean: { prediction: string; confidence: number };
  adversarial: { prediction: string; confidence: number };
  /** The PNGs beside it, for image data. */
  files?: { clean: string; adversarial: string; perturbation: string };
}

/**
 * Writes kept attack examples into a new directory: `adversarial-images.idx` (float32, the
 * adversarial inputs), `labels.idx` (uint8), `examples.json` (labels and predictions by class
 * name) and, for images, `N-clean.png`, `N-adv.png` and `N-perturbation.png`. The directory
 * appears whole or not at all.
 *
 * @example
 * ```ts
 * await writeExamples('runs/pgd-examples', result.kept, test.shape, test.classNames);
 * ```
 */
export async function writeExamples(dir: string, kept: readonly KeptExample[], shape: number[], classNames: readonly string[]): Promise<void> {
  await withNewDir(dir, async (d) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const all = new Float32Array(kept.length * size);
    kept.forEach((k, j) => all.set(k.xAdv, j * size));
    writeFileAtomic(join(d, 'adversarial-images.idx'), encodeIdx([kept.length, ...shape], 'float32', all));
    writeFileAtomic(join(d, 'labels.idx'), encodeIdx([kept.length], 'uint8', kept.map((k) => k.label)));
    const name = (c: number) => classNames[c] ?? String(c);
    const index = kept.map((k, j): SavedExample => {
      const files = { clean: `${j}-clean.png`, adversarial: `${j}-adv.png`, perturbation: `${j}-perturbation.png` };
      const png = exampleImages(k.x, k.xAdv, shape, 4);
      if (png) {
        writeFileAtomic(join(d, files.clean), png.clean);
        writeFileAtomic(join(d, files.adversarial), png.adversarial);
        writeFileAtomic(join(d, files.perturbation), png.perturbation);
      }
      return {
        index: k.index,
        label: name(k.label),
        clean: { prediction: name(k.predClean), confidence: k.confClean },
        adversarial: { prediction: name(k.predAdv), confidence: k.confAdv },
        ...(png ? { files } : {}),
      };
    });
    writeFileAtomic(join(d, 'examples.json'), JSON.stringify(index, null, 2) + '\n');
  });
}
