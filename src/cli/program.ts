import { Command } from 'commander';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { version } = require('../../package.json') as { version: string };

/* eslint-disable @typescript-eslint/no-require-imports */
/**
 * Every subcommand, in the order `ffrtmp --help` lists them. Each definition module is required
 * only when that command is defined (its action module only when it runs: src/cli/lazy.ts).
 */
const COMMANDS: ReadonlyArray<readonly [string, (rawArgs: readonly string[]) => Command]> = [
  ['run', (a) => (require('./commands/run') as typeof import('./commands/run')).runCommand(a)],
  ['attach', () => (require('./commands/attach') as typeof import('./commands/attach')).attachCommand()],
  ['doctor', () => (require('./commands/doctor') as typeof import('./commands/doctor')).doctorCommand()],
  ['serve', () => (require('./commands/serve') as typeof import('./commands/serve')).serveCommand()],
  ['watch', () => (require('./commands/watch') as typeof import('./commands/watch')).watchCommand()],
  ['jobs', () => (require('./commands/jobs') as typeof import('./commands/jobs')).jobsCommand()],
  ['recover', () => (require('./commands/recover') as typeof import('./commands/recover')).recoverCommand()],
  ['agent', () => (require('./commands/agent') as typeof import('./commands/agent')).agentCommand()],
  ['submit', (a) => (require('./commands/submit') as typeof import('./commands/submit')).submitCommand(a)],
];
/* eslint-enable @typescript-eslint/no-require-imports */

/**
 * The commander program: wiring only. Every command is parse → core → render → exit code.
 *
 * When the first argument names a subcommand (`ffrtmp run …`), only that one is defined: the
 * program's only options are --help and --version, which come before a subcommand, so the
 * others could not take part in the parse (start-up cost, docs/benchmarks.md). Anything else
 * (`ffrtmp`, `ffrtmp --help`, `ffrtmp help run`, a mistyped command) gets all of them, so help
 * and "unknown command … did you mean" are unchanged.
 */
export function createProgram(rawArgs: readonly string[]): Command {
  const program = new Command('ffrtmp')
    .description('governance-only workload wrapper: run or attach, watch until exit, one immutable Result per job')
    .version(version)
    .enablePositionalOptions();
  if (rawArgs.length === 1 && (rawArgs[0] === '--version' || rawArgs[0] === '-V')) return program; // prints the version, nothing else
  const only = COMMANDS.find(([name]) => name === rawArgs[0]);
  for (const [, make] of only ? [only] : COMMANDS) program.addCommand(make(rawArgs));
  return program;
}
