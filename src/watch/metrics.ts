/**
 * `/metrics` of `ffrtmp watch` (own Registry, no default metrics). Counters are read from the
 * daemon's stats when scraped (collect()), so nothing here drives the daemon; the latency
 * histogram is fed as each process is governed.
 *
 * - `ffrtmp_watch_discovered_total{path="event"|"scan"|"reconcile"}`: processes governed, by how
 *   they were found (a reconciliation that finds anything means events were missed).
 * - `ffrtmp_watch_skipped_total{why}`: looked at and left alone (gone, not_target, own,
 *   governed, filtered, kernel_thread).
 * - `ffrtmp_watch_attach_failures_total{reason}`: limit_refused, refused, error.
 * - `ffrtmp_watch_overruns_total`: the connector's receive queue overflowed (ENOBUFS).
 * - `ffrtmp_watch_exec_events_total{where="crossed"|"filtered_in_c"}`: exec events that reached
 *   JavaScript, and those the addon dropped by `comm` (the connector's own counters, read at
 *   each scrape).
 * - `ffrtmp_watch_connector_wakeups_total`: drains of the connector (coalesced in a storm).
 * - `ffrtmp_watch_governed`: processes governed now.
 * - `ffrtmp_watch_discovery_latency_seconds{path}`: from the exec (event) or the process start
 *   (scan) to governed (moved and verified, or watched when there are no limits).
 * - `ffrtmp_watch_discovery_mode{mode="events"|"scan"}`: 1 for the mode in use.
 * - `ffrtmp_watch_last_scan_timestamp_seconds`: when the last look at /proc completed.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { DiscoveryPath, WatchDaemon } from './daemon';

const BUCKETS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** A counter whose value is read from `read()` at each scrape, per label value. */
function mirrored(registry: Registry, name: string, help: string, label: string | null, read: () => Record<string, number>): void {
  new Counter({
    name, help, labelNames: label === null ? [] : [label], registers: [registry],
    collect() {
      this.reset();
      for (const [v, n] of Object.entries(read())) (label === null ? this : this.labels(v)).inc(n);
    },
  });
}

export class WatchMetrics {
  readonly registry = new Registry();
  private readonly latency: Histogram<'path'>;

  constructor(daemon: WatchDaemon) {
    const r = this.registry;
    const s = daemon.stats;
    mirrored(r, 'ffrtmp_watch_discovered_total', 'Processes governed, by how they were found', 'path', () => s.discovered);
    mirrored(r, 'ffrtmp_watch_skipped_total', 'Target candidates looked at and left alone, by why', 'why', () => s.skipped);
    mirrored(r, 'ffrtmp_watch_attach_failures_total', 'Processes that could not be governed, by reason', 'reason', () => s.attachFailures);
    mirrored(r, 'ffrtmp_watch_overruns_total', 'Process connector receive-queue overruns (events lost, a rescan followed)', null, () => ({ '': s.overruns }));
    mirrored(r, 'ffrtmp_watch_exec_events_total', 'Exec events: crossed to JavaScript, or dropped by comm in the addon', 'where', () => {
      const c = daemon.connectorStats();
      return { crossed: c.crossed, filtered_in_c: c.filtered };
    });
    mirrored(r, 'ffrtmp_watch_connector_wakeups_total', 'Times the addon drained the process connector (coalesced under an exec storm)', null, () => ({ '': daemon.connectorStats().drains }));
    new Gauge({ name: 'ffrtmp_watch_governed', help: 'Processes governed now', registers: [r], collect() { this.set(s.governedNow); } });
    new Gauge({
      name: 'ffrtmp_watch_discovery_mode', help: 'The discovery mode in use (1)', labelNames: ['mode'], registers: [r],
      collect() {
        const mode = daemon.discoveryState.mode;
        this.labels('events').set(mode === 'events' ? 1 : 0);
        this.labels('scan').set(mode === 'scan' ? 1 : 0);
      },
    });
    new Gauge({
      name: 'ffrtmp_watch_last_scan_timestamp_seconds', help: 'When the last look at /proc (scan or reconciliation) completed', registers: [r],
      collect() { if (s.lastScanAtMs !== null) this.set(s.lastScanAtMs / 1000); },
    });
    this.latency = new Histogram({ name: 'ffrtmp_watch_discovery_latency_seconds', help: 'From exec (event) or process start (scan) to governed', labelNames: ['path'], buckets: BUCKETS, registers: [r] });
    for (const p of ['event', 'scan', 'reconcile'] as const) this.latency.labels(p);
    daemon.onLatency = (path: DiscoveryPath, ms: number) => this.latency.labels(path).observe(ms / 1000);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
