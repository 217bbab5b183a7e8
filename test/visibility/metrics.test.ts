import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Journal } from '../../src/journal/journal';
import { readJournal } from '../../src/journal/reader';
import { JobMetrics, exitLabel } from '../../src/visibility/metrics';
import { ViolationLog } from '../../src/visibility/violations';
import { aResult, type ResultOver, runIdOf } from '../support/fixtures';

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
  it('0, non_zero (code or signal), unknown', () => {
    expect(exitLabel({ exit_code: 0, signal: null })).toBe('0');
    expect(exitLabel({ exit_code: 3, signal: null })).toBe('non_zero');
    expect(exitLabel({ exit_code: null, signal: 'SIGKILL' })).toBe('non_zero');
    expect(exitLabel({ exit_code: null, signal: null })).toBe('unknown');
  });
});

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
      ['ffrtmp_jobs_by_exit_total{exit="unknown"}', 0],
    ]);
    expect(text).not.toMatch(/sla_rate|process_|nodejs_|histogram/);
    expect(m.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(text).toContain('# TYPE ffrtmp_jobs_total counter');
  });

  it('counts from a real journal match the records', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ffrtmp-metrics-'));
    try {
      const j = new Journal({ dir });
      const expected = { started: 0, completed: 0, t: 0, f: 0, run: 0, attach: 0, zero: 0, nz: 0, unk: 0 };
      for (let i = 0; i < 60; i++) {
        const rec = j.recorder();
        const mode = i % 4 === 0 ? 'attach' : 'run';
        if (i % 10 !== 9) {
          rec.started({
            type: 'started', run_id: runIdOf(`job-${i}`), job_id: `job-${i}`, pid: 1000 + i, mode,
            identity: { pid: 1000 + i, start_time_ticks: '5' }, cgroup: null, start_time: '2026-01-06T10:00:00.000Z',
          });
          expected.started++;
        }
        if (i % 7 === 6) continue; // still running / orphaned: no result
        let over: ResultOver = { mode };
        if (i % 5 === 1) over = { ...over, exit_code: 2, reason: 'workload_failed_platform_ok' };
        if (i % 5 === 2) over = { ...over, exit_code: null, signal: 'SIGKILL', reason: 'workload_failed_platform_ok' };
        if (i % 5 === 3) over = { ...over, exit_code: null, reason: 'observer_unavailable' };
        rec.finished(result(i, over), runIdOf(`job-${i}`));
        expected.completed++;
        const r = result(i, over);
        r.platform_sla_compliant ? expected.t++ : expected.f++;
        mode === 'run' ? expected.run++ : expected.attach++;
        const e = exitLabel(r);
        if (e === '0') expected.zero++;
        else if (e === 'non_zero') expected.nz++;
        else expected.unk++;
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
      expect(s.get('ffrtmp_jobs_by_exit_total{exit="0"}')).toBe(expected.zero);
      expect(s.get('ffrtmp_jobs_by_exit_total{exit="non_zero"}')).toBe(expected.nz);
      expect(s.get('ffrtmp_jobs_by_exit_total{exit="unknown"}')).toBe(expected.unk);
      expect(s.get('ffrtmp_platform_sla_rate')).toBeCloseTo(expected.t / expected.completed, 12);
      expect(m.snapshot().slaRate).toBe(expected.t / expected.completed);
      expect(expected.f).toBeGreaterThan(0);
      expect(expected.unk).toBeGreaterThan(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('ViolationLog', () => {
  it('keeps only violations, newest first, bounded, escaped', () => {
    const v = new ViolationLog(3);
    expect(v.json()).toBe('[]');
    expect(v.record(result(0))).toBe(false);
    for (let i = 1; i <= 5; i++) {
      v.record(result(i, { reason: 'observer_unavailable', exit_code: null, seconds: i / 10 }));
    }
    expect(v.count()).toBe(3);
    expect(v.totalRecorded()).toBe(5);
    expect(v.recent().map((s) => s.job_id)).toEqual(['job-5', 'job-4', 'job-3']);
    expect(v.recent(1)).toEqual([{ job_id: 'job-5', reason: 'observer_unavailable', duration: 0.5, exit_code: null, pid: 1005 }]);
    expect(Object.keys(v.recent()[0]!)).toEqual(['job_id', 'reason', 'duration', 'exit_code', 'pid']);
    v.record(result(9, { job_id: 'we"ird\\id\n', reason: 'exit_unobserved' }));
    expect(JSON.parse(v.json())[0].job_id).toBe('we"ird\\id\n');
    expect(() => new ViolationLog(0)).toThrow(RangeError);
  });
});
