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
 * - `ffrtmp_jobs_by_exit_total{exit="0"|"non_zero"|"unknown"}`: results by exit status. `0`:
 *   exit_code 0. `non_zero`: a non-zero exit code or death by a signal. `unknown`: neither is
 *   known (exit_source `unknown`: detached, spawn failure, an orphan whose end went unobserved).
 *   The original folded unknown into non_zero (attach always reported -1), which made every
 *   attached job look like a failure; the third value keeps the success ratio honest.
 * - `ffrtmp_platform_sla_rate`: compliant / completed, set after each result. Absent (no sample,
 *   no HELP/TYPE) while completed is 0, as in the original: 0/0 is not a rate.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import type { JournalRecord } from '../journal/types';

export type ExitLabel = '0' | 'non_zero' | 'unknown';

/** The `exit` label for a result: from exit_code/signal only. */
export function exitLabel(r: { exit_code: number | null; signal: string | null }): ExitLabel {
  if (r.exit_code === 0 && r.signal === null) return '0';
  if ((r.exit_code !== null && r.exit_code !== 0) || r.signal !== null) return 'non_zero';
  return 'unknown';
}

export interface MetricsSnapshot {
  started: number;
  completed: number;
  compliant: number;
  violations: number;
  byMode: { run: number; attach: number };
  byExit: Record<ExitLabel, number>;
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
  private readonly rate: Gauge;
  private rateRegistered = false;
  private readonly snap: MetricsSnapshot = {
    started: 0,
    completed: 0,
    compliant: 0,
    violations: 0,
    byMode: { run: 0, attach: 0 },
    byExit: { '0': 0, non_zero: 0, unknown: 0 },
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
    // Registered on the first result (see the header: absent while nothing completed).
    this.rate = new Gauge({ name: 'ffrtmp_platform_sla_rate', help: 'Platform SLA compliance rate (0-1)', registers: [] });

    // Every series exists from the start, at 0.
    for (const state of ['started', 'completed']) this.jobs.inc({ state }, 0);
    for (const compliant of ['true', 'false']) this.sla.inc({ compliant }, 0);
    for (const mode of ['run', 'attach']) this.byMode.inc({ mode }, 0);
    for (const exit of ['0', 'non_zero', 'unknown']) this.byExit.inc({ exit }, 0);
  }

  /** The only mutator: one journal record in, its increments out. */
  applyRecord(record: JournalRecord): void {
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
    if (compliant) this.snap.compliant++;
    else this.snap.violations++;
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
    return { ...this.snap, byMode: { ...this.snap.byMode }, byExit: { ...this.snap.byExit } };
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
