import { Command, CommanderError } from 'commander';
import { UserError } from '../errors.js';
import { VERSION } from './common.js';
import { trainCommand } from './train.js';
import { evalCommand } from './eval.js';
import { demoCommand } from './demo.js';
import { attackCommand } from './attack.js';
import { transferCommand } from './transfer.js';
import { reportCommand } from './report.js';
import { predictCommand } from './predict.js';

/** Builds the `advtrain` program (exported for tests). */
export function program(): Command {
  return new Command('advtrain')
    .description('adversarial attacks, adversarial training and robustness evaluation on TensorFlow.js')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .addCommand(demoCommand())
    .addCommand(trainCommand())
    .addCommand(evalCommand())
    .addCommand(attackCommand())
    .addCommand(transferCommand())
    .addCommand(reportCommand())
    .addCommand(predictCommand());
}

/** Runs the CLI: user errors become one line on stderr and exit code 2. */
export async function main(argv: string[] = process.argv): Promise<void> {
  try {
    await program().parseAsync(argv);
  } catch (e) {
    if (e instanceof UserError) {
      process.stderr.write(`advtrain: error: ${e.message}\n`);
      process.exitCode = 2;
      return;
    }
    if (e instanceof CommanderError) {
      process.exitCode = e.exitCode;
      return;
    }
    throw e;
  }
}
