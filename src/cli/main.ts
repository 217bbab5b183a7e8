#!/usr/bin/env node
import { CommanderError } from 'commander';
import { UsageError } from '../model/errors';
import { EXIT } from './exit-codes';
import { createProgram } from './program';

/**
 * The `ffrtmp` executable. Maps what the commands throw to messages and exit statuses; nothing
 * below this file prints an error or calls process.exit.
 */
async function main(argv: string[]): Promise<void> {
  const args = argv.slice(2);
  const program = createProgram(args);
  // Commander's own usage errors (unknown option, missing value) exit 2 like ours; --help and
  // --version exit 0. Applied to every subcommand.
  const override = (cmd: typeof program): void => {
    cmd.exitOverride();
    cmd.commands.forEach((c) => override(c as typeof program));
  };
  override(program);
  try {
    await program.parseAsync(args, { from: 'user' });
  } catch (err) {
    process.exitCode = exitFor(err);
  }
}

function exitFor(err: unknown): number {
  if (err instanceof CommanderError) {
    // Commander has already printed its message.
    return err.exitCode === 0 ? 0 : EXIT.USAGE;
  }
  if (err instanceof UsageError) {
    process.stderr.write(`ffrtmp: ${err.message}\n`);
    return EXIT.USAGE;
  }
  const code = (err as { code?: string }).code;
  if (code === 'ERR_NO_SUCH_PROCESS') {
    process.stderr.write(`ffrtmp: ${(err as Error).message}\n`);
    return EXIT.NO_SUCH_PROCESS;
  }
  process.stderr.write(`ffrtmp: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
  return EXIT.PLATFORM;
}

void main(process.argv);
