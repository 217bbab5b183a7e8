import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CURRENT_FILE, listJournalFiles } from '../../src/journal/files';
import { identityOf, isSameProcessAlive, readStartTimeTicks } from '../../src/journal/identity';
import { Journal } from '../../src/journal/journal';
import { findResult, findUnfinished, recentResults, classifyUnfinished } from '../../src/journal/query';
import { readJournal } from '../../src/journal/reader';
import { resolveStateDir } from '../../src/journal/state-dir';
import type { StartedRecord } from '../../src/journal/types';
import { aResult as result, aStarted, runIdOf } from '../support/fixtures';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ffrtmp-journal-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const started = (job_id: string, pid = process.pid): StartedRecord => aStarted(job_id, { pid });

describe('resolveStateDir', () => {
  it('explicit > env > root default > XDG > home', () => {
    const base = { uid: 1000, home: '/home/u', cwd: '/cwd' };
    expect(resolveStateDir({ ...base, explicit: 'rel', env: { FFRTMP_STATE_DIR: '/e' } })).toEqual({ dir: '/cwd/rel', source: 'flag' });
    expect(resolveStateDir({ ...base, env: { FFRTMP_STATE_DIR: '/e', XDG_STATE_HOME: '/x' } })).toEqual({ dir: '/e', source: 'env' });
    expect(resolveStateDir({ ...base, uid: 0, env: { XDG_STATE_HOME: '/x' } })).toEqual({ dir: '/var/lib/ffrtmp', source: 'root-default' });
    expect(resolveStateDir({ ...base, env: { XDG_STATE_HOME: '/x' } })).toEqual({ dir: '/x/ffrtmp', source: 'xdg' });
    expect(resolveStateDir({ ...base, env: { XDG_STATE_HOME: 'relative' } })).toEqual({ dir: '/home/u/.local/state/ffrtmp', source: 'home' });
    expect(resolveStateDir({ ...base, env: {} })).toEqual({ dir: '/home/u/.local/state/ffrtmp', source: 'home' });
    expect(resolveStateDir({ ...base, explicit: '', env: { FFRTMP_STATE_DIR: '' } }).source).toBe('home');
  });
});

describe('identity', () => {
  it('reads our own start time and matches it, rejects a wrong one', () => {
    const t = readStartTimeTicks(process.pid);
    expect(t).toMatch(/^\d+$/);
    expect(isSameProcessAlive(identityOf(process.pid))).toBe(true);
    expect(isSameProcessAlive({ pid: process.pid, start_time_ticks: String(BigInt(t!) + 1n) })).toBe(false);
    expect(isSameProcessAlive({ pid: process.pid, start_time_ticks: null })).toBe(false);
    expect(readStartTimeTicks(0)).toBeNull();
    expect(readStartTimeTicks(2 ** 30)).toBeNull();
  });
});

