/**
 * Violation sampling (docs/visibility.md §3): the last N non-compliant Results.
 *
 * A ring buffer, default 50 entries, drop-oldest. Only Results with
 * `platform_sla_compliant === false` enter. `recent()` is newest first. Entries use the documented
 * JSON keys: `{job_id, reason, duration, exit_code, pid}`; `duration` is the Result's
 * `processing_seconds`, `exit_code` and `pid` are null when unknown (never a made-up -1).
 * Serialised with JSON.stringify, so job ids and reasons are escaped properly.
 */
import type { Result } from '../model/result';

export const DEFAULT_VIOLATIONS_SIZE = 50;

export interface ViolationSample {
  readonly job_id: string;
  readonly reason: string;
  /** Seconds (the Result's processing_seconds). */
  readonly duration: number;
  readonly exit_code: number | null;
  readonly pid: number | null;
}

type ResultLike = Pick<Result, 'job_id' | 'platform_sla_compliant' | 'platform_sla_reason' | 'processing_seconds' | 'exit_code' | 'pid'>;

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
