/**
 * run() under ffrtmp-keeper, through the real journal: the exit status comes from the keeper, a
 * missing or broken keeper never stops a job (the workload starts directly and the Result says
 * why), and a keeper killed mid-job leaves the workload running and the Result honest.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { run } from '../../src/core/run';
import { Journal } from '../../src/journal/journal';
import { readJournal } from '../../src/journal/reader';
import type { JobRecorder, StartedRecord } from '../../src/journal/types';
import { loadNative } from '../../src/native/load';
import { KEEPER_ENV } from '../../src/native/keeper-path';
import { selectObserver } from '../../src/observer/select';
import { isAlive, killQuietly, testTempDir, waitFor } from '../helpers';

const loaded = loadNative();
const infoExit = loaded.available && loaded.native.capabilities().pidfdInfoExit;
const stateDir = testTempDir('keeper-state');
const scratch = testTempDir('keeper-scratch');
const journal = new Journal({ dir: stateDir });
const leftovers: number[] = [];

afterEach(() => {
  delete process.env[KEEPER_ENV];
  for (const p of leftovers.splice(0)) killQuietly(p);
});
afterAll(() => {
  fs.rmSync(stateDir, { recursive: true, force: true });
  fs.rmSync(scratch, { recursive: true, force: true });
});

/** The journal's recorder, telling us the started record as it is written. */
function recorder(): { rec: JobRecorder; started: Promise<StartedRecord> } {
  const inner = journal.recorder();
  let resolve!: (s: StartedRecord) => void;
  const started = new Promise<StartedRecord>((r) => (resolve = r));
  const rec: JobRecorder = {
    claim: (j) => inner.claim(j),
    release: (ids) => inner.release(ids),
    governed: (id, l) => inner.governed(id, l),
    exitFileFor: (id) => inner.exitFileFor(id),
    started: (s) => {
      inner.started(s);
      resolve(s);
    },
    finished: (r, id) => inner.finished(r, id),
  };
  return { rec, started };
}

const exitsLeft = () => fs.readdirSync(path.join(stateDir, 'exits'));
const parentOf = (pid: number) => Number(fs.readFileSync(`/proc/${pid}/stat`, 'latin1').split(') ')[1]!.split(' ')[1]);

