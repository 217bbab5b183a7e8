/**
 * Capabilities route by queue: `--capabilities nvenc` (or CAPABILITIES) adds `<queue>-nvenc`, so a
 * job put there waits until a node that said `nvenc` takes it; a node without it never fetches it
 * (nothing is refused, nothing is put back: "never twice" stays as simple as one queue).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capabilityQueues, parseCapabilities } from '../../src/cli/actions/agent';
import { ffrtmp, testTempDir } from '../helpers';
import { cleanup, finished, haveRedis, producer, startAgent, startRedis, type AgentProcess, type TestRedis } from './support';

let redis: TestRedis;
const children: AgentProcess[] = [];
const queues: Queue[] = [];
const out = testTempDir('agent-caps');
const plain = path.join(out, 'state-plain');
const gpu = path.join(out, 'state-gpu');

beforeAll(async () => {
  if (haveRedis) redis = await startRedis();
});
afterAll(async () => {
  await cleanup({ children, pids: [], stateDirs: [plain, gpu], queues, redis });
  fs.rmSync(out, { recursive: true, force: true });
});

describe('capability queues', () => {
  it('each capability adds <queue>-<capability> for every queue; bad names are usage errors', () => {
    expect(capabilityQueues(['transcode', 'live'], parseCapabilities(' h264, nvenc,h264'))).toEqual(['transcode', 'live', 'transcode-h264', 'transcode-nvenc', 'live-h264', 'live-nvenc']);
    expect(parseCapabilities(undefined)).toEqual([]);
    expect(() => parseCapabilities('a:b')).toThrow(/"?a:b"? is not a capability name/);
  });

  it.skipIf(!haveRedis)('a job on transcode-nvenc waits while only a node without nvenc runs; a node started with CAPABILITIES=nvenc takes it; the banner names the capabilities', async () => {
    const q = producer(redis, 'transcode-nvenc');
    queues.push(q);
    const a = await startAgent({ redis, queue: 'transcode', stateDir: plain, workerId: 'plain' }, children);
    expect(a.output().stderr).toContain('taking jobs from queue transcode on');
    await q.add('ffrtmp', { id: 'needs-gpu', command: 'sh', args: ['-c', 'exit 0'] }, { jobId: 'needs-gpu' });
    await new Promise((r) => setTimeout(r, 1500));
    expect(await (await q.getJob('needs-gpu'))!.getState()).toBe('waiting');

    const b = await startAgent({ redis, queue: 'transcode', stateDir: gpu, workerId: 'gpu', env: { CAPABILITIES: 'nvenc' } }, children);
    expect(b.output().stderr).toContain('taking jobs from queues transcode, transcode-nvenc on');
    expect(b.output().stderr).toContain('(capabilities nvenc)');
    const f = await finished(q, 'needs-gpu');
    expect(f.state).toBe('completed');
    expect(f.job.processedBy).toBe('gpu');
  });

  it('a capability that makes a bad queue name is refused at start (exit 2)', async () => {
    const r = await ffrtmp(['agent', '--redis', 'redis://127.0.0.1:1', '--queue', 'q', '--capabilities', 'h264,n@v', '--no-listen', '--state-dir', path.join(out, 'never')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/"?n@v"? is not a capability name/);
  });
});
