import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { identityOf, readStartTimeTicks } from '../../src/journal/identity';
import { Journal } from '../../src/journal/journal';
import { readJournal } from '../../src/journal/reader';
import type { ProcessIdentity, StartedRecord } from '../../src/journal/types';
import { selectObserver } from '../../src/observer/select';
import { claimOrphan } from '../../src/recover/claims';
import { recover, scanOrphans } from '../../src/recover/recover';
import { runIdOf } from '../support/fixtures';
import { FAKE_WRAPPER_JS, useJournalChildren } from '../support/transpile-journal';

let dir: string;
const cleanup: ChildProcess[] = [];

const kids = useJournalChildren('recover', { fake: FAKE_WRAPPER_JS });
afterEach(() => {
  for (const c of cleanup.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

function freshDir(): string {
  dir = kids.stateDir();
  return dir;
}

/** Starts a fake wrapper running `cmd`, kills it with SIGKILL once the started record is written. */
async function crashedWrapper(jobId: string, cmd: string): Promise<number> {
  const w = spawn(process.execPath, [kids.scripts.fake, kids.moduleDir, dir, jobId, cmd], { stdio: ['ignore', 'pipe', 'inherit'] });
  cleanup.push(w);
  const line = await new Promise<string>((resolve, reject) => {
    let buf = '';
    w.stdout!.on('data', (d) => {
      buf += d;
      if (buf.includes('\n')) resolve(buf.split('\n')[0]!);
    });
    w.on('error', reject);
  });
  const { pid, persisted } = JSON.parse(line) as { pid: number; persisted: { started: boolean } };
  expect(persisted.started).toBe(true);
  const gone = new Promise((r) => w.on('exit', r));
  w.kill('SIGKILL');
  await gone;
  return pid;
}

function started(job_id: string, pid: number, start: string | null, wrapper: ProcessIdentity = { pid: 999_999, start_time_ticks: '1' }): StartedRecord & { wrapper: ProcessIdentity } {
  return { type: 'started', run_id: runIdOf(job_id), job_id, pid, mode: 'attach', identity: { pid, start_time_ticks: start }, cgroup: null, start_time: new Date(Date.now() - 5000).toISOString(), wrapper };
}

describe('recover: adoption after a wrapper crash', () => {
  it('kill -9 the wrapper mid-job: recover re-attaches and records the job once, with the real exit where the kernel has PIDFD_INFO_EXIT', async () => {
    freshDir();
    const pid = await crashedWrapper('crash-1', 'sleep 1.5; exit 7');
    expect(readStartTimeTicks(pid)).not.toBeNull(); // the workload survived its wrapper
    const before = scanOrphans(dir);
    expect(before.orphans.map((o) => o.job_id)).toEqual(['crash-1']);

    const observer = selectObserver();
    const adopted: string[] = [];
    const report = await recover({ stateDir: dir, observer, onAdopted: (o) => adopted.push(o.job_id) });
    expect(adopted).toEqual(['crash-1']);
    expect(report.outcomes).toHaveLength(1);
    const o = report.outcomes[0]!;
    expect(o.kind).toBe('observed');
    if (o.kind !== 'observed') return;
    expect(o.result).toMatchObject({ job_id: 'crash-1', pid, mode: 'run', intent: 'test', platform_sla_compliant: true, platform_sla_reason: 'observed_to_completion' });
    expect(o.result.processing_seconds).toBeGreaterThan(1);
    const infoExit = observer.backend === 'pidfd' && /PIDFD_INFO_EXIT$/.test(observer.why);
    console.log(`adopted exit on this kernel (${os.release()}, ${observer.backend}): exit_code=${o.result.exit_code} source=${o.result.exit_source}`);
    if (infoExit) expect(o.result).toMatchObject({ exit_code: 7, signal: null, exit_source: 'pidfd_info' });

    const { records } = readJournal(dir);
    const results = records.filter((r) => r.type === 'result');
    expect(results).toHaveLength(1);
    expect(results[0]).toMatchObject({ run_id: before.orphans[0]!.run_id, adopted_by: identityOf(process.pid) });
    expect(fs.readdirSync(path.join(dir, 'claims'))).toEqual([]);
    // a second recover finds nothing to do
    const again = await recover({ stateDir: dir, observer });
    expect(again.outcomes).toEqual([]);
    expect(readJournal(dir).records.filter((r) => r.type === 'result')).toHaveLength(1);
  }, 20_000);

  it('orphan whose process is gone: one exit_unobserved violation, exit unknown', async () => {
    freshDir();
    const pid = await crashedWrapper('gone-1', 'exit 3');
    for (let i = 0; i < 100 && readStartTimeTicks(pid) !== null; i++) await new Promise((r) => setTimeout(r, 20));
    const report = await recover({ stateDir: dir });
    expect(report.outcomes.map((o) => [o.kind, 'why' in o ? o.why : null])).toEqual([['unobserved', 'gone']]);
    const results = readJournal(dir).records.filter((r) => r.type === 'result');
    expect(results).toHaveLength(1);
    expect(results[0]).toMatchObject({
      job_id: 'gone-1', pid, exit_code: null, signal: null, exit_source: 'unknown',
      platform_sla_compliant: false, platform_sla_reason: 'exit_unobserved',
    });
    expect((await recover({ stateDir: dir })).outcomes).toEqual([]);
  });

  it('a reused PID is never adopted: the live process is left alone, the job gets exit_unobserved', async () => {
    freshDir();
    const other = spawn('sleep', ['30'], { stdio: 'ignore' });
    cleanup.push(other);
    const real = readStartTimeTicks(other.pid!)!;
    const j = new Journal({ dir });
    // the recorded process had the same pid but started at another time
    j.append({ ...started('reused', other.pid!, String(BigInt(real) - 1n)), v: 1 });
    j.append({ ...started('unknown-id', 2 ** 22 - 7, null), v: 1 });
    const report = await recover({ stateDir: dir });
    const whys = Object.fromEntries(report.outcomes.map((o) => [o.orphan.job_id, 'why' in o ? `${o.kind}/${o.why}` : o.kind]));
    expect(whys).toEqual({ reused: 'unobserved/pid_reused', 'unknown-id': 'unobserved/identity_unknown' });
    expect(other.exitCode).toBeNull();
    expect(readStartTimeTicks(other.pid!)).toBe(real);
  });

  it('jobs whose wrapper is alive are in flight, not orphans', async () => {
    freshDir();
    const j = new Journal({ dir });
    j.append({ ...started('mine', process.pid, readStartTimeTicks(process.pid), identityOf(process.pid)), v: 1 });
    const report = await recover({ stateDir: dir });
    expect(report.inFlight.map((r) => r.job_id)).toEqual(['mine']);
    expect(report.outcomes).toEqual([]);
  });

  it('a job claimed by another live process is skipped; a dead claimant is superseded; two recovers in one process adopt once', async () => {
    freshDir();
    const j = new Journal({ dir });
    j.append({ ...started('claimed', 2 ** 22 - 9, '5'), v: 1 });
    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
    cleanup.push(sleeper);
    expect(claimOrphan(dir, runIdOf('claimed'), 'claimed', { owner: identityOf(sleeper.pid!) })).toMatchObject({ claimed: true, generation: 0 });
    const skipped = await recover({ stateDir: dir });
    expect(skipped.outcomes.map((o) => [o.kind, 'why' in o ? o.why : null])).toEqual([['skipped', 'claimed_by_other']]);
    sleeper.kill('SIGKILL');
    await new Promise((r) => sleeper.on('exit', r));
    spawnSync('true');
    const [a, b] = await Promise.all([recover({ stateDir: dir }), recover({ stateDir: dir })]);
    // whichever runs second either finds no orphan any more or finds it claimed/recorded
    const kinds = [...a.outcomes, ...b.outcomes].map((o) => o.kind).filter((k) => k !== 'skipped');
    expect(kinds).toEqual(['unobserved']);
    expect(readJournal(dir).records.filter((r) => r.type === 'result')).toHaveLength(1);
  });

  it('two recovers at once in one process on a live orphan: it is adopted once (the second pass leaves it to the first); one Result', async () => {
    freshDir();
    await crashedWrapper('twice', 'sleep 1; exit 0');
    const [a, b] = await Promise.all([recover({ stateDir: dir }), recover({ stateDir: dir })]);
    const all = [...a.outcomes, ...b.outcomes].map((o) => ('why' in o ? `${o.kind}/${o.why}` : o.kind)).sort();
    expect(all).toEqual(['observed']);
    expect(readJournal(dir).records.filter((r) => r.type === 'result')).toHaveLength(1);
  }, 20_000);

  it('claims: exactly one of many contenders wins a generation', () => {
    freshDir();
    const owners = Array.from({ length: 20 }, (_, i) => ({ pid: 100 + i, start_time_ticks: String(i) }));
    const outcomes = owners.map((owner) => claimOrphan(dir, 'r-x', 'x', { owner, isAlive: () => true }));
    expect(outcomes.filter((o) => o.claimed)).toHaveLength(1);
    // all dead: each contender supersedes the previous generation in turn
    const gens = owners.map((owner) => claimOrphan(dir, 'r-y', 'y', { owner, isAlive: () => false }));
    expect(gens.map((g) => (g.claimed ? g.generation : -1))).toEqual(owners.map((_, i) => i));
  });
});
