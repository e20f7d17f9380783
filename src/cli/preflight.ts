import { checkOutputPaths } from '../fsutil.js';
import { checkModelPath, locateModel } from '../model/io.js';
import { attackAccess, queryOnlyAttacks } from '../attacks/registry.js';
import { UserError } from '../errors.js';
import { CHECKPOINT_TEMP } from '../training/checkpoint.js';

// Each command checks what the user named before it loads data, starts an engine or attacks:
// a bad path or a combination that cannot work fails in one line, with nothing written.


/** 'a, b or c'. */
export function orList(names: string[]): string {
  return names.length < 2 ? names.join('') : `${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}`;
}

/** `advtrain attack`: output paths (`--save-examples`: a folder of images, or a records file and its `.jsonl` for tabular data), the target model (TF.js or ONNX) and the surrogate (TF.js). */
export function checkAttackInputs(o: { model: string; attack: string; surrogate?: string; json?: string; saveExamples?: string; examplesAs?: 'images' | 'records' }): void {
  const records = o.examplesAs === 'records';
  checkOutputPaths([
    o.json !== undefined && { flag: '--json', path: o.json, kind: 'file' },
    o.saveExamples !== undefined && (records ? { flag: '--save-examples', path: o.saveExamples, kind: 'file' } : { flag: '--save-examples', path: o.saveExamples, kind: 'dir', mustBeEmpty: true }),
    o.saveExamples !== undefined && records && { flag: '--save-examples', path: `${o.saveExamples}.jsonl`, kind: 'file' },
  ]);
  const target = locateModel(o.model);
  if (target.format === 'tfjs') checkModelPath(o.model);
  else if (!o.surrogate && attackAccess(o.attack) === 'gradient') {
    throw new UserError(`${o.model} is query-only (ONNX): use ${orList(queryOnlyAttacks())}, or craft ${o.attack} on a TF.js model with --surrogate DIR`);
  }
  if (o.surrogate !== undefined) {
    checkModelPath(o.surrogate, { onnxHint: '--surrogate is the TF.js model the examples are crafted on with gradients (a folder with model.json); the ONNX model goes in --model' });
  }
}

/** `advtrain eval`: output paths and the model (TF.js only: the presets need gradients). */
export function checkEvalInputs(o: { model: string; json?: string; report?: string }): { inputShape?: number[] } {
  checkOutputPaths([o.json !== undefined && { flag: '--json', path: o.json, kind: 'file' }, o.report !== undefined && { flag: '--report', path: o.report, kind: 'file' }]);
  return checkModelPath(o.model, {
    onnxHint: `eval's presets need gradients; attack it with a query-only attack, e.g. advtrain attack --model ${o.model} --attack square (or ${orList(queryOnlyAttacks().filter((n) => n !== 'square'))}), or with --surrogate DIR`,
  });
}

/** Refuses a model whose input shape is not the data set's, before the engine starts. */
export function checkModelFitsData(model: { inputShape?: number[] }, path: string, data: { name: string; shape: number[] }, verb: string): void {
  if (model.inputShape && model.inputShape.join(',') !== data.shape.join(',')) {
    throw new UserError(`model ${path} takes inputs [${model.inputShape}] but ${data.name} has [${data.shape}]: ${verb} it on the data set it was trained for`);
  }
}

/** `advtrain train`: the run folder, the static models, and a threat that standard training would ignore. */
export function checkTrainInputs(o: { out: string; resume?: boolean | string; method: string; threat?: string; robustVal?: number; staticModels?: string }): void {
  checkOutputPaths([{ flag: '--out', path: o.out, kind: 'dir', mustBeEmpty: !o.resume, emptyHint: 'or add --resume to continue it', ignore: [CHECKPOINT_TEMP] }]);
  if (o.method === 'standard' && o.threat !== undefined && !((o.robustVal ?? 0) > 0)) {
    throw new UserError(`--threat ${o.threat} has no effect with --method standard (the default), which trains on clean examples only: add --method fgsm-rs (or pgd-at, trades, …) to train against it, or drop --threat`);
  }
  for (const dir of o.staticModels ? o.staticModels.split(',').filter(Boolean) : []) checkModelPath(dir);
}

/** `advtrain transfer`: the JSON path and every model. */
export function checkTransferInputs(o: { models: string; json?: string }): void {
  checkOutputPaths([o.json !== undefined && { flag: '--json', path: o.json, kind: 'file' }]);
  for (const dir of o.models.split(',').filter(Boolean)) checkModelPath(dir);
}
