import { Command, Option } from 'commander';
import { lazy } from '../lazy';
import { collect, logFormatOption, wholeNumber } from '../options';

/**
 * `ffrtmp submit [options] -- <command> [args...]`: puts one job on a queue for the agents. With
 * --wait it waits for the job's end, prints its summary line and exits with the workload's status
 * (the same table as `run`). Without it, prints the queue job id on stdout.
 */
export function submitCommand(rawArgs: readonly string[]): Command {
  return new Command('submit')
    .description('put one job on a queue for `ffrtmp agent`; --wait for its end')
    .usage('[options] -- <command> [args...]')
    .addOption(new Option('--redis <url>', 'Redis URL: redis://host:port[/db]').env('REDIS_URL'))
    .addOption(new Option('--queue <name>', 'the queue').env('QUEUE'))
    .option('--job-id <id>', 'job id, also the queue job id (generated when absent)')
    .option('--intent <intent>', 'label for the job, e.g. production or test')
    .option('--workdir <dir>', 'directory the workload starts in, on the node')
    .option('--env <NAME=value>', 'environment variable for the workload (repeat)', collect)
    .option('--wrapper', 'wrapper_enabled: run it governed (limits, journal, Result); default: the legacy path')
    .option('--cpu-max <"quota period">', 'wrapper_constraints.cpu_max, e.g. "50000 100000"')
    .option('--cpu-quota <percent>', 'the same as a percent of one CPU (150 = 1.5 CPUs)')
    .option('--cpu-weight <1-10000>', 'wrapper_constraints.cpu_weight')
    .option('--memory-max <size>', 'wrapper_constraints.memory_max_mb, given as a size in whole MiB: 512M, 2G')
    .option('--io-max <"maj:min key=value...">', 'wrapper_constraints.io_max (repeat per device)', collect)
    .option('--wait', 'wait for the end, print the summary line and exit with the workload status')
    .addOption(
      new Option('--connect-timeout <ms>', 'give up (exit 125) when Redis does not answer within this time')
        .env('CONNECT_TIMEOUT_MS')
        .argParser(wholeNumber('--connect-timeout', 'a duration in milliseconds', 100, 3_600_000))
        .default(5000),
    )
    .addOption(logFormatOption())
    .argument('[command...]', 'the workload, after --')
    .passThroughOptions()
    .action(lazy(async () => (await import('../actions/submit')).bind(rawArgs)));
}
