/**
 * The keeper as an operator meets it: `ffrtmp run` killed with -9 at any moment, and `ffrtmp
 * recover` still records every job's real exit status (on this kernel as on 6.1: the VM suite runs
 * the same check in test/cgroup-v2/old-kernel.test.ts). Real wrappers, real kills.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { readJournal } from '../../src/journal/reader';
import type { ResultJournalRecord, StartedJournalRecord } from '../../src/journal/types';
import { loadNative } from '../../src/native/load';
import { exited, ffrtmp, isAlive, keeperOf, killQuietly, startFfrtmp, summary, testTempDir, waitFor, workloadNamed } from '../helpers';

const loaded = loadNative();
const infoExit = loaded.available && loaded.native.capabilities().pidfdInfoExit;
const dir = testTempDir('keeper-cli');
const leftovers: number[] = [];
afterEach(() => {
  for (const p of leftovers.splice(0)) killQuietly(p);
});
afterAll(async () => {
  await ffrtmp(['recover', '--state-dir', dir], { timeoutMs: 60_000 });
  fs.rmSync(dir, { recursive: true, force: true });
});

const records = () => readJournal(dir).records;
const startedOf = (jobId: string) => records().find((r): r is StartedJournalRecord => r.type === 'started' && r.job_id === jobId);
const resultsOf = (jobId: string) => records().filter((r): r is ResultJournalRecord => r.type === 'result' && r.job_id === jobId);

describe.skipIf(!loaded.available)('ffrtmp run under the keeper', () => {
  it('kill -9 of the wrapper, then the workload exits 5: recover records exit 5, from the keeper', async () => {
    const w = startFfrtmp(['run', '--state-dir', dir, '--job-id', 'k9-exit5', '--', 'sh', '-c', 'sleep 1; exit 5']);
    const s = await waitFor(() => startedOf('k9-exit5'));
    expect(s.keeper).toBeDefined();
    await waitFor(() => workloadNamed(w.pid!, 'sh')); // recorded first, then exec'd
    w.kill('SIGKILL');
    await exited(w);
    expect(isAlive(s.pid)).toBe(true);
    await waitFor(() => !isAlive(s.pid) || undefined, 10_000); // its own end, unwatched
    const r = await ffrtmp(['recover', '--state-dir', dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(summary(r.stderr)).toMatchObject({ job: 'k9-exit5', sla: 'COMPLIANT', reason: 'workload_failed_platform_ok', exit: '5' });
    const [res, ...more] = resultsOf('k9-exit5');
    expect(more).toEqual([]);
    expect(res).toMatchObject({ run_id: s.run_id, exit_code: 5, signal: null, exit_source: 'keeper', keeper: { pid: s.keeper!.pid }, start_time: s.start_time });
    expect(res!.adopted_by).toBeDefined();
    expect(fs.existsSync(s.keeper!.exit_file)).toBe(false);
  });

  /**
   * `count` wrappers of short jobs (job i: sleep, write marks/i, exit i % 50), in batches, each
   * killed -9 `killAt(i, seconds)` ms after `from` (the workload's exec, or the wrapper's own start).
   */
  async function killedBurst(prefix: string, count: number, marks: string, from: 'exec' | 'spawn', killAt: (seconds: number) => number): Promise<void> {
    const batch = 20;
    for (let b = 0; b < count; b += batch) {
      await Promise.all(
        Array.from({ length: Math.min(batch, count - b) }, async (_, k) => {
          const i = b + k;
          const seconds = 0.2 + ((i * 37) % 10) / 10; // 0.2 .. 1.1 s
          const w = startFfrtmp(['run', '--state-dir', dir, '--job-id', `${prefix}-${i}`, '--', 'sh', '-c', `sleep ${seconds}; echo ${i} > ${marks}/${i}; exit ${i % 50}`]);
          // exec'd: the keeper's child is `sh` (before its exec it is a copy of the keeper)
          if (from === 'exec') await waitFor(() => (w.exitCode !== null ? true : workloadNamed(w.pid!, 'sh')), 20_000, 5);
          await new Promise((r) => setTimeout(r, killAt(seconds)));
          w.kill('SIGKILL');
          await exited(w);
        }),
      );
    }
  }

  it('100 wrappers killed -9 at random moments of 100 short jobs: every workload runs to its own end, recover records 100 real statuses, none twice', async () => {
    const N = 100;
    const marks = testTempDir('keeper-marks');
    try {
      // a random moment of the job, its last instants (and its end) included
      await killedBurst('burst', N, marks, 'exec', (seconds) => Math.random() * (seconds * 1000 + 150));
      const r = await ffrtmp(['recover', '--state-dir', dir], { timeoutMs: 60_000 });
      expect(r.code, r.stderr).toBe(0);
      for (let i = 0; i < N; i++) {
        expect(fs.readFileSync(path.join(marks, String(i)), 'utf8')).toBe(`${i}\n`); // ran to its own end
        const results = resultsOf(`burst-${i}`);
        expect(results, `burst-${i}`).toHaveLength(1);
        expect(results[0], `burst-${i}`).toMatchObject({ exit_code: i % 50, signal: null, exit_source: 'keeper' });
      }
      expect(fs.readdirSync(path.join(dir, 'exits'))).toEqual([]);
      // and recover once more finds nothing left to do
      const again = await ffrtmp(['recover', '--state-dir', dir]);
      expect(again.stderr).not.toMatch(/^JOB burst-/m);
    } finally {
      fs.rmSync(marks, { recursive: true, force: true });
    }
  }, 240_000);

  it('wrappers killed -9 at any moment, their own start included: a workload runs only once its job is recorded, and every one that ran has its one real Result', async () => {
    const N = 40;
    const marks = testTempDir('keeper-marks-any');
    try {
      await killedBurst('any', N, marks, 'spawn', () => Math.random() * 3000); // 20 nodes starting at once take a second or two
      const r = await ffrtmp(['recover', '--state-dir', dir], { timeoutMs: 60_000 });
      expect(r.code, r.stderr).toBe(0);
      const outcomes = { ran: 0, neverRan: 0, neverRecorded: 0 };
      for (let i = 0; i < N; i++) {
        const ran = fs.existsSync(path.join(marks, String(i)));
        const results = resultsOf(`any-${i}`);
        const started = startedOf(`any-${i}`);
        if (ran) {
          outcomes.ran++;
          expect(started, `any-${i}`).toBeDefined(); // recorded before it ran
          expect(results, `any-${i}`).toHaveLength(1);
          expect(results[0], `any-${i}`).toMatchObject({ exit_code: i % 50, exit_source: 'keeper' });
        } else if (started !== undefined) {
          // recorded, then its wrapper died before letting it exec: it never ran, and says so
          outcomes.neverRan++;
          expect(results, `any-${i}`).toHaveLength(1);
          expect(results[0], `any-${i}`).toMatchObject({ pid: null, exit_code: null, exit_source: 'unknown', platform_sla_reason: 'spawn_failed_platform', spawn_error: { code: 'ECANCELED', syscall: 'keeper' } });
        } else {
          outcomes.neverRecorded++; // killed before the job existed: nothing ran, nothing to record
          expect(results, `any-${i}`).toEqual([]);
        }
      }
      console.log(`kills at any moment: ${JSON.stringify(outcomes)}`);
      expect(fs.readdirSync(path.join(dir, 'exits'))).toEqual([]);
    } finally {
      fs.rmSync(marks, { recursive: true, force: true });
    }
  }, 240_000);

  it('wrapper and keeper both killed -9 while the workload runs: recover watches the workload itself and says the keeper was lost', async () => {
    const w = startFfrtmp(['run', '--state-dir', dir, '--job-id', 'both-killed', '--', 'sh', '-c', 'sleep 1.2; exit 9']);
    const s = await waitFor(() => startedOf('both-killed'));
    leftovers.push(s.pid);
    await waitFor(() => workloadNamed(w.pid!, 'sh'));
    w.kill('SIGKILL');
    process.kill(s.keeper!.pid, 'SIGKILL');
    await exited(w);
    await waitFor(() => !isAlive(s.keeper!.pid) || undefined);
    expect(isAlive(s.pid)).toBe(true);
    const r = await ffrtmp(['recover', '--state-dir', dir], { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    const [res] = resultsOf('both-killed');
    expect(res!.keeper).toEqual({ pid: s.keeper!.pid, problem: expect.stringMatching(/^the keeper ended without recording the workload's end \(no exit file at /) });
    expect(res).toMatchObject({ platform_sla_reason: 'observed_to_completion' });
    expect(res).toMatchObject(infoExit ? { exit_code: 9, exit_source: 'pidfd_info' } : { exit_code: null, exit_source: 'unknown' });
  }, 60_000);

  it('--no-keeper: the workload is the wrapper\'s own child, and the Result says why there is no keeper', async () => {
    const w = startFfrtmp(['run', '--state-dir', dir, '--json', '--no-keeper', '--job-id', 'bare', '--', 'sleep', '0.5']);
    const pid = await waitFor(() => workloadNamed(w.pid!, 'sleep'));
    expect(keeperOf(w.pid!)).toBeUndefined();
    expect(fs.readFileSync(`/proc/${pid}/stat`, 'latin1').split(') ')[1]!.split(' ')[1]).toBe(String(w.pid));
    expect(await exited(w)).toMatchObject({ code: 0 });
    const res = JSON.parse(w.output().stderr.split('\n').find((l) => l.startsWith('{'))!);
    expect(res).toMatchObject({ exit_code: 0, exit_source: 'waitid', keeper: { pid: null, why: 'not wanted (--no-keeper, or keeper: false)' } });
  });

  it('doctor says where the keeper is and that it runs', async () => {
    const r = await ffrtmp(['doctor', '--json']);
    const d = JSON.parse(r.stdout) as { checks: { name: string; ok: boolean; severity: string; detail: string }[] };
    const k = d.checks.find((c) => c.name === 'keeper')!;
    expect(k).toMatchObject({ ok: true, severity: 'ok' });
    expect(k.detail).toMatch(/ffrtmp-keeper \(protocol 1\)/);
    const missing = await ffrtmp(['doctor', '--json'], { env: { FFRTMP_KEEPER: '/nonexistent/ffrtmp-keeper' } });
    const m = (JSON.parse(missing.stdout) as typeof d).checks.find((c) => c.name === 'keeper')!;
    expect(m).toMatchObject({ ok: false, severity: 'warning', detail: 'FFRTMP_KEEPER: /nonexistent/ffrtmp-keeper does not exist' });
    expect((await ffrtmp(['doctor'], { env: { FFRTMP_KEEPER: '/nonexistent/ffrtmp-keeper' } })).stdout).toMatch(/^warn {2}keeper: FFRTMP_KEEPER: \/nonexistent\/ffrtmp-keeper does not exist\n {6}costs: /m);
  });
});
