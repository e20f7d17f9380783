import { Command, Option } from 'commander';
import { basename } from 'node:path';
import { loadDataset } from '../data/index.js';
import { subset } from '../data/batching.js';
import { loadModel } from '../model/io.js';
import { parseThreat } from '../threat/threat-model.js';
import { createAttack } from '../attacks/registry.js';
import { transferMatrix } from '../eval/transfer.js';
import { TRANSFER_SCHEMA, type TransferFileResult, type TransferResult } from '../eval/schema.js';
import { writeFileAtomic } from '../fsutil.js';
import { UserError } from '../errors.js';
import { checkSchemaOption, engineOptions, integer, labelColumnOption, positiveInt, schemaOption } from './options.js';
import { log, startEngine } from './common.js';
import { resultStamp } from '../eval/result-header.js';
import { checkTransferInputs } from './preflight.js';

interface TransferOptions {
  models: string;
  dataset: string;
  /** csv:FILE tables: the schema and the label column. */
  schema?: string;
  labelColumn?: string;
  threat: string;
  attack: string;
  steps?: number;
  n: number;
  seed: number;
  json?: string;
  backend: string;
  threads?: number;
}

/** Formats the matrix with the sources as columns. */
export function formatMatrix(t: TransferResult): string {
  const w = Math.max(8, ...t.models.map((m) => m.length)) + 2;
  const head = 'target \\ source'.padEnd(w) + t.models.map((m) => m.padStart(w)).join('');
  const rows = t.matrix.map((r, i) => t.models[i]!.padEnd(w) + r.map((v) => `${(v * 100).toFixed(1)}%`.padStart(w)).join(''));
  return [head, ...rows].join('\n') + '\n';
}

/** The `transfer` command. */
export function transferCommand(): Command {
  const cmd = new Command('transfer')
    .description('transferability matrix: adversarial examples crafted on each model for every example, robust accuracy of every model on them (its clean errors count as not robust)')
    .requiredOption('--models <dirs>', 'comma-separated model directories (two or more)')
    .requiredOption('--dataset <name>', 'data set whose test split to use')
    .option('--threat <spec>', 'threat model NORM:EPS', 'linf:0.3')
    .option('--attack <name>', 'white-box attack crafting the examples on each source', 'pgd')
    .addOption(new Option('--steps <n>', 'attack iterations (default 50)').argParser(positiveInt))
    .addOption(new Option('--n <count>', 'the first N test examples').argParser(positiveInt).default(1000))
    .addOption(new Option('--seed <n>', 'random seed').argParser(integer).default(0))
    .option('--json <file>', 'write the matrix as JSON');
  for (const opt of [schemaOption(), labelColumnOption(), ...engineOptions()]) cmd.addOption(opt);
  return cmd.action(async (o: TransferOptions) => {
    const dirs = o.models.split(',').filter(Boolean);
    if (dirs.length < 2) throw new UserError('--models needs two or more model directories, separated by commas');
    checkTransferInputs(o);
    checkSchemaOption(o);
    const threat = parseThreat(o.threat);
    const attack = createAttack(o.attack, { steps: o.steps ?? 50 }, threat);
    const data = await loadDataset(o.dataset, { labelColumn: o.labelColumn, schema: o.schema });
    const engine = await startEngine(o, log);
    const models = [];
    for (const d of dirs) models.push((await loadModel(d)).classifier);
    const test = subset(data.test, o.n);
    const names = dirs.map((d) => basename(d.replace(/\/+$/, '')));
    const matrix = await transferMatrix(models, test, threat, attack, o.seed, (j) => log(`crafted on ${names[j]} (${j + 1}/${dirs.length})`));
    const result: TransferResult = { models: names, matrix, threat: threat.toString(), attack: `${attack.name}-${(attack.params as { steps?: number }).steps ?? ''}` };
    process.stdout.write(formatMatrix(result));
    process.stdout.write(`robust accuracy of each target (row) on ${attack.name} examples crafted on each source (column) for all ${test.n} examples; a target's clean errors count as not robust\n`);
    if (o.json) {
      const file: TransferFileResult = { schema: TRANSFER_SCHEMA, ...result, paths: dirs, n: test.n, ...resultStamp(o.seed, { engine }) };
      writeFileAtomic(o.json, JSON.stringify(file, null, 2) + '\n');
      log(`results written to ${o.json}`);
    }
  });
}
