import { Command, Option } from 'commander';
import { DEFAULT_VIOLATIONS_SIZE } from '../../visibility/violations';
import { lazy } from '../lazy';
import { listenOption, logFormatOption, stateDirOption, wholeNumber } from '../options';

/**
 * `ffrtmp serve`: the node's visibility endpoint (docs/visibility.md §4). Rebuilds the counters
 * from the journal, follows it, and at start adopts orphaned jobs (like `ffrtmp recover`) unless
 * --no-recover. SIGINT/SIGTERM/SIGHUP stop it cleanly (exit 0); adopted workloads continue and
 * stay orphans for the next recover. Lifecycle messages go to stderr. The settings a systemd
 * EnvironmentFile sets are read from the environment too (FFRTMP_SERVE_LISTEN, FFRTMP_VIOLATIONS, FFRTMP_LOG_FORMAT;
 * deployment/env/serve.env.example).
 */
export function serveCommand(): Command {
  return new Command('serve')
    .description('serve /metrics, /violations, /health and /jobs from the journal; adopt orphaned jobs at start')
    .addOption(listenOption('FFRTMP_SERVE_LISTEN'))
    .addOption(stateDirOption())
    .addOption(
      new Option('--violations <n>', 'violation samples kept')
        .env('FFRTMP_VIOLATIONS')
        .argParser(wholeNumber('--violations', 'a size', 1, 100_000))
        .default(DEFAULT_VIOLATIONS_SIZE),
    )
    .option('--no-recover', 'do not adopt orphaned jobs at start')
    .addOption(logFormatOption('FFRTMP_LOG_FORMAT'))
    .action(lazy(() => import('../actions/serve')));
}
