/**
 * Which jobs are open, from journal records alone: the value of `ffrtmp_jobs_running`
 * (docs/visibility.md §2).
 *
 * A job is open from its `started` record until a `result` record with the same `run_id`. Any
 * other record type changes nothing: a `detached` record (the wrapper stopped watching and left
 * the workload running) leaves the job open, because its Result comes later from whoever adopts
 * it; unknown types are ignored.
 *
 * Records arrive one at a time. A result is normally read after its started record; if a journal
 * rotated oddly delivers it first, the run_id is remembered so that the late started record does
 * not open a job that has already ended. Those early results are kept in a bounded set (the
 * oldest forgotten first). A Result with no pid never had a process, hence never a started
 * record (spawn failures), and is not remembered. The count is the size of a set: never negative.
 */

/** Early results remembered at most (see above). */
export const MAX_EARLY_RESULTS = 10_000;

export class RunningJobs {
  private readonly open = new Set<string>();
  /** run_ids whose result was read before any started record (insertion order = age). */
  private readonly ended = new Set<string>();

  /** Applies one journal record of any type. */
  apply(record: { readonly type: string; readonly run_id: string; readonly pid?: number | null }): void {
    if (record.type === 'started') {
      if (!this.ended.delete(record.run_id)) this.open.add(record.run_id);
    } else if (record.type === 'result') {
      if (this.open.delete(record.run_id) || record.pid === null) return;
      this.ended.add(record.run_id);
      if (this.ended.size > MAX_EARLY_RESULTS) this.ended.delete(this.ended.values().next().value!);
    }
  }

  /** Jobs started and not yet ended. */
  get count(): number {
    return this.open.size;
  }
}
