import { randomBytes } from 'node:crypto';
import type { JobData, WrapperConstraints } from '../../agent/job';
import { isLegacy, legacyLine } from '../../agent/outcome';
import { redactUrl, validateQueueName, validateRedisUrl } from '../../agent/redis';
import { formatCpuMax, parseCpuQuota, parseMemoryMax } from '../../cgroup/limits';
import { UsageError } from '../../model/errors';
import { quote } from '../../model/quote';
import { summaryLine } from '../../model/summary';
import { submitExitCode, type SubmitEnd } from '../exit-codes';
import type { ActionModule } from '../lazy';
import type { LogFormat } from '../options';
import { formatEvent } from '../output';
import { onDetachSignals } from '../signals';
import { stderr, stdout } from '../stdio';

export interface SubmitCliOptions {
  redis?: string;
  queue?: string;
  jobId?: string;
  intent?: string;
  workdir?: string;
  env?: string[];
  wrapper?: boolean;
  cpuMax?: string;
  cpuQuota?: string;
  cpuWeight?: string;
  memoryMax?: string;
  ioMax?: string[];
  wait?: boolean;
  connectTimeout: number;
  logFormat: LogFormat;
}

export function bind(rawArgs: readonly string[]): ActionModule<[string[], SubmitCliOptions]> {
  return { action: (command, opts) => submitAction(rawArgs, command, opts) };
}

/** A job id for a submission without --job-id: `submit-<utc yyyymmddThhmmssZ>-<6 hex>`. */
export function generateSubmitId(now: Date = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `submit-${stamp}-${randomBytes(3).toString('hex')}`;
}

/** The flags → the job data (the agent validates it again). Throws UsageError. */
export function jobDataFromFlags(command: string, args: string[], opts: SubmitCliOptions): JobData {
  const constraints: WrapperConstraints = {};
  if (opts.cpuMax !== undefined && opts.cpuQuota !== undefined) throw new UsageError('--cpu-max and --cpu-quota are mutually exclusive: give one of them');
  if (opts.cpuMax !== undefined) constraints.cpu_max = opts.cpuMax;
  if (opts.cpuQuota !== undefined) constraints.cpu_max = formatCpuMax(parseCpuQuota(opts.cpuQuota));
  if (opts.cpuWeight !== undefined) {
    if (!/^\d+$/.test(opts.cpuWeight)) throw new UsageError(`--cpu-weight ${quote(opts.cpuWeight)} is not a whole number from 1 to 10000`);
    constraints.cpu_weight = Number(opts.cpuWeight);
  }
  if (opts.memoryMax !== undefined) {
    const bytes = parseMemoryMax(opts.memoryMax);
    if (bytes === 'max' || bytes % (1024 * 1024) !== 0) {
      throw new UsageError(`--memory-max ${quote(opts.memoryMax)}: a queue job's memory limit is whole MiB (memory_max_mb), e.g. 512M or 2G`);
    }
    constraints.memory_max_mb = bytes / (1024 * 1024);
  }
  if (opts.ioMax !== undefined && opts.ioMax.length > 0) constraints.io_max = opts.ioMax.length === 1 ? opts.ioMax[0]! : opts.ioMax;
  let env: Record<string, string> | undefined;
  for (const kv of opts.env ?? []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new UsageError(`--env ${quote(kv)}: expected NAME=value`);
    env = { ...(env ?? {}), [kv.slice(0, eq)]: kv.slice(eq + 1) };
  }
  return {
    id: opts.jobId ?? generateSubmitId(),
    command,
    args,
    ...(opts.intent !== undefined ? { intent: opts.intent } : {}),
    ...(opts.workdir !== undefined ? { workdir: opts.workdir } : {}),
    ...(env !== undefined ? { env } : {}),
    ...(opts.wrapper ? { wrapper_enabled: true } : {}),
    ...(Object.keys(constraints).length > 0 ? { wrapper_constraints: constraints } : {}),
  };
}

