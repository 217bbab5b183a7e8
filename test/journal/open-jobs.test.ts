/**
 * The node's open jobs (src/journal/open-jobs.ts): claims, the older-claim-wins rule, what counts
 * as open, and the recorder keeping the index in step with the journal.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { identityOf } from '../../src/journal/identity';
import { Journal } from '../../src/journal/journal';
import { isOpen, OpenJobs } from '../../src/journal/open-jobs';
import type { ProcessIdentity } from '../../src/journal/types';
import { exited, testTempDir } from '../helpers';
import { aResult, aStarted, runIdOf } from '../support/fixtures';

let dir: string;
beforeEach(() => {
  dir = testTempDir('open-jobs');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const me = identityOf(process.pid);
const dead: ProcessIdentity = { pid: 2 ** 22 - 3, start_time_ticks: '1' };
const claim = (job_id: string, run = runIdOf(`${job_id}-${Math.random()}`)) => ({ run_id: run, job_id, mode: 'run' as const });

describe('open jobs', () => {
  it('a claim holds its job id until released; other ids are free', () => {
    const open = new OpenJobs(dir);
    const a = claim('cam-1');
    expect(open.claim([a], me, 1000)).toEqual([]);
    expect(open.claim([claim('cam-2')], me, 1001)).toEqual([]);
    const held = open.claim([claim('cam-1')], me, 1002);
    expect(held.map((h) => [h.job_id, h.run_id])).toEqual([['cam-1', a.run_id]]);
    expect(open.list().map((e) => e.job_id).sort()).toEqual(['cam-1', 'cam-2']); // the loser left nothing
    open.release(a.run_id);
    expect(open.claim([claim('cam-1')], me, 1003)).toEqual([]);
  });

  it('a claim looks only at the entries of its own job id (by their markers); a marker left without its entry is cleaned', () => {
    const open = new OpenJobs(dir);
    const path = (n: string) => `${dir}/open/${n}`;
    const a = claim('cam.a');
    const b = claim('cam.a.b'); // a job id that extends the other: never mistaken for it
    expect(open.claim([a], me, 1000)).toEqual([]);
    expect(open.claim([b], me, 1001)).toEqual([]);
    expect(fs.readdirSync(path('by-job')).sort()).toEqual([`cam.a.${a.run_id}`, `cam.a.b.${b.run_id}`].sort());
    // another job id's entry is never read by this claim: unreadable, it changes nothing
    fs.writeFileSync(path(`${b.run_id}.json`), 'not json');
    expect(open.claim([claim('cam.a')], me, 1002).map((h) => h.run_id)).toEqual([a.run_id]);
    // an entry gone without its marker (a crash between the two): the marker is removed, the id is free
    fs.rmSync(path(`${a.run_id}.json`));
    const again = claim('cam.a');
    expect(open.claim([again], me, 1003)).toEqual([]);
    expect(fs.readdirSync(path('by-job')).sort()).toEqual([`cam.a.${again.run_id}`, `cam.a.b.${b.run_id}`].sort());
    // release takes entry and marker
    open.release(again.run_id);
    open.release(b.run_id, 'cam.a.b');
    expect(fs.readdirSync(path('by-job'))).toEqual([]);
    expect(fs.readdirSync(path('')).filter((n) => n !== 'by-job')).toEqual([]);
  });

  it('of two claims made at once, the older wins (then the smaller run id): exactly one, whoever looks', () => {
    const open = new OpenJobs(dir);
    const older = claim('same', '00000000000000aa');
    const newer = claim('same', '00000000000000bb');
    // Both entries exist when each claimant looks (the race): write both, as two claimants would.
    expect(open.claim([older], me, 5000)).toEqual([]);
    const lost = open.claim([newer], me, 5000);
    expect(lost.map((h) => h.run_id)).toEqual([older.run_id]);
    expect(open.list().map((e) => e.run_id)).toEqual([older.run_id]);
    // (Real simultaneous starts, four processes at once: test/cli/attach-safety.test.ts.)
  });

  it('a process is claimed once (an exclusive marker by pid and start time): the second claimant is told who holds it; release frees it; a stale marker is replaced', () => {
    const open = new OpenJobs(dir);
    const target: ProcessIdentity = me; // any live process: its identity is what is claimed
    const a = claim('watch-a');
    const b = claim('watch-b');
    expect(open.claim([a], me)).toEqual([]);
    expect(open.claim([b], me)).toEqual([]);
    expect(open.claimProcess(a.run_id, target)).toBeNull();
    expect(open.claimProcess(b.run_id, target)?.run_id).toBe(a.run_id);
    expect(open.claimProcess(a.run_id, target)).toBeNull(); // asking again: still ours
    expect(open.ownerOf(target)?.run_id).toBe(a.run_id);
    expect(fs.readdirSync(`${dir}/open/by-process`)).toEqual([`${target.pid}.${target.start_time_ticks}`]);
    open.release(a.run_id);
    expect(open.ownerOf(target)).toBeNull();
    expect(fs.readdirSync(`${dir}/open/by-process`)).toEqual([]);
    expect(open.claimProcess(b.run_id, target)).toBeNull();
    // A marker whose entry is gone (a crash between the two): not an owner, and replaced.
    fs.rmSync(`${dir}/open/${b.run_id}.json`);
    expect(open.ownerOf(target)).toBeNull();
    const c = claim('watch-c');
    expect(open.claim([c], me)).toEqual([]);
    expect(open.claimProcess(c.run_id, target)).toBeNull();
    expect(open.ownerOf(target)?.run_id).toBe(c.run_id);
    // Another process (other start time) is another identity.
    expect(open.ownerOf({ pid: target.pid, start_time_ticks: '1' })).toBeNull();
  });

  it('a batch claim is all or nothing', () => {
    const open = new OpenJobs(dir);
    expect(open.claim([claim('x')], me)).toHaveLength(0);
    expect(open.claim([claim('y'), claim('x'), claim('z')], me)).toHaveLength(1);
    expect(open.list().map((e) => e.job_id)).toEqual(['x']);
  });

  it('open means: the workload is alive, or (not yet known / not detached) its wrapper is', async () => {
    const alive = spawn('sleep', ['30'], { stdio: 'ignore' });
    await new Promise((r) => alive.once('spawn', r));
    try {
      const workload = identityOf(alive.pid!);
      const base = { run_id: 'r', job_id: 'j', mode: 'run' as const };
      expect(isOpen({ ...base, identity: null, wrapper: me, detached: false })).toBe(true); // being started
      expect(isOpen({ ...base, identity: null, wrapper: dead, detached: false })).toBe(false); // died before the start
      expect(isOpen({ ...base, identity: workload, wrapper: dead, detached: false })).toBe(true); // orphan, still running
      expect(isOpen({ ...base, identity: workload, wrapper: dead, detached: true })).toBe(true); // detached, still running
      expect(isOpen({ ...base, identity: { pid: alive.pid!, start_time_ticks: '1' }, wrapper: dead, detached: true })).toBe(false); // pid reused
      expect(isOpen({ ...base, identity: dead, wrapper: me, detached: true })).toBe(false); // let go, and it ended
    } finally {
      alive.kill('SIGKILL');
      await exited(alive);
    }
  });

  it('a stale claim (wrapper gone before any start) does not hold the job id', () => {
    const open = new OpenJobs(dir);
    expect(open.claim([claim('stale')], dead)).toEqual([]);
    expect(open.claim([claim('stale')], me)).toEqual([]);
  });

  it('the journal recorder keeps the index in step: claimed, started, released with the Result', async () => {
    const j = new Journal({ dir });
    const rec = j.recorder();
    const run = runIdOf('kept');
    expect(rec.claim([{ run_id: run, job_id: 'kept', mode: 'run' }])).toEqual([]);
    const open = new OpenJobs(dir);
    expect(open.list()).toEqual([expect.objectContaining({ run_id: run, identity: null })]);
    rec.governed(run, ['/sys/fs/cgroup/memory/x/kept.' + run]);
    rec.started(aStarted('kept', { run_id: run }));
    // the identity follows right after the started record, with its fsync (not before a held
    // workload may exec: see Journal.append's deferred sync)
    await new Promise((r) => setImmediate(r));
    expect(open.list()).toEqual([expect.objectContaining({ run_id: run, identity: { pid: process.pid, start_time_ticks: '12345' }, leaves: ['/sys/fs/cgroup/memory/x/kept.' + run] })]);
    rec.detached({ type: 'detached', run_id: run, job_id: 'kept', mode: 'run', pid: process.pid, start_time: 'x', detached_at: 'y' });
    expect(open.list()[0]).toMatchObject({ detached: true });
    const adopter = j.recorder({ adopting: [{ ...aStarted('kept', { run_id: run }), v: 1, wrapper: dead }] });
    adopter.finished(aResult('kept'), run);
    expect(open.list()).toEqual([]);
  });
});
