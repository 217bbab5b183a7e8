import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Journal } from '../../src/journal/journal';
import { readJournal } from '../../src/journal/reader';
import type { JournalRecord, ResultJournalRecord } from '../../src/journal/types';
import type { CgroupProblem } from '../../src/model/cgroup-report';
import type { SpawnError } from '../../src/model/result';
import { SLA_REASONS, type SlaReason } from '../../src/model/sla';
import { DETAIL_MAX_CHARS, ViolationLog, violationDetail } from '../../src/visibility/violations';
import { aCgroupReport, aResult, type ResultOver, runIdOf } from '../support/fixtures';

const result = (i: number, over: ResultOver & { job_id?: string } = {}) => aResult(over.job_id ?? `job-${i}`, { pid: 1000 + i, ...over });

const EAGAIN: SpawnError = { code: 'EAGAIN', errno: -11, syscall: 'clone3', message: 'EAGAIN: resource temporarily unavailable, clone3' };
const problem = (reason: CgroupProblem['reason'], detail: string, violation = true): CgroupProblem => ({ reason, detail, violation });

/** Results written through the real recorder and read back, as `serve` gets them. */
function throughJournal(write: (j: Journal) => void): ResultJournalRecord[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ffrtmp-violations-'));
  try {
    write(new Journal({ dir }));
    const { records, problems } = readJournal(dir);
    expect(problems).toEqual([]);
    return records.filter((r): r is ResultJournalRecord => r.type === 'result');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

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
    expect(v.recent(1)).toEqual([{
      job_id: 'job-5', reason: 'observer_unavailable', duration: 0.5, exit_code: null, pid: 1005,
      time: '2026-01-06T10:00:00.500Z',
      detail: 'the exit watcher could not be installed for a live process (pidfd_open or epoll_ctl failed): its end was not watched',
    }]);
    expect(Object.keys(v.recent()[0]!)).toEqual(['job_id', 'reason', 'duration', 'exit_code', 'pid', 'time', 'detail']);
    v.record(result(9, { job_id: 'we"ird\\id\n', reason: 'exit_unobserved' }));
    expect(JSON.parse(v.json())[0].job_id).toBe('we"ird\\id\n');
    expect(() => new ViolationLog(0)).toThrow(RangeError);
  });

  it('time is the end_time and detail the most specific explanation, for Results read back from a real journal', () => {
    const results = throughJournal((j) => {
      j.recorder().finished(result(1, { reason: 'spawn_failed_platform', pid: null, exit_code: null, spawn_error: EAGAIN, seconds: 0.003 }), runIdOf(`job-1`));
      j.recorder().finished(result(2, {
        reason: 'cgroup_permission_denied',
        cgroup: aCgroupReport([
          problem('limit_not_applied', 'accounting only: cpu.stat unreadable', false),
          problem('limit_not_applied', 'io.max not applied: io.max: ENODEV'),
          problem('cgroup_permission_denied', 'memory.max not applied: memory.max: EACCES (permission denied)'),
        ]),
      }), runIdOf(`job-2`));
      j.recorder().finished(result(3, {
        reason: 'limit_not_applied',
        cgroup: aCgroupReport([problem('cgroup_placement_failed', 'not the reason, but the first violating problem'), problem('limit_not_applied', 'x', false)]),
      }), runIdOf(`job-3`));
      j.recorder().finished(result(4, { reason: 'cgroup_unavailable', cgroup: aCgroupReport([problem('cgroup_unavailable', 'advisory', false)]) }), runIdOf(`job-4`));
      j.recorder().finished(result(5, { reason: 'exit_unobserved', exit_code: null, startedAtMs: Date.parse('2026-03-01T00:00:00.000Z'), seconds: 3600 }), runIdOf(`job-5`));
    });
    const v = new ViolationLog();
    for (const r of results) expect(v.record(r)).toBe(true);
    expect(v.recent().reverse().map(({ job_id, time, detail }) => ({ job_id, time, detail }))).toEqual([
      { job_id: 'job-1', time: '2026-01-06T10:00:00.003Z', detail: 'EAGAIN: resource temporarily unavailable, clone3' },
      { job_id: 'job-2', time: '2026-01-06T10:01:27.500Z', detail: 'memory.max not applied: memory.max: EACCES (permission denied)' },
      { job_id: 'job-3', time: '2026-01-06T10:01:27.500Z', detail: 'not the reason, but the first violating problem' },
      {
        job_id: 'job-4', time: '2026-01-06T10:01:27.500Z',
        detail: 'limits were requested but no cgroup hierarchy is usable here: the workload ran ungoverned',
      },
      {
        job_id: 'job-5', time: '2026-03-01T01:00:00.000Z',
        detail: 'the wrapper died and the process was already gone when it was adopted: nobody observed its end',
      },
    ]);
  });
});

