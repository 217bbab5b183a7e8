/**
 * The BullMQ facts the agent's crash safety stands on, measured against a real redis-server with
 * the bullmq this package installs (docs/agent.md "Facts measured here"). If an upgrade of bullmq
 * changes one of them, this file says which before the agent tests do.
 *
 * A "killed worker" is a real process that takes a job and is killed with -9.
 */
import { spawn } from 'node:child_process';
import { Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exited } from '../helpers';
import { haveRedis, startRedis, type TestRedis } from './support';

let redis: TestRedis;
const closers: (() => Promise<unknown>)[] = [];
beforeAll(async () => {
  if (haveRedis) redis = await startRedis();
});
afterAll(async () => {
  for (const c of closers.splice(0).reverse()) await c().catch(() => undefined);
  await redis?.stop();
});

const conn = () => ({ url: redis.url, maxRetriesPerRequest: null });
function queue(name: string): Queue {
  const q = new Queue(name, { connection: conn() });
  q.on('error', () => {});
  closers.push(() => q.close());
  return q;
}
function worker(name: string, opts: Record<string, unknown> = {}, processor: ((j: Job) => Promise<unknown>) | null = null): Worker {
  const w = new Worker(name, processor, { connection: conn(), ...opts });
  w.on('error', () => {});
  closers.push(() => w.close(true));
  return w;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A separate process takes the next job of `name` with `token`, says so, and is killed -9. */
async function takeAndDie(name: string, token: string, lockDuration: number): Promise<string> {
  const bullmq = require.resolve('bullmq');
  const child = spawn(process.execPath, ['-e', `
    const { Worker } = require(${JSON.stringify(bullmq)});
    const w = new Worker(${JSON.stringify(name)}, null, { connection: { url: ${JSON.stringify(redis.url)}, maxRetriesPerRequest: null }, lockDuration: ${lockDuration} });
    w.on('error', () => {});
    w.getNextJob(${JSON.stringify(token)}).then((j) => console.log('took ' + j.id));
  `], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  for (let i = 0; i < 400 && !out.includes('took'); i++) await sleep(25);
  child.kill('SIGKILL');
  await exited(child);
  const id = /took (\S+)/.exec(out)?.[1];
  if (id === undefined) throw new Error('the worker process took no job');
  return id;
}

describe.skipIf(!haveRedis)('BullMQ facts (measured here, with a real Redis)', () => {
  it('maxStalledCount 0: the stalled check puts the job of a killed worker back to wait marked to fail; the worker that fetches it fails it instead of running it. With 1 it runs twice', async () => {
    for (const maxStalledCount of [0, 1]) {
      const name = `stall-${maxStalledCount}`;
      const q = queue(name);
      await q.add('j', {}, { attempts: 1 });
      const id = await takeAndDie(name, 'tok', 500);
      // A worker that only runs the stalled check (manual mode: it fetches nothing).
      const checker = worker(name, { maxStalledCount, stalledInterval: 200, lockDuration: 500 });
      await checker.startStalledCheckTimer();
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline && (await (await q.getJob(id))!.getState()) !== 'waiting') await sleep(50);
      const back = (await q.getJob(id))!;
      expect(await back.getState()).toBe('waiting');
      expect(back.deferredFailure).toBe(maxStalledCount === 0 ? 'job stalled more than allowable limit' : undefined);
      await checker.close(true);
      // Whoever fetches it next decides: BullMQ's processor mode honours the mark.
      const runs: { attemptsStarted: number; attemptsMade: number }[] = [];
      worker(name, { maxStalledCount, stalledInterval: 200, lockDuration: 500 }, async (j) => {
        runs.push({ attemptsStarted: j.attemptsStarted, attemptsMade: j.attemptsMade });
      });
      let state = '';
      while (Date.now() < deadline && state !== 'failed' && state !== 'completed') {
        await sleep(50);
        state = await (await q.getJob(id))!.getState();
      }
      const job = (await q.getJob(id))!;
      if (maxStalledCount === 0) {
        expect(state).toBe('failed');
        expect(job.failedReason).toBe('job stalled more than allowable limit');
        expect(runs).toEqual([]);
      } else {
        expect(state).toBe('completed');
        // it ran twice: the killed worker's run, and this one; which the job shows only as a
        // second start without a finish (attemptsStarted 2, attemptsMade 0)
        expect(runs).toEqual([{ attemptsStarted: 2, attemptsMade: 0 }]);
      }
    }
  });

  it('extendLock with a persisted token re-takes the lock while its key holds that token; after it expired, the queue refuses the end ("Missing lock") but takes logs and data', async () => {
    const q = queue('relock');
    const w = worker('relock', { lockDuration: 2000 });
    await q.add('in-time', {}, { attempts: 1 });
    const a = await takeAndDie('relock', 'persisted-a', 2000);
    const ja = (await Job.fromId(w, a))!;
    expect(await ja.extendLock('another-token', 2000)).toBe(0);
    expect(await ja.extendLock('persisted-a', 2000)).toBe(1);
    await ja.moveToCompleted({ exit_code: 0 }, 'persisted-a', false);
    expect(await ja.getState()).toBe('completed');
    expect((await q.getJob(a))!.returnvalue).toEqual({ exit_code: 0 });

    await q.add('too-late', {}, { attempts: 1 });
    const b = await takeAndDie('relock', 'persisted-b', 500);
    await sleep(800);
    const jb = (await Job.fromId(w, b))!;
    expect(await jb.getState()).toBe('active'); // no stalled check ran yet: still active, lock gone
    expect(await jb.extendLock('persisted-b', 2000)).toBe(0);
    await expect(jb.moveToCompleted({ exit_code: 0 }, 'persisted-b', false)).rejects.toThrow(/Missing lock/);
    await expect(jb.moveToFailed(new UnrecoverableError('x'), 'persisted-b', false)).rejects.toThrow(/Missing lock/);
    expect(await jb.log('ffrtmp-result {}')).toBe(1); // no lock needed
    await jb.updateData({ late: true });
    expect((await q.getJob(b))!.data).toEqual({ late: true });
  });

  it('worker.close() waits for a running job (no timeout); close(true) returns at once', async () => {
    for (const force of [false, true]) {
      const name = `close-${force}`;
      const q = queue(name);
      await q.add('slow', {});
      let started = 0;
      const w = new Worker(name, async () => {
        started = Date.now();
        await sleep(1500);
      }, { connection: conn() });
      w.on('error', () => {});
      while (started === 0) await sleep(10);
      const t0 = Date.now();
      await w.close(force);
      const took = Date.now() - t0;
      if (force) expect(took).toBeLessThan(300);
      else expect(took).toBeGreaterThan(1200);
    }
    await sleep(1500); // the forced one's processor ends by itself
  });

  it('UnrecoverableError fails a job with attempts left at once; job.retry() does not reset attemptsStarted', async () => {
    const q = queue('unrec');
    const w = worker('unrec');
    await q.add('j', {}, { attempts: 3 });
    const j = await w.getNextJob('t1');
    await j.moveToFailed(new UnrecoverableError('invalid job data: command: required'), 't1', false);
    const failed = (await q.getJob(j.id!))!;
    expect(await failed.getState()).toBe('failed');
    expect(failed).toMatchObject({ attemptsMade: 1, attemptsStarted: 1, failedReason: 'invalid job data: command: required' });
    await failed.retry();
    const again = await w.getNextJob('t2');
    // a producer's retry: started twice, finished once (a stalled re-run: started twice, finished never)
    expect(again).toMatchObject({ id: j.id, attemptsStarted: 2, attemptsMade: 1 });
    await again.moveToCompleted('ok', 't2', false);
  });

  it('a Worker needs maxRetriesPerRequest: null: BullMQ overrides it in options (saying so on stderr) and refuses an ioredis instance without it', async () => {
    const IORedis = (await import('ioredis')).default;
    const said: string[] = [];
    const error = console.error;
    console.error = (...a: unknown[]) => void said.push(a.join(' '));
    try {
      const w = new Worker('mrpr', null, { connection: { url: redis.url, maxRetriesPerRequest: 20 } });
      w.on('error', () => {});
      closers.push(() => w.close(true));
      await w.waitUntilReady();
    } finally {
      console.error = error;
    }
    expect(said.join('\n')).toMatch(/maxRetriesPerRequest must be null and will be overridden/);
    const client = new IORedis(redis.url, { maxRetriesPerRequest: 20 });
    closers.push(async () => client.disconnect());
    expect(() => new Worker('mrpr', null, { connection: client })).toThrow(/maxRetriesPerRequest must be null/);
  });

  it('BullMQ warns when Redis may evict keys (maxmemory-policy must be noeviction)', async () => {
    const IORedis = (await import('ioredis')).default;
    const admin = new IORedis(redis.url);
    closers.push(async () => admin.disconnect());
    expect(await admin.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'noeviction']);
    await admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
    const warned: string[] = [];
    const warn = console.warn;
    console.warn = (...a: unknown[]) => void warned.push(a.join(' '));
    try {
      const q = new Queue('evict', { connection: conn() });
      q.on('error', () => {});
      await q.waitUntilReady();
      await q.add('x', {});
      await q.close();
    } finally {
      console.warn = warn;
      await admin.config('SET', 'maxmemory-policy', 'noeviction');
    }
    expect(warned.join('\n')).toMatch(/Eviction policy is allkeys-lru\. It should be "noeviction"/);
  });
});
