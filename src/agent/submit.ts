/**
 * The producer's side: put a job on a queue for the agents (`ffrtmp submit`, and the library's
 * `submitJob` / `waitForJob` for programs that produce jobs). BullMQ is loaded only when one of
 * these is called, so `require('ffrtmp')` stays light.
 *
 * The queue job's id is the job data's `id`: submitting the same id twice does not run it twice
 * (BullMQ keeps one job per id); `submitJob` refuses an id the queue already has rather than
 * silently returning the old job.
 */
import type { JobState } from 'bullmq';
import { UsageError } from '../model/errors';
import { parseJobData, type JobData } from './job';
import { outcomeFromLogs, type JobOutcome } from './outcome';
import { connectionOptions, redactUrl, validateQueueName, validateRedisUrl } from './redis';

/** How long a producer waits for Redis to answer before giving up (`--connect-timeout`). */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;

/** Redis did not answer within the connect timeout: nothing was queued (or waited for). */
export class RedisUnreachableError extends Error {
  readonly code = 'ERR_REDIS_UNREACHABLE';
}

interface Connectable {
  waitUntilReady(): Promise<unknown>;
  close(): Promise<void>;
  on(event: 'error', listener: (err: Error) => void): unknown;
}

/**
 * Resolves once every client answers; after `timeoutMs` closes them (a connection still
 * initializing is disconnected at once; it would otherwise retry forever: maxRetriesPerRequest null) and throws RedisUnreachableError with the last
 * connection error.
 */
async function connected(url: string, clients: Connectable[], timeoutMs: number): Promise<void> {
  let last: string | null = null;
  for (const c of clients) c.on('error', (err) => (last = (err as NodeJS.ErrnoException).code ?? err.message));
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
  try {
    const r = await Promise.race([Promise.all(clients.map((c) => c.waitUntilReady())), timedOut]);
    if (r !== 'timeout') return;
  } finally {
    clearTimeout(timer);
  }
  await Promise.race([Promise.allSettled(clients.map((c) => c.close())), new Promise((r) => setTimeout(r, 1000).unref())]);
  throw new RedisUnreachableError(`Redis at ${redactUrl(url)} did not answer within ${timeoutMs / 1000} s${last !== null ? ` (${last})` : ''}`);
}

/** The BullMQ job name the agent's jobs are added under (it takes any name). */
export const JOB_NAME = 'ffrtmp';

export interface SubmitOptions {
  redisUrl: string;
  queue: string;
  data: JobData;
  /** Default 5000 ms: then RedisUnreachableError, nothing queued. */
  connectTimeoutMs?: number;
}

/** Validates the data (JobDataError naming the field) and adds it; resolves with the queue job id. */
export async function submitJob(opts: SubmitOptions): Promise<{ queueJobId: string }> {
  validateRedisUrl(opts.redisUrl);
  validateQueueName(opts.queue);
  parseJobData(opts.data);
  const { Queue } = await import('bullmq');
  const queue = new Queue(opts.queue, { connection: connectionOptions(opts.redisUrl) });
  queue.on('error', () => {});
  await connected(opts.redisUrl, [queue], opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
  try {
    const existing = await queue.getJob(opts.data.id);
    if (existing !== undefined) {
      const state = await existing.getState();
      throw new UsageError(`queue ${opts.queue} already has a job ${opts.data.id} (${state}): choose another id (a queue job id is never reused)`);
    }
    // attempts 1: the agent never lets the queue retry (retrying is the producer's decision).
    const job = await queue.add(JOB_NAME, opts.data, { jobId: opts.data.id, attempts: 1 });
    return { queueJobId: String(job.id) };
  } finally {
    await queue.close();
  }
}

export interface WaitOutcome {
  readonly state: Extract<JobState, 'completed' | 'failed'>;
  /** The Result (wrapper path) or legacy outcome, when the job ran. */
  readonly outcome: JobOutcome | null;
  readonly failedReason: string | null;
}

/**
 * Resolves once the queue job has completed or failed, with what the agent told the queue.
 * `signal` stops the wait (rejects with its reason): the job goes on.
 */
export async function waitForJob(opts: { redisUrl: string; queue: string; queueJobId: string; signal?: AbortSignal; connectTimeoutMs?: number }): Promise<WaitOutcome> {
  const { Queue, QueueEvents } = await import('bullmq');
  const connection = connectionOptions(opts.redisUrl);
  const queue = new Queue(opts.queue, { connection });
  const events = new QueueEvents(opts.queue, { connection });
  queue.on('error', () => {});
  events.on('error', () => {});
  await connected(opts.redisUrl, [queue, events], opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
  try {
    const job = await queue.getJob(opts.queueJobId);
    if (job === undefined) throw new UsageError(`queue ${opts.queue} has no job ${opts.queueJobId}`);
    await events.waitUntilReady();
    const finished = job.waitUntilFinished(events).then(
      () => 'completed' as const,
      () => 'failed' as const,
    );
    const aborted = new Promise<never>((_, reject) => {
      if (opts.signal?.aborted) reject(opts.signal.reason);
      opts.signal?.addEventListener('abort', () => reject(opts.signal!.reason), { once: true });
    });
    const state = await Promise.race([finished, aborted]);
    const fresh = (await queue.getJob(opts.queueJobId)) ?? job;
    if (state === 'completed') return { state, outcome: (fresh.returnvalue as JobOutcome | undefined) ?? null, failedReason: null };
    const { logs } = await queue.getJobLogs(opts.queueJobId);
    return { state, outcome: outcomeFromLogs(logs), failedReason: fresh.failedReason ?? null };
  } finally {
    await Promise.allSettled([events.close(), queue.close()]);
  }
}
