import { Command, Option } from 'commander';
import { parseListen } from '../../model/listen';
import { lazy } from '../lazy';
import { addCgroupOptions, collectList, logFormatOption, stateDirOption, wholeNumber } from '../options';

export const DEFAULT_WATCH_LISTEN = '127.0.0.1:9091';

/**
 * `ffrtmp watch`: the auto-attach daemon (docs/watch.md). Finds new target processes (exec events
 * from the netlink process connector, or a /proc scan) and governs each as `ffrtmp attach` would.
 * SIGHUP reloads the settings; SIGINT/SIGTERM stop watching and leave every workload running.
 * Every setting but the limits (they belong in the settings file, which SIGHUP re-reads) is also
 * read from an FFRTMP_* variable, as a systemd EnvironmentFile sets it (deployment/env/watch.env.example);
 * the parent of the job cgroups from FFRTMP_CGROUP_ROOT, as for every command.
 */
export function watchCommand(): Command {
  return addCgroupOptions(new Command('watch'))
    .description('discover new ffmpeg / GStreamer processes and govern each as `attach` does, until stopped')
    .addOption(new Option('--watch-config <file>', 'YAML settings (deployment/watch.yaml); the flags below override it').env('FFRTMP_WATCH_CONFIG'))
    .option('--check-config <file>', 'validate a settings file, print what it means, and exit')
    .addOption(
      new Option('--target <name>', 'executable basename to govern, exact (repeat, or comma-separated; default ffmpeg and gst-launch-1.0; replaces target_commands)')
        .env('FFRTMP_TARGETS')
        .argParser(collectList),
    )
    .addOption(
      new Option('--discovery <mode>', 'auto: the process connector, else a /proc scan; events: the connector or nothing; scan: /proc only')
        .choices(['auto', 'events', 'scan'])
        .env('FFRTMP_DISCOVERY'),
    )
    .addOption(new Option('--scan-interval <duration>', 'how often the /proc scan runs when it is the discovery (e.g. 2s, 500ms, 10s; default 2s)').env('FFRTMP_SCAN_INTERVAL'))
    .addOption(new Option('--reconcile-interval <duration>', 'how often a /proc scan catches what events missed (default 60s)').env('FFRTMP_RECONCILE_INTERVAL'))
    .addOption(
      new Option('--event-buffer <bytes>', 'receive buffer of the process connector (SO_RCVBUFFORCE as root)')
        .env('FFRTMP_EVENT_BUFFER')
        .argParser(wholeNumber('--event-buffer', 'a size in bytes', 1, 1 << 30))
        .default(4 << 20),
    )
    .addOption(new Option('--intent <intent>', 'label for the jobs, e.g. production').env('FFRTMP_INTENT'))
    .addOption(
      new Option('--listen <host:port>', '/health and /metrics address')
        .env('FFRTMP_WATCH_LISTEN')
        .argParser((v: string) => {
          parseListen(v);
          return v;
        })
        .default(DEFAULT_WATCH_LISTEN),
    )
    .option('--no-listen', 'serve no endpoint')
    .addOption(stateDirOption())
    .addOption(logFormatOption('FFRTMP_LOG_FORMAT'))
    .addOption(
      new Option('--log-level <level>', 'debug adds one line per process left alone (filters, other owners) and per scan')
        .choices(['info', 'debug'])
        .env('FFRTMP_LOG_LEVEL')
        .default('info'),
    )
    .addHelpText(
      'after',
      `
Precedence: a flag overrides the settings file. --target replaces target_commands; any limit flag
(--cpu-max, --cpu-quota, --cpu-weight, --memory-max, --io-max) replaces default_limits as a whole;
commands.<name>.limits still apply to their command. SIGHUP re-reads the file (new settings apply
to processes found from then on).`,
    )
    .action(lazy(() => import('../actions/watch')));
}