describe('Journal append + read', () => {
  it('writes one line per record, type first, mode 0640, and reads them back', () => {
    const j = new Journal({ dir: path.join(dir, 'state') });
    const rec = j.recorder({ wrapper: { pid: 1, start_time_ticks: '1' } });
    rec.started(started('job-1'));
    rec.finished(result('job-1'), runIdOf('job-1'));
    expect(rec.lastError).toBeNull();
    expect(rec.persistence('job-1')).toEqual({ started: true, result: true, error: null });
    const text = fs.readFileSync(j.file, 'utf8');
    const lines = text.split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[2]).toBe('');
    expect(lines[0]!.startsWith('{"type":"started","v":1,"run_id":"')).toBe(true);
    expect(lines[1]!.startsWith('{"type":"result","v":1,"run_id":"')).toBe(true);
    expect(fs.statSync(j.file).mode & 0o777).toBe(0o640 & ~process.umask());
    const { records, problems } = readJournal(j.dir);
    expect(problems).toEqual([]);
    expect(records).toHaveLength(2);
    expect(records[0]!.run_id).toBe(records[1]!.run_id);
    expect(records[1]).toMatchObject({ type: 'result', ...result('job-1') });
    expect(findUnfinished(records)).toEqual([]);
  });

  it('finished() twice writes one Result; started() never throws even for garbage', () => {
    const j = new Journal({ dir });
    const rec = j.recorder();
    rec.finished(result('x'), runIdOf('x'));
    rec.finished(result('x'), runIdOf('x'));
    expect(rec.lastError?.message).toMatch(/already ended; second Result not written/);
    expect(readJournal(dir).records).toHaveLength(1);
    const rec2 = j.recorder();
    expect(() => rec2.started(null as unknown as StartedRecord)).not.toThrow();
    expect(rec2.lastError).not.toBeNull();
  });

  it('one recorder serves several jobs (attach --pid a --pid b), each with its own run_id; adoption reuses the orphan run_id', () => {
    const j = new Journal({ dir });
    const rec = j.recorder();
    rec.started(started('p1'));
    rec.started(started('p2'));
    rec.finished(result('p2'), runIdOf('p2'));
    rec.finished(result('p1'), runIdOf('p1'));
    expect(rec.lastError).toBeNull();
    let { records } = readJournal(dir);
    expect(records.map((r) => `${r.type}:${r.job_id}:${r.run_id}`)).toEqual([
      `started:p1:${runIdOf('p1')}`, `started:p2:${runIdOf('p2')}`, `result:p2:${runIdOf('p2')}`, `result:p1:${runIdOf('p1')}`,
    ]);
    const orphanRec = j.recorder({ wrapper: { pid: 1, start_time_ticks: '1' } });
    orphanRec.started(started('orphan'));
    const orphan = readJournal(dir).records.find((r) => r.job_id === 'orphan' && r.type === 'started');
    const adopter = j.recorder({ adopting: [orphan as never], adopter: { pid: 77, start_time_ticks: '7' } });
    adopter.started(started('orphan'));
    adopter.finished(result('orphan'), runIdOf('orphan'));
    records = readJournal(dir).records.filter((r) => r.job_id === 'orphan');
    expect(records.map((r) => r.type)).toEqual(['started', 'result']);
    expect(records[1]).toMatchObject({ run_id: runIdOf('orphan'), adopted_by: { pid: 77, start_time_ticks: '7' } });
    expect(adopter.persistence('orphan')).toEqual({ started: true, result: true, error: null });
  });

  it('a missing state dir is an empty journal; a spawn failure is a result without started', () => {
    expect(readJournal(path.join(dir, 'nope'))).toEqual({ records: [], problems: [], files: [] });
    const j = new Journal({ dir });
    j.recorder().finished(result('s', { pid: null, exit_code: null, reason: 'workload_not_startable' }), runIdOf('s'));
    const { records } = readJournal(dir);
    expect(records.map((r) => r.type)).toEqual(['result']);
  });

  it('skips and reports a torn last line without losing anything before it', () => {
    const j = new Journal({ dir });
    j.recorder().finished(result('a'), runIdOf('a'));
    j.recorder().finished(result('b'), runIdOf('b'));
    fs.appendFileSync(j.file, '{"type":"result","v":1,"run_id":"zz","job_id":"c","pi');
    const r = readJournal(dir);
    expect(r.records.map((x) => x.job_id)).toEqual(['a', 'b']);
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]).toMatchObject({ file: j.file, line: 3 });
    expect(r.problems[0]!.reason).toMatch(/incomplete last line/);
  });

  it('resynchronises when a record was appended after a torn fragment', () => {
    const j = new Journal({ dir });
    j.recorder().finished(result('a'), runIdOf('a'));
    fs.appendFileSync(j.file, '{"type":"result","v":1,"run_id":"zz","job_id":"torn","pi');
    j.recorder().finished(result('b'), runIdOf('b'));
    // a whole record that lost its newline, glued to the next one
    fs.appendFileSync(j.file, JSON.stringify({ type: 'result', v: 1, run_id: 'r9', ...result('c') }));
    j.recorder().finished(result('d'), runIdOf('d'));
    fs.appendFileSync(j.file, 'garbage\n\n');
    const r = readJournal(dir);
    expect(r.records.map((x) => x.job_id)).toEqual(['a', 'b', 'c', 'd']);
    expect(r.problems.map((p) => p.line)).toEqual([2, 4]);
    expect(r.problems[0]!.reason).toMatch(/torn record fragment/);
    expect(r.problems[1]!.reason).toMatch(/unparseable/);
  });

  it('reports records with a bad shape and unknown types', () => {
    fs.writeFileSync(path.join(dir, CURRENT_FILE), '{"type":"result","v":1,"run_id":"a","job_id":"x","mode":"run"}\n{"type":"future","run_id":"a","job_id":"x","mode":"run","start_time":"t"}\n[1]\n');
    const r = readJournal(dir);
    expect(r.records).toEqual([]);
    expect(r.problems.map((p) => p.reason)).toEqual([
      'unusable record skipped: missing start_time',
      'unusable record skipped: unknown record type "future"',
      'unusable record skipped: not a JSON object',
    ]);
  });
});