describe('violationDetail', () => {
  it('a spawn error wins over a cgroup problem; a blank one falls through to the next source', () => {
    const cgroup = aCgroupReport([problem('cgroup_placement_failed', 'PID 7 is in /a, not /b')]);
    expect(violationDetail(result(1, { reason: 'spawn_failed_platform', spawn_error: EAGAIN, cgroup }))).toBe(EAGAIN.message);
    const blank = { ...EAGAIN, message: ' \n\t ' };
    expect(violationDetail(result(1, { reason: 'cgroup_placement_failed', spawn_error: blank, cgroup }))).toBe('PID 7 is in /a, not /b');
    expect(violationDetail(result(1, { reason: 'spawn_failed_platform', spawn_error: blank }))).toBe(
      'starting the process failed for a platform reason (clone3, fork or pipe2: EAGAIN, ENOMEM, EMFILE, ...)',
    );
  });

  it('every violating reason has its own one-line sentence within the cap; an unknown reason gets the `other` one', () => {
    const violating = (Object.keys(SLA_REASONS) as SlaReason[]).filter((r) => !SLA_REASONS[r]);
    expect(violating).toHaveLength(10);
    const sentences = violating.map((reason) => violationDetail({ platform_sla_reason: reason }));
    expect(new Set(sentences).size).toBe(violating.length);
    for (const s of sentences) expect(s).toMatch(/^[^\n]{20,300}$/);
    const other = "the platform SLA was violated for a reason this version of ffrtmp does not know: see the job's Result (ffrtmp jobs show)";
    expect(violationDetail({ platform_sla_reason: 'future_reason' as SlaReason })).toBe(other);
    expect(violationDetail({ platform_sla_reason: 'completed_successfully' })).toBe(other);
  });

  it('one line: whitespace runs become one space, control characters go', () => {
    const spawn_error = { ...EAGAIN, message: '  line one\r\n\tline two\u0000\u001b[31m red\u2028end  ' };
    expect(violationDetail(result(1, { reason: 'spawn_failed_platform', spawn_error }))).toBe('line one line two[31m red end');
  });

  it(`capped at ${DETAIL_MAX_CHARS} characters, ending in an ellipsis, never splitting a surrogate pair`, () => {
    const long = violationDetail(result(1, { reason: 'spawn_failed_platform', spawn_error: { ...EAGAIN, message: 'x'.repeat(100_000) } }));
    expect(long).toBe(`${'x'.repeat(DETAIL_MAX_CHARS - 1)}…`);
    const exact = 'y'.repeat(DETAIL_MAX_CHARS);
    expect(violationDetail(result(1, { reason: 'spawn_failed_platform', spawn_error: { ...EAGAIN, message: exact } }))).toBe(exact);
    // a 2-unit emoji straddling the cut is dropped whole
    const emoji = violationDetail(result(1, { reason: 'spawn_failed_platform', spawn_error: { ...EAGAIN, message: `${'z'.repeat(DETAIL_MAX_CHARS - 2)}😀tail` } }));
    expect(emoji).toBe(`${'z'.repeat(DETAIL_MAX_CHARS - 2)}…`);
  });

  it('a malformed cgroup or spawn_error in a journal line is not trusted, and never throws', () => {
    const results = throughJournal((j) => {
      const base = { type: 'result', v: 1, ...result(1, { reason: 'cgroup_placement_failed' }) };
      for (const [run_id, extra] of [
        ['r1', { cgroup: { problems: 'not a list' } }],
        ['r2', { cgroup: { problems: [null, 7, { reason: 'cgroup_placement_failed', violation: true, detail: 42 }] } }],
        ['r3', { cgroup: null, spawn_error: 'not an object' }],
      ] as const) {
        expect(j.append({ ...base, run_id, ...extra } as unknown as JournalRecord).ok).toBe(true);
      }
    });
    expect(results).toHaveLength(3);
    for (const r of results) expect(violationDetail(r)).toBe('the workload could not be put into its job cgroup, or verification found it elsewhere');
  });
});
