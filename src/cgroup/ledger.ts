/**
 * What went wrong and what was written, for one job: problems (violations or not), warnings,
 * and one entry per limit file. Everything in a job's cgroup life records here; the Result's
 * `cgroup` report and its reason are read from it.
 */
import { violationOf, type CgroupProblem, type CgroupReason, type LimitReportEntry } from '../model/cgroup-report';
import type { Resource } from './detect';
import type { Limits } from './limits';
import { notApplied } from './write';

export class CgroupLedger {
  readonly problems: CgroupProblem[] = [];
  readonly warnings: string[] = [];
  readonly limitEntries: LimitReportEntry[] = [];

  constructor(private readonly limits: Limits) {}

  problem(reason: CgroupReason, detail: string, violation: boolean, file?: string): void {
    this.problems.push({ reason, detail, violation, ...(file !== undefined ? { file } : {}) });
  }

  /** A governed leaf's trouble is a violation; an accounting-only leaf's is a warning. */
  trouble(governs: boolean, reason: CgroupReason, detail: string, file?: string): void {
    if (governs) this.problem(reason, detail, true, file);
    else this.warnings.push(detail);
  }

  /** Report entries for every requested limit of `resources`, none of them applied. */
  markNotApplied(resources: Iterable<Resource>, why: string): void {
    const rs = new Set(resources);
    const l = this.limits;
    if (rs.has('cpu') && l.cpuMax) this.limitEntries.push(notApplied('cpu.max', 'cpu.max', `${l.cpuMax.quotaUs ?? 'max'} ${l.cpuMax.periodUs}`, why));
    if (rs.has('cpu') && l.cpuWeight !== undefined) this.limitEntries.push(notApplied('cpu.weight', 'cpu.weight', String(l.cpuWeight), why));
    if (rs.has('memory') && l.memoryMax !== undefined) this.limitEntries.push(notApplied('memory.max', 'memory.max', String(l.memoryMax), why));
    if (rs.has('io')) for (const d of l.io ?? []) this.limitEntries.push(notApplied('io.max', 'io.max', d.device, why));
  }

  /** The violation to put in the Result, or null (also null when nothing was requested). */
  violation(): CgroupReason | null {
    return violationOf(this.problems);
  }
}
