import { Command, Option } from 'commander';
import { parseListen } from '../../model/listen';
import { lazy } from '../lazy';
import { logFormatOption, stateDirOption, wholeNumber } from '../options';

export const DEFAULT_LOCK_DURATION_MS = 60_000;
export const DEFAULT_STALLED_INTERVAL_MS = 30_000;
/** Not serve's 9090 nor watch's 9091: one node may run all three. */
export const DEFAULT_AGENT_LISTEN = '127.0.0.1:9092';

/** `--queue a --queue b`, or `--queue a,b` / `QUEUES=a,b`. Names are checked by the action. */
export function collectQueues(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(',').map((s) => s.trim())];
}

/**
 * `ffrtmp agent`: the queue worker (docs/agent.md). Takes jobs from BullMQ queues on Redis and
 * runs each once: on the wrapper path (governed, journaled, as `ffrtmp run`) when the job says
 * `wrapper_enabled: true` and the node allows it, else on the legacy path (a plain child process).
 * Every flag can come from the environment (a systemd EnvironmentFile). SIGINT/SIGTERM/SIGHUP
 * stop it within seconds: running workloads continue, and the next agent on the same state dir
 * takes their queue jobs back.
 */
export function agentCommand(): Command {
  return new Command('agent')
    .description('take jobs from BullMQ queues on Redis and run each once, governed when the job asks for it (wrapper_enabled)')
    .addOption(new Option('--redis <url>', 'Redis URL: redis://[user:password@]host:port[/db], rediss:// for TLS').env('REDIS_URL'))
    .addOption(new Option('--queue <name>', 'queue to take jobs from (repeat, or comma-separated)').env('QUEUES').argParser(collectQueues))
    .addOption(
      new Option('--concurrency <n>', 'jobs held at once, those taken back after a restart included')
        .env('MAX_JOBS')
        .argParser(wholeNumber('--concurrency', 'a number of jobs', 1, 10_000))
        .default(1),
    )
    .addOption(
      new Option('--capabilities <list>', 'what this node can do, e.g. h264,nvenc: each adds the queue <queue>-<capability> for every --queue (docs/agent.md "Capabilities")').env(
        'CAPABILITIES',
      ),
    )
    .addOption(new Option('--worker-id <id>', "this node's name on the queue (default: the host name)").env('WORKER_ID'))
    .addOption(stateDirOption())
    .addOption(
      new Option('--lock-duration <ms>', 'how long a queue job stays ours without renewal: the window a restarted agent has to take it back')
        .env('LOCK_DURATION_MS')
        .argParser(wholeNumber('--lock-duration', 'a duration in milliseconds', 1000, 86_400_000))
        .default(DEFAULT_LOCK_DURATION_MS),
    )
    .addOption(
      new Option('--stalled-interval <ms>', "how often this agent's stalled check runs (a job whose lock expired is failed, never re-run)")
        .env('STALLED_INTERVAL_MS')
        .argParser(wholeNumber('--stalled-interval', 'a duration in milliseconds', 100, 86_400_000))
        .default(DEFAULT_STALLED_INTERVAL_MS),
    )
    .option('--wrapper', 'each job chooses its path with wrapper_enabled (the default; env WRAPPER_ENABLED=true)')
    .option('--no-wrapper', 'kill switch: every job takes the legacy path, whatever it asks (env WRAPPER_ENABLED=false)')
    .addOption(
      new Option('--listen <host:port>', '/metrics, /health and /ready address')
        .env('LISTEN')
        .argParser((v: string) => {
          parseListen(v);
          return v;
        })
        .default(DEFAULT_AGENT_LISTEN),
    )
    .option('--no-listen', 'serve no endpoint')
    .option('--cgroup-root <path>', 'parent of the job cgroups (as for run; env FFRTMP_CGROUP_ROOT)')
    .addOption(logFormatOption('FFRTMP_LOG_FORMAT'))
    .action(lazy(() => import('../actions/agent')));
}
