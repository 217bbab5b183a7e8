import { Command } from 'commander';
import { lazy } from '../lazy';
import { addCgroupOptions, logFormatOption, stateDirOption } from '../options';

/**
 * `ffrtmp run [options] -- <command> [args...]`. The workload owns stdout and stderr; the
 * wrapper writes its summary line (and with --json the Result, one line) to stderr after the
 * workload exits, and mirrors the workload's exit status.
 */
export function runCommand(rawArgs: readonly string[]): Command {
  return addCgroupOptions(new Command('run'))
    .description('start a workload, govern it, watch it until it exits, record one Result')
    .usage('[options] -- <command> [args...]')
    .option('--job-id <id>', 'job id (generated when absent)')
    .option('--intent <intent>', 'label for the job, e.g. production or test')
    .option('--workdir <dir>', 'directory the workload starts in')
    .option('--json', 'also print the Result as one JSON line on stderr, after the summary line')
    .option('--result-file <path>', 'write the Result as JSON to this file (atomically)')
    .option('--no-keeper', 'start the workload as our direct child, without ffrtmp-keeper (its exit status then dies with the wrapper)')
    .addOption(stateDirOption())
    .addOption(logFormatOption())
    .argument('[command...]', 'the workload, after --')
    .passThroughOptions()
    .action(lazy(async () => (await import('../actions/run')).bind(rawArgs)));
}
