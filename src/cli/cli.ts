import { CommanderError } from 'commander';
import { errorExitCode, EXIT } from './exit-codes';
import { createProgram } from './program';
import { configureErrors } from './usage-line';
import { stderr } from './stdio';

/**
 * The CLI proper (src/cli/main.ts loads it). Maps what the commands throw to messages and exit statuses; nothing
 * below this file prints an error or calls process.exit.
 */
async function main(argv: string[]): Promise<void> {
  const args = argv.slice(2);
  const program = createProgram(args);
  // Commander's own usage errors (unknown option, missing value) are one `ffrtmp: ` line and
  // exit 2 like ours; --help and --version exit 0. Applied to every subcommand.
  configureErrors(program);
  try {
    await program.parseAsync(args, { from: 'user' });
  } catch (err) {
    process.exitCode = report(err);
  }
}

function report(err: unknown): number {
  if (err instanceof CommanderError) {
    // Commander has already printed its message (one line, src/cli/usage-line.ts).
    return err.exitCode === 0 ? 0 : EXIT.USAGE;
  }
  const status = errorExitCode(err);
  if (status === EXIT.PLATFORM) stderr.write(`ffrtmp: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
  else stderr.write(`ffrtmp: ${(err as Error).message}\n`);
  return status;
}

void main(process.argv);
