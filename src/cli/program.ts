import { Command } from 'commander';
import { agentCommand } from './commands/agent';
import { attachCommand } from './commands/attach';
import { doctorCommand } from './commands/doctor';
import { jobsCommand } from './commands/jobs';
import { recoverCommand } from './commands/recover';
import { runCommand } from './commands/run';
import { serveCommand } from './commands/serve';
import { submitCommand } from './commands/submit';
import { watchCommand } from './commands/watch';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { version } = require('../../package.json') as { version: string };

/** The commander program: wiring only. Every command is parse → core → render → exit code. */
export function createProgram(rawArgs: readonly string[]): Command {
  return new Command('ffrtmp')
    .description('governance-only workload wrapper: run or attach, watch until exit, one immutable Result per job')
    .version(version)
    .enablePositionalOptions()
    .addCommand(runCommand(rawArgs))
    .addCommand(attachCommand())
    .addCommand(doctorCommand())
    .addCommand(serveCommand())
    .addCommand(watchCommand())
    .addCommand(jobsCommand())
    .addCommand(recoverCommand())
    .addCommand(agentCommand())
    .addCommand(submitCommand(rawArgs));
}
