import { Command, Option } from 'commander';
import { parseListen } from '../../model/listen';
import { lazy } from '../lazy';
import { addCgroupOptions, collect, logFormatOption, stateDirOption, wholeNumber } from '../options';

export const DEFAULT_WATCH_LISTEN = '127.0.0.1:9091';

/**
 * `ffrtmp watch`: the auto-attach daemon (docs/watch.md). Finds new target processes (exec events
 * from the netlink process connector, or a /proc scan) and governs each as `ffrtmp attach` would.
 * SIGHUP reloads the settings; SIGINT/SIGTERM stop watching and leave every workload running.
 */
export function watchCommand(): Command {
  return addCgroupOptions(new Command('watch'))
    .description('discover new ffmpeg / GStreamer processes and govern each as `attach` does, until stopped')
    .option('--watch-config <file>', 'YAML settings (deployment/watch.yaml); the flags below override it')
    .option('--check-config <file>', 'validate a settings file, print what it means, and exit')
    .option('--target <name>', 'executable basename to govern, exact (repeat; default ffmpeg and gst-launch-1.0; replaces target_commands)', collect)
    .addOption(new Option('--discovery <mode>', 'auto: the process connector, else a /proc scan; events: the connector or nothing; scan: /proc only').choices(['auto', 'events', 'scan']))
    .option('--scan-interval <duration>', 'how often the /proc scan runs when it is the discovery (e.g. 2s, 500ms, 10s; default 2s)')
    .option('--reconcile-interval <duration>', 'how often a /proc scan catches what events missed (default 60s)')
    .option('--event-buffer <bytes>', 'receive buffer of the process connector (SO_RCVBUFFORCE as root)', wholeNumber('--event-buffer', 'a size in bytes', 1, 1 << 30), 4 << 20)
    .option('--intent <intent>', 'label for the jobs, e.g. production')
    .addOption(
      new Option('--listen <host:port>', '/health and /metrics address')
        .argParser((v: string) => {
          parseListen(v);
          return v;
        })
        .default(DEFAULT_WATCH_LISTEN),
    )
    .option('--no-listen', 'serve no endpoint')
    .addOption(stateDirOption())
    .addOption(logFormatOption())
    .addOption(new Option('--log-level <level>', 'debug adds one line per process left alone (filters, other owners) and per scan').choices(['info', 'debug']).default('info'))
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
