/**
 * Boring counters, derived from journal records only (docs/visibility.md §2).
 *
 * One function, `applyRecord(record)`, is the only thing that changes a metric; it is fed one
 * journal record at a time (every record once: the follower guarantees that). Every value can be
 * explained by counting lines in the journal.
 *
 * Families (the names and labels the dashboards and alerts in deployment/ rely on; own Registry,
 * no default metrics, no histograms):
 * - `ffrtmp_jobs_total{state="started"}`: `started` records (a process existed and was observed).
 * - `ffrtmp_jobs_total{state="completed"}`: `result` records (every job ends in exactly one,
 *   including spawn failures, which have no started record; see docs/visibility.md).
 * - `ffrtmp_platform_sla_total{compliant="true"|"false"}`: results by `platform_sla_compliant`.
 * - `ffrtmp_jobs_by_mode_total{mode="run"|"attach"}`: results by `mode`.
 * - `ffrtmp_jobs_by_exit_total{exit="0"|"non_zero"|"signal"|"unknown"}`: results by exit
 *   status. `0`: exit_code 0. `non_zero`: a non-zero exit code. `signal`: death by a signal
 *   (`signal` is set). `unknown`: neither is known (exit_source `unknown`: detached, spawn
 *   failure, an orphan whose end went unobserved). The original folded unknown into non_zero
 *   (attach always reported -1), which made every attached job look like a failure; the third
 *   value keeps the success ratio honest, the fourth tells a kill from a failing workload.
 * - `ffrtmp_violations_total{reason}`: results with `platform_sla_compliant: false`, by
 *   `platform_sla_reason`; every violating reason of SLA_REASONS exists at 0, plus `other` for a
 *   reason this version does not know (reasons.ts). The reasons sum to `compliant="false"`.
 * - `ffrtmp_jobs_running` (gauge): started records whose run_id has no result yet, including
 *   detached jobs and orphans not adopted yet (open-jobs.ts).
 * - `ffrtmp_platform_sla_rate`: compliant / completed, set after each result. Absent (no sample,
 *   no HELP/TYPE) while completed is 0, as in the original: 0/0 is not a rate.
 *
 * Record types other than `started` and `result` (`detached`, anything newer) change nothing.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import type { JournalRecord } from '../journal/types';
import { RunningJobs } from './running';
import { REASON_LABELS, reasonLabel, type ReasonLabel } from './reasons';

export const EXIT_LABELS = ['0', 'non_zero', 'signal', 'unknown'] as const;
export type ExitLabel = (typeof EXIT_LABELS)[number];

/** The `exit` label for a result: from exit_code/signal only. A signal wins over any code. */
export function exitLabel(r: { exit_code: number | null; signal: string | null }): ExitLabel {
  if (r.signal !== null) return 'signal';
  if (r.exit_code === null) return 'unknown';
  return r.exit_code === 0 ? '0' : 'non_zero';
}

export interface MetricsSnapshot {
  started: number;
  completed: number;
  compliant: number;
  violations: number;
  byMode: { run: number; attach: number };
  byExit: Record<ExitLabel, number>;
  /** Violations by `reason` label (every label present, 0 included). */
  violationsByReason: Record<ReasonLabel, number>;
  /** Jobs started and without a result yet. */
  running: number;
  /** compliant / completed, or null when completed is 0. */
  slaRate: number | null;
}

export class JobMetrics {
  /** Our own registry: nothing else (no process/GC default metrics) is in it. */
  readonly registry = new Registry();
  private readonly jobs: Counter<'state'>;
  private readonly sla: Counter<'compliant'>;
  private readonly byMode: Counter<'mode'>;
  private readonly byExit: Counter<'exit'>;
  private readonly byReason: Counter<'reason'>;
  private readonly running: Gauge;
  private readonly runningJobs = new RunningJobs();
  private readonly rate: Gauge;
  private rateRegistered = false;
  private readonly snap: MetricsSnapshot = {
    started: 0,
    completed: 0,
    compliant: 0,
    violations: 0,
    byMode: { run: 0, attach: 0 },
    byExit: { '0': 0, non_zero: 0, signal: 0, unknown: 0 },
    violationsByReason: Object.fromEntries(REASON_LABELS.map((r) => [r, 0])) as Record<ReasonLabel, number>,
    running: 0,
    slaRate: null,
  };

