/**
 * The published entry point, used the way a program embedding ffrtmp uses it: only through
 * `require('ffrtmp')` (the package's `main`, the built dist/index.js), never by a deep import.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import * as ffrtmp from 'ffrtmp';
import { exited, testTempDir } from './helpers';

const stateDir = testTempDir('library');
afterAll(() => fs.rmSync(stateDir, { recursive: true, force: true }));

describe("the library door: require('ffrtmp')", () => {
  it('run() with limits parsed by parseLimits(), journaled, read back with readJournal()', async () => {
    const journal = new ffrtmp.Journal({ dir: stateDir });
    const limits = ffrtmp.parseLimits({ cpuQuota: '50', memoryMax: '64M' });
    expect(ffrtmp.hasLimits(limits)).toBe(true);
    expect(ffrtmp.formatCpuMax(limits.cpuMax!)).toBe('50000 100000');
    const r = await ffrtmp.run({ command: 'sh', args: ['-c', 'exit 3'], jobId: 'lib-run', intent: 'test', governance: { limits }, recorder: journal.recorder() });
    expect(r).toMatchObject({ job_id: 'lib-run', mode: 'run', exit_code: 3, platform_sla_reason: 'workload_failed_platform_ok', platform_sla_compliant: true });
    // under its keeper, as the agent will run jobs; `keeper: false` for a direct child
    expect(r.exit_source).toBe('keeper');
    const keeper: ffrtmp.KeeperReport | undefined = r.keeper;
    expect(keeper?.pid).toEqual(expect.any(Number));
    const direct = await ffrtmp.run({ command: 'true', jobId: 'lib-direct', keeper: false, recorder: journal.recorder(), governance: { enabled: false } });
    expect(direct).toMatchObject({ exit_source: 'waitid', keeper: { pid: null } });
    expect(Object.isFrozen(r)).toBe(true);
    expect(ffrtmp.summaryLine(r)).toMatch(/^JOB lib-run \| intent=test \| sla=COMPLIANT \| reason=workload_failed_platform_ok \| runtime=0s \| exit=3 \| pid=\d+$/);
    const { records } = ffrtmp.readJournal(stateDir);
    expect(ffrtmp.findResult(records, 'lib-run')).toMatchObject({ exit_code: 3 });
    expect(ffrtmp.findUnfinished(ffrtmp.readJournal(stateDir).records)).toEqual([]);
  });

  it('attach() to a process that is not ours, through the observer the library selects', async () => {
    const target = spawn('sh', ['-c', 'sleep 0.2; exit 7'], { stdio: 'ignore' });
    const [r] = await ffrtmp.attach({ pids: [target.pid!], jobIds: ['lib-attach'], observer: ffrtmp.selectObserver() });
    await exited(target);
    expect(r).toMatchObject({ job_id: 'lib-attach', pid: target.pid, mode: 'attach', platform_sla_reason: 'observed_to_completion' });
  });

  it('bad input is a UsageError, before anything exists', async () => {
    await expect(ffrtmp.run({ command: 'true', jobId: '../x' })).rejects.toBeInstanceOf(ffrtmp.UsageError);
    expect(() => ffrtmp.parseLimits({ cpuWeight: '0' })).toThrow(ffrtmp.UsageError);
    expect(() => ffrtmp.validateJobId('a b')).toThrow(ffrtmp.UsageError);
    expect(ffrtmp.isCompliant('exit_unobserved')).toBe(false);
  });
});
