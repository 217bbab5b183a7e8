import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Journal } from '../../src/journal/journal';
import { readJournal } from '../../src/journal/reader';
import type { JournalRecord } from '../../src/journal/types';
import type { SlaReason } from '../../src/model/sla';
import { JobMetrics, exitLabel } from '../../src/visibility/metrics';
import { MAX_EARLY_RESULTS, RunningJobs } from '../../src/visibility/running';
import { aResult, aStarted, type ResultOver, runIdOf } from '../support/fixtures';

const result = (i: number, over: ResultOver & { job_id?: string } = {}) => aResult(over.job_id ?? `job-${i}`, { pid: 1000 + i, ...over });

/** Parses Prometheus text into `name{labels}` -> value. */
function samples(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    m.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return m;
}

describe('exitLabel', () => {
  it('0, non_zero (a code only), signal, unknown', () => {
    expect(exitLabel({ exit_code: 0, signal: null })).toBe('0');
    expect(exitLabel({ exit_code: 3, signal: null })).toBe('non_zero');
    expect(exitLabel({ exit_code: 255, signal: null })).toBe('non_zero');
    expect(exitLabel({ exit_code: null, signal: 'SIGKILL' })).toBe('signal');
    expect(exitLabel({ exit_code: 0, signal: 'SIGTERM' })).toBe('signal'); // a signal wins over any code
    expect(exitLabel({ exit_code: null, signal: null })).toBe('unknown');
  });
});

const VIOLATING: SlaReason[] = [
  'spawn_failed_platform', 'observer_unavailable', 'exit_status_lost', 'cgroup_unavailable', 'cgroup_permission_denied',
  'cgroup_not_delegated', 'cgroup_placement_failed', 'memory_limit_below_usage', 'limit_not_applied', 'exit_unobserved',
];

