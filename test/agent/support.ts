/**
 * What the agent tests share: a real redis-server of their own (127.0.0.1, a free port, a temp
 * dir, AOF on, nothing saved elsewhere), real `ffrtmp agent` processes, and a producer (BullMQ's
 * Queue, as any producer would use it). Everything is stopped and removed by the suite, pass or
 * fail.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Job, Queue } from 'bullmq';
import { isSameProcessAlive } from '../../src/journal/identity';
import { findUnfinished } from '../../src/journal/query';
import { readJournal } from '../../src/journal/reader';
import type { JournalRecord, ResultJournalRecord } from '../../src/journal/types';
import { exited, freePort, killQuietly, recoverJobs, startFfrtmp, testTempDir, waitFor } from '../helpers';

export const haveRedis = spawnSync('sh', ['-c', 'command -v redis-server']).status === 0;
if (!haveRedis) console.warn('SKIPPED agent tests: needs redis-server (apt-get install redis-server)');

export interface TestRedis {
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  /** Stops the server (its data stays: AOF in `dir`), for tests of an outage. */
  down(): Promise<void>;
  /** Starts it again on the same port and dir. */
  up(): Promise<void>;
  /** Stops it and removes its dir. */
  stop(): Promise<void>;
}

async function redisServer(port: number, dir: string): Promise<ReturnType<typeof spawn>> {
  const proc = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--daemonize', 'no', '--maxmemory-policy', 'noeviction'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  try {
    await waitFor(() => out.includes('Ready to accept connections') || proc.exitCode !== null, 10_000);
    if (proc.exitCode !== null) throw new Error(`redis-server exited ${proc.exitCode}:\n${out}`);
  } catch (err) {
    killQuietly(proc.pid);
    throw err;
  }
  return proc;
}

/** Starts a private redis-server (a free port on 127.0.0.1, a temp dir, AOF) once it accepts connections. */
export async function startRedis(): Promise<TestRedis> {
  const dir = testTempDir('redis');
  const port = await freePort();
  let proc: ReturnType<typeof spawn> | null;
  try {
    proc = await redisServer(port, dir);
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const down = async (): Promise<void> => {
    const p = proc;
    proc = null;
    if (p !== null && p.exitCode === null && p.signalCode === null) {
      p.kill('SIGTERM');
      await exited(p);
    }
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    down,
    up: async () => {
      if (proc === null) proc = await redisServer(port, dir);
    },
    stop: async () => {
      await down();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export type AgentProcess = ReturnType<typeof startFfrtmp>;

export interface AgentArgs {
  redis: TestRedis;
  queue: string;
  stateDir: string;
  concurrency?: number;
  workerId?: string;
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  extra?: string[];
  env?: NodeJS.ProcessEnv;
}

/** Starts `ffrtmp agent` and resolves once its start banner is out. */
export async function startAgent(a: AgentArgs, children: AgentProcess[]): Promise<AgentProcess> {
  const child = startFfrtmp(
    [
      'agent', '--redis', a.redis.url, '--queue', a.queue, '--state-dir', a.stateDir,
      '--concurrency', String(a.concurrency ?? 1), '--worker-id', a.workerId ?? 'test-node',
      '--lock-duration', String(a.lockDurationMs ?? 5000), '--stalled-interval', String(a.stalledIntervalMs ?? 1000),
      ...(a.extra ?? []),
      // One node, many test agents: each test that wants the endpoint gives its own --listen.
      ...((a.extra ?? []).includes('--listen') ? [] : ['--no-listen']),
    ],
    a.env,
  );
  children.push(child);
  await waitFor(() => child.output().stderr.includes('agent_started') || child.output().stderr.includes('taking jobs from') || child.exitCode !== null, 20_000);
  if (child.exitCode !== null) throw new Error(`agent exited ${child.exitCode}:\n${child.output().stderr}`);
  return child;
}

/** A producer on `queue` (closed by the suite). */
export function producer(redis: TestRedis, queue: string): Queue {
  const q = new Queue(queue, { connection: { url: redis.url, maxRetriesPerRequest: null } });
  q.on('error', () => {});
  return q;
}

/** Waits until the queue job is completed or failed; resolves with the job as it then stands. */
export async function finished(q: Queue, id: string, timeoutMs = 30_000): Promise<{ job: Job; state: string; logs: string[] }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await q.getJob(id);
    const state = job ? await job.getState() : 'missing';
    // Read again once it has ended: the job read before the state may predate the end.
    if (job && (state === 'completed' || state === 'failed')) return { job: (await q.getJob(id))!, state, logs: (await q.getJobLogs(id)).logs };
    if (Date.now() > deadline) throw new Error(`queue job ${id} is still ${state} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const records = (stateDir: string): JournalRecord[] => readJournal(stateDir).records;
export const resultsOf = (stateDir: string, jobId: string): ResultJournalRecord[] =>
  records(stateDir).filter((r): r is ResultJournalRecord => r.type === 'result' && r.job_id === jobId);

/** The agent's ledger entries (src/agent/ledger.ts). */
export function ledger(stateDir: string): Record<string, unknown>[] {
  const dir = path.join(stateDir, 'agent', 'jobs');
  let names: string[] = [];
  try {
    names = fs.readdirSync(dir).filter((n) => n.endsWith('.json'));
  } catch {
    return [];
  }
  return names.flatMap((n) => {
    try {
      return [JSON.parse(fs.readFileSync(path.join(dir, n), 'utf8')) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

/** Lines of a file the workloads append to (one per run), or [] when it does not exist yet. */
export function lines(file: string): string[] {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

/**
 * End of a suite: stop the agents (SIGTERM), end every workload a failed test may have left
 * (pids noted by the test), record the ends of the jobs left open and remove their cgroups
 * (`ffrtmp recover`), remove the state dirs, stop Redis.
 */
export async function cleanup(opts: { children: AgentProcess[]; pids: number[]; stateDirs: string[]; queues: Queue[]; redis?: TestRedis }): Promise<void> {
  for (const c of opts.children.splice(0)) {
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGTERM');
      const t = setTimeout(() => killQuietly(c.pid), 10_000);
      await exited(c);
      clearTimeout(t);
    }
  }
  for (const p of opts.pids.splice(0)) killQuietly(p);
  for (const d of opts.stateDirs) {
    if (fs.existsSync(d)) {
      for (const e of ledger(d)) if (typeof e.pid === 'number') killQuietly(e.pid);
      for (const s of findUnfinished(records(d))) if (isSameProcessAlive(s.identity)) killQuietly(s.pid); // recover would wait for them
      await recoverJobs(d).catch(() => undefined);
    }
    fs.rmSync(d, { recursive: true, force: true });
  }
  await Promise.allSettled(opts.queues.splice(0).map((q) => q.close()));
  await opts.redis?.stop();
}

/** waitFor with an async probe. */
export async function eventually<T>(probe: () => Promise<T | undefined | null | false>, timeoutMs = 10_000, stepMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`eventually: timed out after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