describe.skipIf(!loaded.available)('run() under the keeper', () => {
  it('the keeper reports the status; the started record names it and its exit file; the file is gone once the Result is durable', async () => {
    const { rec, started } = recorder();
    const pending = run({ command: 'sh', args: ['-c', 'sleep 0.2; exit 7'], jobId: 'kept-7', recorder: rec, governance: { enabled: false } });
    const s = await started;
    expect(s.keeper).toMatchObject({ pid: expect.any(Number), start_time_ticks: expect.stringMatching(/^\d+$/) });
    expect(s.keeper!.exit_file).toBe(path.join(path.resolve(stateDir), 'exits', `${s.run_id}.json`));
    expect(parentOf(s.pid)).toBe(s.keeper!.pid);
    const r = await pending;
    expect(r).toMatchObject({ exit_code: 7, signal: null, exit_source: 'keeper', platform_sla_reason: 'workload_failed_platform_ok', keeper: { pid: s.keeper!.pid } });
    expect(exitsLeft()).toEqual([]);
    const line = readJournal(stateDir).records.find((x) => x.type === 'started' && x.run_id === s.run_id);
    expect(line).toMatchObject({ keeper: s.keeper });
  });

  it('keeper: false starts the workload as our direct child, and the Result says so', async () => {
    const { rec, started } = recorder();
    const pending = run({ command: 'sleep', args: ['0.2'], jobId: 'direct', recorder: rec, keeper: false, governance: { enabled: false } });
    const s = await started;
    expect(s.keeper).toBeUndefined();
    expect(parentOf(s.pid)).toBe(process.pid);
    expect(await pending).toMatchObject({ exit_code: 0, exit_source: 'waitid', keeper: { pid: null, why: 'not wanted (--no-keeper, or keeper: false)' } });
  });

  describe('a keeper that is missing or broken never stops the job: the workload starts directly, once, and the Result says why', () => {
    const notExecutable = path.join(scratch, 'keeper-644');
    const garbage = path.join(scratch, 'keeper-garbage');
    fs.writeFileSync(notExecutable, '#!/bin/sh\n');
    fs.chmodSync(notExecutable, 0o644);
    fs.writeFileSync(garbage, 'this is not an executable\n');
    fs.chmodSync(garbage, 0o755);
    it.each([
      ['absent', path.join(scratch, 'no-keeper'), /^FFRTMP_KEEPER: \S+no-keeper does not exist: started directly$/],
      ['not executable', notExecutable, /^FFRTMP_KEEPER: \S+keeper-644 cannot be executed \(EACCES\): started directly$/],
      ['not a program (ENOEXEC at exec time)', garbage, /^\S+keeper-garbage could not be executed \(ENOEXEC\): started directly$/],
      ['a relative path', 'ffrtmp-keeper', /^FFRTMP_KEEPER=ffrtmp-keeper is not an absolute path: started directly$/],
      ['a program that is no keeper (it never reports a workload)', '/bin/true', /^\/bin\/true never reported a workload \(not an ffrtmp-keeper, or it died\): started directly$/],
    ])('%s', async (_name, keeperPath, why) => {
      process.env[KEEPER_ENV] = keeperPath;
      const marker = path.join(scratch, `ran-${path.basename(keeperPath)}`);
      const { rec, started } = recorder();
      const pending = run({ command: 'sh', args: ['-c', `echo x >> ${marker}; exit 4`], jobId: `fallback-${path.basename(keeperPath)}`, recorder: rec, governance: { enabled: false } });
      const s = await started;
      expect(s.keeper).toBeUndefined();
      const r = await pending;
      expect(r).toMatchObject({ exit_code: 4, exit_source: 'waitid', platform_sla_reason: 'workload_failed_platform_ok', keeper: { pid: null } });
      expect(r.keeper!.why).toMatch(why);
      expect(fs.readFileSync(marker, 'utf8')).toBe('x\n'); // started exactly once
    });
  });

  it('without a journal there is no keeper (nobody would read its exit file)', async () => {
    const r = await run({ command: 'true', governance: { enabled: false } });
    expect(r).toMatchObject({ exit_code: 0, exit_source: 'waitid', keeper: { pid: null, why: 'no journal to keep its exit file in' } });
  });

  it('a keeper killed with SIGKILL: the workload lives to its own end, nothing hangs, the Result says what happened and never invents the status', async () => {
    const marker = path.join(scratch, 'survived');
    const { rec, started } = recorder();
    const pending = run({
      command: 'sh', args: ['-c', `sleep 0.6; echo done > ${marker}; exit 6`], jobId: 'keeper-killed', recorder: rec, governance: { enabled: false },
      // the orphaned workload is reaped by PID 1, which PIDFD_INFO_EXIT waits for
      observer: selectObserver({ reapGraceMs: 10_000 }),
    });
    const s = await started;
    leftovers.push(s.pid);
    process.kill(s.keeper!.pid, 'SIGKILL');
    await waitFor(() => !isAlive(s.keeper!.pid) || undefined);
    expect(isAlive(s.pid)).toBe(true);
    const r = await pending;
    expect(fs.readFileSync(marker, 'utf8')).toBe('done\n');
    expect(r.keeper).toEqual({ pid: s.keeper!.pid, problem: expect.stringMatching(/^the keeper was killed by SIGKILL before it recorded the workload's end/) });
    if (infoExit) {
      expect(r).toMatchObject({ exit_code: 6, exit_source: 'pidfd_info', platform_sla_reason: 'workload_failed_platform_ok' });
    } else {
      expect(r).toMatchObject({ exit_code: null, exit_source: 'unknown', platform_sla_reason: 'exit_status_lost' });
    }
    expect(Date.parse(r.end_time) - Date.parse(r.start_time)).toBeGreaterThanOrEqual(550);
    expect(exitsLeft()).toEqual([]);
  }, 30_000);

  it('an exit file that cannot be written (its directory removed): the keeper says so and the status comes from the kernel where it can', async () => {
    const { rec, started } = recorder();
    const exitsDir = path.join(stateDir, 'exits');
    const pending = run({ command: 'sh', args: ['-c', 'sleep 0.5; exit 2'], jobId: 'no-exit-file', recorder: rec, governance: { enabled: false } });
    await started;
    fs.rmSync(exitsDir, { recursive: true, force: true });
    try {
      const r = await pending;
      expect(r.keeper!.problem).toMatch(/^the keeper could not write its exit file; no exit file at /);
      if (infoExit) expect(r).toMatchObject({ exit_code: 2, exit_source: 'pidfd_info' });
      else expect(r).toMatchObject({ exit_code: null, exit_source: 'unknown', platform_sla_reason: 'exit_status_lost' });
    } finally {
      fs.mkdirSync(exitsDir, { recursive: true });
    }
  }, 30_000);

  it('the keeper is in `ps` as ffrtmp-keeper <job-id>', async () => {
    const { rec, started } = recorder();
    const pending = run({ command: 'sleep', args: ['0.5'], jobId: 'ps-visible', recorder: rec, governance: { enabled: false } });
    const s = await started;
    const ps = spawnSync('ps', ['-o', 'args=', '-p', String(s.keeper!.pid)], { encoding: 'utf8' });
    expect(ps.stdout.trim()).toBe('ffrtmp-keeper ps-visible -- sleep 0.5');
    await pending;
  });
});
