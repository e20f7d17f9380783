import { Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { validateEvalResult } from '../eval/validate-result.js';
import { writeReport } from '../report/html.js';
import { UserError } from '../errors.js';
import { checkOutputPaths } from '../fsutil.js';
import { log } from './common.js';

/** The `report` command: the HTML report from an evaluation's JSON alone. */
export function reportCommand(): Command {
  return new Command('report')
    .description('render the self-contained HTML report of an evaluation result (advtrain eval --json)')
    .requiredOption('--json <file>', 'evaluation result (schema advtrain/eval@2)')
    .requiredOption('--out <file>', 'HTML file to write')
    .action(async (o: { json: string; out: string }) => {
      checkOutputPaths([{ flag: '--out', path: o.out, kind: 'file' }]);
      if (!existsSync(o.json)) throw new UserError(`result file not found: ${o.json} (write one with advtrain eval --json)`);
      let raw: unknown;
      try {
        raw = JSON.parse(readFileSync(o.json, 'utf8'));
      } catch (e) {
        throw new UserError(`${o.json} is not valid JSON (${(e as Error).message})`);
      }
      await writeReport(o.out, validateEvalResult(raw));
      log(`report written to ${o.out}`);
    });
}
