/**
 * The integration helper through the package door (`require('ffrtmp')`), as a program with its own
 * BullMQ worker uses it: executeWithWrapper(job) → the job's Result, journaled, its limits applied;
 * bad data refused naming the field, nothing started. Requiring the package loads no queue client.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import * as ffrtmp from 'ffrtmp';
import { ROOT, testTempDir } from '../helpers';

const stateDir = testTempDir('agent-library');
afterAll(() => fs.rmSync(stateDir, { recursive: true, force: true }));
const cgroups = process.env.FFRTMP_CGROUP_ROOT !== undefined && process.geteuid?.() === 0;

describe("executeWithWrapper, from require('ffrtmp')", () => {
  it('a BullMQ-like job → its Result, journaled, with the limits of its wrapper_constraints; a non-zero exit is a Result, not an error', async () => {
    const job = { id: '17', name: 'ffrtmp', data: { id: 'lib-job', command: 'sh', args: ['-c', 'exit 4'], intent: 'test', wrapper_constraints: { memory_max_mb: 64, cpu_max: '50000 100000' } } };
    const r = await ffrtmp.executeWithWrapper(job, { stateDir });
    expect(r).toMatchObject({ job_id: 'lib-job', mode: 'run', intent: 'test', exit_code: 4, exit_source: 'keeper', platform_sla_reason: 'workload_failed_platform_ok' });
    expect(Object.isFrozen(r)).toBe(true);
    if (cgroups) {
      expect(r.cgroup!.limits.find((l) => l.limit === 'memory.max')).toMatchObject({ applied: true, effective: String(64 * 1024 * 1024) });
    }
    const { records } = ffrtmp.readJournal(stateDir);
    expect(ffrtmp.findResult(records, 'lib-job')).toMatchObject({ exit_code: 4 });
    expect(ffrtmp.findUnfinished(records)).toEqual([]);
  });

  it('bad data: JobDataError naming the field, nothing started or journaled', async () => {
    const before = ffrtmp.readJournal(stateDir).records.length;
    await expect(ffrtmp.executeWithWrapper({ id: 'x', command: 'true', wrapper_constraints: { memory_max_mb: 'lots' } }, { stateDir })).rejects.toMatchObject({
      name: 'JobDataError',
      field: 'wrapper_constraints.memory_max_mb',
      code: 'ERR_USAGE',
    });
    expect(ffrtmp.readJournal(stateDir).records).toHaveLength(before);
  });

  it("require('ffrtmp') loads no queue client (bullmq is loaded only by the agent and the producer functions)", () => {
    const r = spawnSync(process.execPath, ['-e', "require('ffrtmp'); console.log(Object.keys(require.cache).filter((f) => /node_modules\\/(bullmq|ioredis)\\//.test(f)).length)"], { cwd: ROOT, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('0');
  });
});
