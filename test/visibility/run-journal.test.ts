/**
 * `ffrtmp run` / `attach` writing the journal, end to end through the built CLI: 50 concurrent
 * runs, kill -9 of a real wrapper then `ffrtmp recover`, a read-only state dir.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJournal } from '../../src/journal/reader';
import { CLI, exited, ffrtmp, killQuietly, startFfrtmp, SUMMARY_LINE, summary, waitFor } from '../helpers';

const canUnshare = spawnSync('unshare', ['-m', 'true'], { stdio: 'ignore' }).status === 0;

let work: string;
beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'ffrtmp-runj-'));
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));
const newDir = (): string => fs.mkdtempSync(path.join(work, 'state-'));

describe('ffrtmp run/attach write the journal', () => {
  it('one started and one result line per run; the exit status is the workload\'s', async () => {
    const dir = newDir();
    const r = await ffrtmp(['run', '--state-dir', dir, '--job-id', 'j1', '--', 'sh', '-c', 'exit 3']);
    expect(r.code).toBe(3);
    const { records, problems } = readJournal(dir);
    expect(problems).toEqual([]);
    expect(records.map((x) => `${x.type}:${x.job_id}`)).toEqual(['started:j1', 'result:j1']);
    expect(records[1]).toMatchObject({ exit_code: 3, platform_sla_reason: 'workload_failed_platform_ok' });
    expect(records[0]!.run_id).toBe(records[1]!.run_id);
  });

  it('50 concurrent `ffrtmp run`: 100 whole lines, every job once', async () => {
    const dir = newDir();
    const runs = await Promise.all(
      Array.from({ length: 50 }, (_, i) => ffrtmp(['run', '--state-dir', dir, '--job-id', `c${i}`, '--', 'sh', '-c', `exit ${i % 3}`], { timeoutMs: 120_000 })),
    );
    runs.forEach((r, i) => expect(r.code).toBe(i % 3));
    const { records, problems } = readJournal(dir);
    expect(problems).toEqual([]);
    expect(records).toHaveLength(100);
    for (let i = 0; i < 50; i++) {
      expect(records.filter((x) => x.job_id === `c${i}`).map((x) => x.type).sort()).toEqual(['result', 'started']);
    }
  }, 180_000);

  it('kill -9 the wrapper mid-job: `ffrtmp recover` records the job once, with its real exit code', async () => {
    const dir = newDir();
    const w = startFfrtmp(['run', '--state-dir', dir, '--job-id', 'killed', '--', 'sh', '-c', 'sleep 1.5; exit 4']);
    const started = await waitFor(() => readJournal(dir).records.find((x) => x.type === 'started'));
    // The keeper lets the workload exec only after the record is written: killed before that
    // go, the job never ran (and recover says so). Kill once it runs `sh`.
    await waitFor(() => {
      try {
        return fs.readFileSync(`/proc/${started.pid}/comm`, 'utf8').trim() === 'sh';
      } catch {
        return false;
      }
    });
    w.kill('SIGKILL');
    await exited(w);
    try {
      const r = await ffrtmp(['recover', '--state-dir', dir]);
      expect(r.code).toBe(0);
      expect(summary(r.stderr).job).toBe('killed');
      const results = readJournal(dir).records.filter((x) => x.type === 'result');
      expect(results).toHaveLength(1);
      // the keeper kept the real status for the adopter, on every kernel
      expect(results[0]).toMatchObject({ job_id: 'killed', run_id: started.run_id, mode: 'run', platform_sla_reason: 'workload_failed_platform_ok', exit_code: 4, exit_source: 'keeper' });
    } finally {
      killQuietly(started.pid);
    }
  }, 20_000);

  // The DEFAULT state dir (no --state-dir, no FFRTMP_STATE_DIR): as root /var/lib/ffrtmp, here on
  // a read-only tmpfs over /var/lib in a private mount namespace. An explicit one that is
  // read-only is a usage error instead (test/cli/state-dir.test.ts).
  it.skipIf(!canUnshare || process.geteuid?.() !== 0)('read-only default state dir: the workload runs, its status is kept, the summary is printed, stderr says not persisted', () => {
    const env: NodeJS.ProcessEnv = { ...process.env, NODE: process.execPath, CLI };
    delete env.FFRTMP_STATE_DIR;
    const r = spawnSync('unshare', ['-m', 'sh', '-ec', `
      mount -t tmpfs -o size=1m tmpfs /var/lib; mkdir /var/lib/ffrtmp; mount -o remount,ro /var/lib
      set +e; "$NODE" "$CLI" run --job-id ro -- sh -c 'exit 7'; echo "@rc $?"`], { env, encoding: 'utf8' });
    expect(r.stdout).toMatch(/^@rc 7$/m);
    expect(r.stderr).toMatch(SUMMARY_LINE);
    expect(r.stderr).toMatch(/^ffrtmp: the Result of job ro was NOT persisted to the journal in \/var\/lib\/ffrtmp \(EROFS/m);
  });
});
