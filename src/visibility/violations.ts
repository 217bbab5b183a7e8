/**
 * Violation sampling (docs/visibility.md §3): the last N non-compliant Results.
 *
 * A ring buffer, default 50 entries, drop-oldest. Only Results with
 * `platform_sla_compliant === false` enter. `recent()` is newest first. Entries use the documented
 * JSON keys: `{job_id, reason, duration, exit_code, pid, time, detail}`; `duration` is the Result's
 * `processing_seconds`, `exit_code` and `pid` are null when unknown (never a made-up -1), `time`
 * is its `end_time`, `detail` one line saying what went wrong (`violationDetail`).
 * Serialised with JSON.stringify, so job ids and reasons are escaped properly.
 */
import type { CgroupProblem } from '../model/cgroup-report';
import type { Result } from '../model/result';
import { reasonSentence } from './reasons';

export const DEFAULT_VIOLATIONS_SIZE = 50;

export interface ViolationSample {
  readonly job_id: string;
  readonly reason: string;
  /** Seconds (the Result's processing_seconds). */
  readonly duration: number;
  readonly exit_code: number | null;
  readonly pid: number | null;
  /** When the violation happened: the Result's end_time (ISO 8601, ms, UTC). */
  readonly time: string;
  /** One line, at most DETAIL_MAX_CHARS: the most specific explanation the Result carries. */
  readonly detail: string;
}

type ResultLike = Pick<
  Result,
  'job_id' | 'platform_sla_compliant' | 'platform_sla_reason' | 'processing_seconds' | 'exit_code' | 'pid' | 'end_time' | 'spawn_error' | 'cgroup'
>;

/** The longest `detail`, in UTF-16 code units (a pathological Result cannot bloat /violations). */
export const DETAIL_MAX_CHARS = 300;

/**
 * The explanation of a violation, most specific first: the spawn error's message; else the
 * detail of the cgroup problem behind the reason (the first violating problem with the Result's
 * reason, else the first violating one); else the reason's fixed sentence (reasons.ts). Made one
 * line (every run of whitespace, newlines included, becomes one space; other control characters
 * go) and cut to DETAIL_MAX_CHARS, ending in `…` when cut.
 */
export function violationDetail(r: Pick<ResultLike, 'platform_sla_reason' | 'spawn_error' | 'cgroup'>): string {
  // The journal reader checks the Result's core fields only: read these two defensively.
  const listed: unknown = r.cgroup?.problems;
  const problems = Array.isArray(listed) ? (listed as CgroupProblem[]).filter((p) => p?.violation === true) : [];
  const problem = problems.find((p) => p.reason === r.platform_sla_reason) ?? problems[0];
  const line =
    [r.spawn_error?.message, problem?.detail].map((s) => (typeof s === 'string' ? oneLine(s) : '')).find((s) => s !== '') ??
    reasonSentence(r.platform_sla_reason);
  if (line.length <= DETAIL_MAX_CHARS) return line;
  let cut = line.slice(0, DETAIL_MAX_CHARS - 1);
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1); // never split a surrogate pair
  return `${cut}…`;
}

function oneLine(s: string): string {
  return s.replace(/[\x00-\x08\x0e-\x1f\x7f-\x9f]/g, '').replace(/\s+/g, ' ').trim();
}

export class ViolationLog {
  readonly maxSize: number;
  private readonly ring: (ViolationSample | undefined)[];
  /** Index where the next sample goes. */
  private next = 0;
  private size = 0;
  private total = 0;

  constructor(maxSize: number = DEFAULT_VIOLATIONS_SIZE) {
    if (!Number.isSafeInteger(maxSize) || maxSize < 1) throw new RangeError(`violation log size must be a positive integer, got ${maxSize}`);
    this.maxSize = maxSize;
    this.ring = new Array(maxSize);
  }

  /** Records the Result if it is a violation. Returns whether it was recorded. */
  record(r: ResultLike): boolean {
    if (r.platform_sla_compliant) return false;
    this.ring[this.next] = {
      job_id: r.job_id,
      reason: r.platform_sla_reason,
      duration: r.processing_seconds,
      exit_code: r.exit_code,
      pid: r.pid,
      time: r.end_time,
      detail: violationDetail(r),
    };
    this.next = (this.next + 1) % this.maxSize;
    if (this.size < this.maxSize) this.size++;
    this.total++;
    return true;
  }

  /** Up to `n` (default: all kept) samples, newest first. */
  recent(n: number = this.maxSize): ViolationSample[] {
    const out: ViolationSample[] = [];
    const count = Math.min(Math.max(0, Math.floor(n)), this.size);
    for (let i = 1; i <= count; i++) {
      out.push(this.ring[(this.next - i + this.maxSize) % this.maxSize]!);
    }
    return out;
  }

  /** Samples currently kept (≤ maxSize). */
  count(): number {
    return this.size;
  }

  /** Violations ever recorded by this log (including those dropped from the ring). */
  totalRecorded(): number {
    return this.total;
  }

  /** The /violations body: a JSON array, newest first, `[]` when empty. */
  json(): string {
    return JSON.stringify(this.recent());
  }
}
