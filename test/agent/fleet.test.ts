/**
 * A fleet: two agents (two nodes: each its own state dir) on one queue, concurrency 2 each, 20
 * jobs on the wrapper path. The queue distributes them; each job runs once, on one node, with a
 * correct Result, and no node ever holds more than 2 at once.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Result } from '../../src/model/result';
import { summaries, testTempDir } from '../helpers';
import { cleanup, finished, haveRedis, ledger, lines, producer, records, startAgent, startRedis, type AgentProcess, type TestRedis } from './support';

let redis: TestRedis;
const children: AgentProcess[] = [];
const queues: Queue[] = [];
const out = testTempDir('agent-fleet');
const stateDirs = [path.join(out, 'node-1'), path.join(out, 'node-2')];

beforeAll(async () => {
  if (haveRedis) redis = await startRedis();
});
afterAll(async () => {
  await cleanup({ children, pids: [], stateDirs, queues, redis });
  fs.rmSync(out, { recursive: true, force: true });
});

/** The most Results of one node whose [start, end] overlap at any instant. */
function maxOverlap(results: Pick<Result, 'start_time' | 'end_time'>[]): number {
  const edges = results.flatMap((r) => [
    [Date.parse(r.start_time), 1],
    [Date.parse(r.end_time), -1],
  ] as [number, number][]);
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]); // an end before a start at the same instant
  let now = 0;
  let max = 0;
  for (const [, d] of edges) max = Math.max(max, (now += d));
  return max;
}

describe.skipIf(!haveRedis)('a fleet on one queue', () => {
  it('two agents × concurrency 2 × 20 jobs: each job ran once, on one node, with its own Result; no node held more than 2 at once', async () => {
    const q = producer(redis, 'fleet');
    queues.push(q);
    const agents = [];
    for (const [i, dir] of stateDirs.entries()) {
      agents.push(await startAgent({ redis, queue: 'fleet', stateDir: dir, concurrency: 2, workerId: `node-${i + 1}` }, children));
    }
    const marker = path.join(out, 'runs');
    const ids = Array.from({ length: 20 }, (_, i) => `fleet-${i}`);
    await q.addBulk(
      ids.map((id, i) => ({
        name: 'ffrtmp',
        data: { id, command: 'sh', args: ['-c', `echo "$JOB" >> ${marker}; sleep 0.2; exit ${i % 4}`], env: { JOB: id }, wrapper_enabled: true },
        opts: { jobId: id },
      })),
    );
    const ends = await Promise.all(ids.map((id) => finished(q, id, 50_000)));

    // Each ran once.
    expect(lines(marker).sort()).toEqual([...ids].sort());
    // Each ended as its own exit code says, with its own Result, on the node that took it.
    const byNode = stateDirs.map((d) => records(d).filter((r) => r.type === 'result'));
    for (const [i, { job, state, logs }] of ends.entries()) {
      const exit = i % 4;
      expect(state, job.id).toBe(exit === 0 ? 'completed' : 'failed');
      expect(job.attemptsStarted).toBe(1);
      const result = (exit === 0 ? job.returnvalue : JSON.parse(logs.at(-1)!.replace(/^ffrtmp-result /, ''))) as Result;
      expect(result).toMatchObject({ job_id: job.id, exit_code: exit, platform_sla_compliant: true });
      const holders = byNode.map((rs) => rs.filter((r) => r.job_id === job.id).length);
      expect(holders.sort(), job.id).toEqual([0, 1]);
      const node = byNode.findIndex((rs) => rs.some((r) => r.job_id === job.id));
      expect(job.processedBy).toBe(`node-${node + 1}`);
    }
    expect(byNode[0]!.length + byNode[1]!.length).toBe(20);
    for (const rs of byNode) expect(maxOverlap(rs)).toBeLessThanOrEqual(2);
    // Both nodes worked (the queue distributes; with 20 jobs of 0.2 s one node alone would be late).
    expect(byNode.map((rs) => rs.length > 0)).toEqual([true, true]);
    for (const [i, a] of agents.entries()) expect(summaries(a.output().stderr)).toHaveLength(byNode[i]!.length);
    for (const d of stateDirs) expect(ledger(d)).toEqual([]);
  });
});