function tmpJournal(): { dir: string; j: Journal; done: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ffrtmp-metrics-'));
  return { dir, j: new Journal({ dir }), done: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

describe('JobMetrics', () => {
  it('starts with every series at 0 and no rate', async () => {
    const m = new JobMetrics();
    const text = await m.text();
    const s = samples(text);
    expect([...s.entries()]).toEqual([
      ['ffrtmp_jobs_total{state="started"}', 0],
      ['ffrtmp_jobs_total{state="completed"}', 0],
      ['ffrtmp_platform_sla_total{compliant="true"}', 0],
      ['ffrtmp_platform_sla_total{compliant="false"}', 0],
      ['ffrtmp_jobs_by_mode_total{mode="run"}', 0],
      ['ffrtmp_jobs_by_mode_total{mode="attach"}', 0],
      ['ffrtmp_jobs_by_exit_total{exit="0"}', 0],
      ['ffrtmp_jobs_by_exit_total{exit="non_zero"}', 0],
      ['ffrtmp_jobs_by_exit_total{exit="signal"}', 0],
      ['ffrtmp_jobs_by_exit_total{exit="unknown"}', 0],
      // every violating reason of SLA_REASONS, in its order, then `other`
      ['ffrtmp_violations_total{reason="spawn_failed_platform"}', 0],
      ['ffrtmp_violations_total{reason="observer_unavailable"}', 0],
      ['ffrtmp_violations_total{reason="exit_status_lost"}', 0],
      ['ffrtmp_violations_total{reason="cgroup_unavailable"}', 0],
      ['ffrtmp_violations_total{reason="cgroup_permission_denied"}', 0],
      ['ffrtmp_violations_total{reason="cgroup_not_delegated"}', 0],
      ['ffrtmp_violations_total{reason="cgroup_placement_failed"}', 0],
      ['ffrtmp_violations_total{reason="memory_limit_below_usage"}', 0],
      ['ffrtmp_violations_total{reason="limit_not_applied"}', 0],
      ['ffrtmp_violations_total{reason="exit_unobserved"}', 0],
      ['ffrtmp_violations_total{reason="other"}', 0],
      ['ffrtmp_jobs_running', 0],
    ]);
    expect(text).not.toMatch(/sla_rate|process_|nodejs_|histogram/);
    expect(m.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(text).toContain('# TYPE ffrtmp_jobs_total counter');
    expect(text).toContain('# TYPE ffrtmp_violations_total counter');
    expect(text).toContain('# TYPE ffrtmp_jobs_running gauge');
    expect(m.snapshot()).toMatchObject({ running: 0, byExit: { '0': 0, non_zero: 0, signal: 0, unknown: 0 } });
    expect(Object.keys(m.snapshot().violationsByReason)).toEqual([...VIOLATING, 'other']);
  });

  it('counts from a real journal match the records', async () => {
    const { dir, j, done } = tmpJournal();
    try {
      const expected = { started: 0, completed: 0, t: 0, f: 0, run: 0, attach: 0, running: 0 };
      const exits = { '0': 0, non_zero: 0, signal: 0, unknown: 0 };
      const reasons = new Map<string, number>();
      for (let i = 0; i < 60; i++) {
        const rec = j.recorder();
        const mode = i % 4 === 0 ? 'attach' : 'run';
        const hasStarted = i % 10 !== 9;
        if (hasStarted) {
          rec.started(aStarted(`job-${i}`, { pid: 1000 + i, mode }));
          expected.started++;
        }
        if (i % 7 === 6) {
          if (hasStarted) expected.running++; // still running / orphaned: no result
          continue;
        }
        let over: ResultOver = { mode };
        let exit: keyof typeof exits = '0';
        if (i % 5 === 1) [over, exit] = [{ ...over, exit_code: 2, reason: 'workload_failed_platform_ok' }, 'non_zero'];
        if (i % 5 === 2) [over, exit] = [{ ...over, exit_code: null, signal: 'SIGKILL', reason: 'workload_failed_platform_ok' }, 'signal'];
        if (i % 5 === 3) [over, exit] = [{ ...over, exit_code: null, reason: VIOLATING[Math.floor(i / 5) % VIOLATING.length]! }, 'unknown'];
        rec.finished(result(i, over), runIdOf(`job-${i}`));
        expected.completed++;
        exits[exit]++;
        mode === 'run' ? expected.run++ : expected.attach++;
        if (over.reason !== undefined && VIOLATING.includes(over.reason)) {
          expected.f++;
          reasons.set(over.reason, (reasons.get(over.reason) ?? 0) + 1);
        } else expected.t++;
      }
      const m = new JobMetrics();
      for (const r of readJournal(dir).records) m.applyRecord(r);
      const s = samples(await m.text());
      expect(s.get('ffrtmp_jobs_total{state="started"}')).toBe(expected.started);
      expect(s.get('ffrtmp_jobs_total{state="completed"}')).toBe(expected.completed);
      expect(s.get('ffrtmp_platform_sla_total{compliant="true"}')).toBe(expected.t);
      expect(s.get('ffrtmp_platform_sla_total{compliant="false"}')).toBe(expected.f);
      expect(s.get('ffrtmp_jobs_by_mode_total{mode="run"}')).toBe(expected.run);
      expect(s.get('ffrtmp_jobs_by_mode_total{mode="attach"}')).toBe(expected.attach);
      for (const [exit, n] of Object.entries(exits)) expect(s.get(`ffrtmp_jobs_by_exit_total{exit="${exit}"}`), exit).toBe(n);
      for (const reason of [...VIOLATING, 'other']) {
        expect(s.get(`ffrtmp_violations_total{reason="${reason}"}`), reason).toBe(reasons.get(reason) ?? 0);
      }
      expect(s.get('ffrtmp_jobs_running')).toBe(expected.running);
      expect(s.get('ffrtmp_platform_sla_rate')).toBeCloseTo(expected.t / expected.completed, 12);
      expect(m.snapshot().slaRate).toBe(expected.t / expected.completed);
      expect(m.snapshot().running).toBe(expected.running);
      // the fixture covers what it claims to: 54 started, 52 results, 8 still running, 10 violations over 8 reasons
      expect([expected.started, expected.completed, expected.running, expected.f, reasons.size]).toEqual([54, 52, 8, 10, 8]);
      expect(Object.values(exits).every((n) => n > 0)).toBe(true);
    } finally {
      done();
    }
  });

  it('violations by reason: one series per violating reason, `other` for a reason it does not know, summing to compliant="false"', async () => {
    const { dir, j, done } = tmpJournal();
    try {
      j.recorder().finished(result(1, { reason: 'limit_not_applied' }), runIdOf(`job-1`));
      j.recorder().finished(result(2, { reason: 'limit_not_applied' }), runIdOf(`job-2`));
      j.recorder().finished(result(3, { reason: 'exit_unobserved', exit_code: null }), runIdOf(`job-3`));
      j.recorder().finished(result(4, { exit_code: 1, reason: 'workload_failed_platform_ok' }), runIdOf(`job-4`));
      // a Result from a newer writer, with a reason this version does not know
      const future = { type: 'result', v: 1, run_id: 'r-future', ...result(5, { reason: 'observer_unavailable' }), platform_sla_reason: 'future_reason' };
      expect(j.append(future as unknown as JournalRecord).ok).toBe(true);
      const m = new JobMetrics();
      const { records, problems } = readJournal(dir);
      expect(problems).toEqual([]);
      for (const r of records) m.applyRecord(r);
      const s = samples(await m.text());
      const byReason = [...s.entries()].filter(([k, v]) => k.startsWith('ffrtmp_violations_total') && v > 0);
      expect(byReason).toEqual([
        ['ffrtmp_violations_total{reason="limit_not_applied"}', 2],
        ['ffrtmp_violations_total{reason="exit_unobserved"}', 1],
        ['ffrtmp_violations_total{reason="other"}', 1],
      ]);
      expect(s.get('ffrtmp_platform_sla_total{compliant="false"}')).toBe(4);
      expect([...s.keys()].filter((k) => k.includes('future_reason'))).toEqual([]);
      expect(m.snapshot().violationsByReason).toMatchObject({ limit_not_applied: 2, exit_unobserved: 1, other: 1, observer_unavailable: 0 });
    } finally {
      done();
    }
  });

  it('jobs running: started without a result; detached and unknown record types change nothing; never negative', async () => {
    const { dir, j, done } = tmpJournal();
    try {
      const [a, b, c] = [j.recorder(), j.recorder(), j.recorder()];
      a.started(aStarted('a', { pid: 11 }));
      b.started(aStarted('b', { pid: 12 }));
      c.started(aStarted('c', { pid: 13 }));
      a.finished(result(11, { job_id: 'a' }), runIdOf('a'));
      j.recorder().finished(result(0, { job_id: 'spawn-failed', pid: null, exit_code: null, reason: 'spawn_failed_platform' }), runIdOf('spawn-failed'));
      const { records, problems } = readJournal(dir);
      expect(problems).toEqual([]);
      const runOf = (job: string) => records.find((r) => r.job_id === job)!.run_id;
      const m = new JobMetrics();
      const running = async () => samples(await m.text()).get('ffrtmp_jobs_running');
      const trail: (number | undefined)[] = [];
      for (const r of records) {
        m.applyRecord(r);
        trail.push(await running());
      }
      expect(trail).toEqual([1, 2, 3, 2, 2]); // a spawn failure has no started record: nothing to close
      // the wrapper of b was told to stop: the workload keeps running, the job stays open
      const unknownTypes = [
        { type: 'detached', v: 1, run_id: runOf('b'), job_id: 'b' },
        { type: 'heartbeat', v: 2, run_id: runOf('c') },
        { type: 'detached', v: 1 },
      ];
      for (const r of unknownTypes) m.applyRecord(r as unknown as JournalRecord);
      expect(await running()).toBe(2);
      expect(m.snapshot()).toMatchObject({ started: 3, completed: 2, running: 2 });
      // b's Result, written later by whoever adopted it, closes it
      const adopted = { type: 'result', v: 1, run_id: runOf('b'), ...result(12, { job_id: 'b', reason: 'observed_to_completion', mode: 'attach' }) };
      m.applyRecord(adopted as JournalRecord);
      expect(await running()).toBe(1);
    } finally {
      done();
    }
  });

  it('jobs running: a result read before its started record closes the job when that record comes', async () => {
    const { dir, j, done } = tmpJournal();
    try {
      for (const id of ['x', 'y']) {
        const rec = j.recorder();
        rec.started(aStarted(id, { pid: 7 }));
        rec.finished(result(7, { job_id: id }), runIdOf(id));
      }
      const { records } = readJournal(dir);
      expect(records.map((r) => `${r.type}:${r.job_id}`)).toEqual(['started:x', 'result:x', 'started:y', 'result:y']);
      // a rotation race delivers x's result first, and y's result twice
      const m = new JobMetrics();
      const trail: number[] = [];
      for (const r of [records[1]!, records[3]!, records[3]!, records[2]!, records[0]!]) {
        m.applyRecord(r);
        trail.push(m.snapshot().running);
      }
      expect(trail).toEqual([0, 0, 0, 0, 0]);
      expect(samples(await m.text()).get('ffrtmp_jobs_running')).toBe(0);
    } finally {
      done();
    }
  });
});

describe('RunningJobs', () => {
  const started = (run_id: string) => ({ type: 'started', run_id, pid: 5 });
  const ended = (run_id: string, pid: number | null = 5) => ({ type: 'result', run_id, pid });

  it('remembers at most MAX_EARLY_RESULTS early results, the oldest forgotten first', () => {
    const o = new RunningJobs();
    for (let i = 0; i <= MAX_EARLY_RESULTS; i++) o.apply(ended(`early-${i}`));
    o.apply(started(`early-${MAX_EARLY_RESULTS}`)); // remembered: stays closed
    expect(o.count).toBe(0);
    o.apply(started('early-0')); // forgotten: opens (the documented cost of the bound)
    expect(o.count).toBe(1);
  });

  it('a Result without a pid (never started) takes no room among the early results', () => {
    const o = new RunningJobs();
    o.apply(ended('adopted-early'));
    for (let i = 0; i < MAX_EARLY_RESULTS; i++) o.apply(ended(`spawn-failed-${i}`, null));
    o.apply(started('adopted-early'));
    expect(o.count).toBe(0);
  });
});