async function submitAction(rawArgs: readonly string[], command: string[], opts: SubmitCliOptions): Promise<number> {
  if (!rawArgs.includes('--')) throw new UsageError('put -- before the workload: `ffrtmp submit [options] -- <command> [args...]`');
  const [file, ...args] = command;
  if (file === undefined) throw new UsageError('no command given after --');
  if (opts.redis === undefined || opts.redis === '') throw new UsageError('give the Redis URL: --redis redis://host:port (or REDIS_URL)');
  validateRedisUrl(opts.redis, '--redis (REDIS_URL)');
  if (opts.queue === undefined) throw new UsageError('give the queue: --queue NAME (or QUEUE)');
  validateQueueName(opts.queue);
  const data = jobDataFromFlags(file, args, opts);
  const { submitJob, waitForJob, RedisUnreachableError } = await import('../../agent/submit');
  const { JobDataError } = await import('../../agent/job');
  const fmt = opts.logFormat;
  const say = (event: string, text: string, fields: Record<string, unknown> = {}): void => {
    stderr.write(`${formatEvent(fmt, event, text, fields)}\n`);
  };
  const unreachable = (err: unknown, what: string): number => {
    say('redis_unreachable', `${(err as Error).message}: ${what} (--connect-timeout to wait longer)`, { redis: redactUrl(opts.redis!), queue: opts.queue });
    return submitExitCode('unreachable');
  };
  let queueJobId: string;
  try {
    ({ queueJobId } = await submitJob({ redisUrl: opts.redis, queue: opts.queue, data, connectTimeoutMs: opts.connectTimeout }));
  } catch (err) {
    if (err instanceof JobDataError) throw new UsageError(`the job would be refused: ${err.message}`);
    if (err instanceof RedisUnreachableError) return unreachable(err, 'nothing queued');
    throw err;
  }
  if (!opts.wait) {
    stdout.write(`${queueJobId}\n`);
    say('submitted', `job ${data.id} queued on ${opts.queue} (${redactUrl(opts.redis)}), ${data.wrapper_enabled ? 'wrapper' : 'legacy'} path`, { job_id: data.id, queue: opts.queue });
    return submitExitCode('queued');
  }
  const detach = onDetachSignals(['SIGINT', 'SIGTERM']);
  try {
    const end = await waitForJob({ redisUrl: opts.redis, queue: opts.queue, queueJobId, signal: detach.signal, connectTimeoutMs: opts.connectTimeout }).catch((err: unknown) => {
      if (detach.signal.aborted) return null;
      if (err instanceof RedisUnreachableError) return err;
      throw err;
    });
    if (end instanceof RedisUnreachableError) return unreachable(end, `job ${data.id} was queued and goes on; stopped waiting`);
    if (end === null) {
      say('wait_interrupted', `stopped waiting; job ${data.id} goes on (queue ${opts.queue})`, { job_id: data.id });
      return submitExitCode('queued', detach.received());
    }
    let reduced: SubmitEnd;
    if (end.outcome !== null) {
      const o = end.outcome;
      if (fmt === 'json') {
        stderr.write(`${JSON.stringify({ event: 'job_result', ...o, summary: isLegacy(o) ? legacyLine(o) : summaryLine(o), queue_state: end.state })}\n`);
      } else {
        stderr.write(`${isLegacy(o) ? legacyLine(o) : summaryLine(o)}\n`);
      }
      reduced = isLegacy(o)
        ? { kind: 'legacy', exit_code: o.exit_code, signal: o.signal, ...(o.spawn_error ? { spawn_error_code: o.spawn_error.code } : {}) }
        : { kind: 'result', result: o };
    } else {
      const reason = end.failedReason ?? 'no reason given';
      say('job_failed', `job ${data.id} failed without running: ${reason}`, { job_id: data.id, reason });
      reduced = { kind: 'not_run', invalid: reason.startsWith('invalid job data:') };
    }
    return submitExitCode(reduced);
  } finally {
    detach.dispose();
  }
}