describe('queries', () => {
  it('finds unfinished jobs, classifies them by wrapper liveness, finds results', () => {
    const j = new Journal({ dir });
    const alive = j.recorder({ wrapper: identityOf(process.pid) });
    alive.started(started('inflight'));
    const dead = j.recorder({ wrapper: { pid: process.pid, start_time_ticks: '1' } });
    dead.started(started('orphan'));
    const done = j.recorder();
    done.started(started('same-id'));
    done.finished(result('same-id', { exit_code: 1, reason: 'workload_failed_platform_ok' }), runIdOf('same-id'));
    const again = j.recorder();
    again.started(started('same-id'));
    again.finished(result('same-id', { exit_code: 0 }), runIdOf('same-id'));
    const { records } = readJournal(dir);
    expect(findUnfinished(records).map((r) => r.job_id)).toEqual(['inflight', 'orphan']);
    const c = classifyUnfinished(records, (r) => isSameProcessAlive(r.wrapper));
    expect(c.inFlight.map((r) => r.job_id)).toEqual(['inflight']);
    expect(c.orphans.map((r) => r.job_id)).toEqual(['orphan']);
    expect(findResult(records, 'same-id')?.exit_code).toBe(0);
    expect(findResult(records, 'nope')).toBeNull();
    expect(recentResults(records, 1).map((r) => r.exit_code)).toEqual([0]);
    expect(recentResults(records, 10)).toHaveLength(2);
  });
});

describe('rotation', () => {
  it('rotates by size into unique names, never splits a record, prunes whole files', () => {
    const j = new Journal({ dir, maxBytes: 2000, keepRotated: 3 });
    for (let i = 0; i < 40; i++) j.recorder().finished(result(`job-${i}`), runIdOf(`job-${i}`));
    const files = listJournalFiles(dir);
    expect(files.length).toBe(4);
    for (const f of files) {
      const text = fs.readFileSync(f, 'utf8');
      expect(text.endsWith('\n')).toBe(true);
      expect(fs.statSync(f).size).toBeLessThanOrEqual(2000);
    }
    const r = readJournal(dir);
    expect(r.problems).toEqual([]);
    const ids = r.records.map((x) => Number(x.job_id.slice(4)));
    // the newest records survive, in order, without gaps
    expect(ids).toEqual(ids.map((_, k) => ids[0]! + k));
    expect(ids[ids.length - 1]).toBe(39);
  });

  it('a record bigger than maxBytes is still written, whole', () => {
    const j = new Journal({ dir, maxBytes: 100 });
    expect(j.append({ type: 'result', v: 1, run_id: 'r1', ...result('a'.repeat(120)) }).ok).toBe(true);
    expect(j.append({ type: 'result', v: 1, run_id: 'r2', ...result('b') }).ok).toBe(true);
    expect(readJournal(dir).records.map((r) => r.run_id)).toEqual(['r1', 'r2']);
    expect(listJournalFiles(dir)).toHaveLength(2);
  });
});