  constructor() {
    const registers = [this.registry];
    this.jobs = new Counter({ name: 'ffrtmp_jobs_total', help: 'Total jobs by state', labelNames: ['state'], registers });
    this.sla = new Counter({
      name: 'ffrtmp_platform_sla_total',
      help: 'Platform SLA compliance',
      labelNames: ['compliant'],
      registers,
    });
    this.byMode = new Counter({
      name: 'ffrtmp_jobs_by_mode_total',
      help: 'Jobs by execution mode',
      labelNames: ['mode'],
      registers,
    });
    this.byExit = new Counter({
      name: 'ffrtmp_jobs_by_exit_total',
      help: 'Jobs by exit code',
      labelNames: ['exit'],
      registers,
    });
    this.byReason = new Counter({
      name: 'ffrtmp_violations_total',
      help: 'Platform SLA violations by reason',
      labelNames: ['reason'],
      registers,
    });
    this.running = new Gauge({ name: 'ffrtmp_jobs_running', help: 'Jobs started and without a Result yet (detached and orphaned ones included)', registers });
    // Registered on the first result (see the header: absent while nothing completed).
    this.rate = new Gauge({ name: 'ffrtmp_platform_sla_rate', help: 'Platform SLA compliance rate (0-1)', registers: [] });

    // Every series exists from the start, at 0.
    for (const state of ['started', 'completed']) this.jobs.inc({ state }, 0);
    for (const compliant of ['true', 'false']) this.sla.inc({ compliant }, 0);
    for (const mode of ['run', 'attach']) this.byMode.inc({ mode }, 0);
    for (const exit of EXIT_LABELS) this.byExit.inc({ exit }, 0);
    for (const reason of REASON_LABELS) this.byReason.inc({ reason }, 0);
    this.running.set(0);
  }

  /** The only mutator: one journal record in, its increments out. */
  applyRecord(record: JournalRecord): void {
    this.runningJobs.apply(record);
    if (this.snap.running !== this.runningJobs.count) {
      this.snap.running = this.runningJobs.count;
      this.running.set(this.snap.running);
    }
    if (record.type === 'started') {
      this.jobs.inc({ state: 'started' });
      this.snap.started++;
      return;
    }
    if (record.type !== 'result') return;
    this.jobs.inc({ state: 'completed' });
    this.snap.completed++;
    const compliant = record.platform_sla_compliant;
    this.sla.inc({ compliant: compliant ? 'true' : 'false' });
    if (compliant) {
      this.snap.compliant++;
    } else {
      this.snap.violations++;
      const reason = reasonLabel(record.platform_sla_reason);
      this.byReason.inc({ reason });
      this.snap.violationsByReason[reason]++;
    }
    this.byMode.inc({ mode: record.mode });
    this.snap.byMode[record.mode]++;
    const exit = exitLabel(record);
    this.byExit.inc({ exit });
    this.snap.byExit[exit]++;
    this.snap.slaRate = this.snap.compliant / this.snap.completed;
    this.rate.set(this.snap.slaRate);
    if (!this.rateRegistered) {
      this.registry.registerMetric(this.rate);
      this.rateRegistered = true;
    }
  }

  /** The same numbers as plain data (for tests, /health, `ffrtmp jobs`). A copy. */
  snapshot(): MetricsSnapshot {
    return {
      ...this.snap,
      byMode: { ...this.snap.byMode },
      byExit: { ...this.snap.byExit },
      violationsByReason: { ...this.snap.violationsByReason },
    };
  }

  /** Prometheus text exposition format (0.0.4). */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  /** The Content-Type for `text()`: `text/plain; version=0.0.4; charset=utf-8`. */
  get contentType(): string {
    return this.registry.contentType;
  }
}
