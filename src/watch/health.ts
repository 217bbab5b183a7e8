/**
 * `/health` of `ffrtmp watch`: healthy, degraded or unhealthy, always with the reasons, computed
 * when asked (a stalled loop turns unhealthy even if nothing else happens: the original only
 * re-evaluated its health when an event arrived).
 *
 * - unhealthy: discovery has stopped (the connector failed in `events` mode), or no look at /proc
 *   completed for 3 intervals (scan mode: the scan interval; events mode: the reconciliation
 *   interval) plus 10 s: the daemon's loop is stuck.
 * - degraded: `auto` fell back to the scan (discovery is as slow as the scan interval), the
 *   connector overran in the last 5 minutes (events were lost; a rescan found them), an attach
 *   failed in the last 5 minutes, or the journal cannot be written.
 * - healthy: none of those.
 */
import type { DiscoveryState, WatchStats } from './daemon';
import type { WatchConfig } from './types';

export type HealthStatus = 'healthy' | 'degraded' | 'unhealthy';

export interface WatchHealth {
  readonly status: HealthStatus;
  readonly reasons: readonly string[];
  readonly discovery: {
    readonly requested: string;
    readonly mode: string;
    readonly fallback_reason: string | null;
    readonly kernel_filter: boolean;
    readonly rcvbuf_bytes: number;
  };
  readonly governed_now: number;
  readonly governed_total: number;
  readonly overruns_total: number;
  readonly last_overrun_at: string | null;
  readonly attach_failures_total: number;
  readonly last_attach_failure: { readonly at: string; readonly what: string } | null;
  readonly last_scan: { readonly at: string; readonly path: string; readonly age_s: number } | null;
  readonly journal: { readonly writable: boolean; readonly error?: string };
}

export const RECENT_MS = 5 * 60_000;

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function watchHealth(
  stats: WatchStats,
  discovery: DiscoveryState,
  config: WatchConfig,
  journal: { writable: boolean; error?: string },
  now: number = Date.now(),
): WatchHealth {
  const bad: string[] = [];
  const meh: string[] = [];
  if (stats.eventsError !== null && discovery.mode === 'events') bad.push(`the process connector failed: ${stats.eventsError}`);
  const interval = discovery.mode === 'scan' ? config.scanIntervalMs : config.reconcileIntervalMs;
  const limit = 3 * interval + 10_000;
  if (stats.lastScanAtMs === null) bad.push('no look at /proc has completed yet');
  else if (now - stats.lastScanAtMs > limit) bad.push(`no look at /proc completed for ${Math.round((now - stats.lastScanAtMs) / 1000)} s (expected every ${interval / 1000} s): the daemon is stuck`);
  if (discovery.fallbackWhy !== null) meh.push(`discovery falls back to a /proc scan every ${config.scanIntervalMs / 1000} s: ${discovery.fallbackWhy}`);
  if (stats.lastOverrunAtMs !== null && now - stats.lastOverrunAtMs < RECENT_MS) meh.push(`the process connector overran ${stats.overruns} time(s), the last ${Math.round((now - stats.lastOverrunAtMs) / 1000)} s ago (a rescan followed)`);
  if (stats.lastAttachFailureAtMs !== null && now - stats.lastAttachFailureAtMs < RECENT_MS) meh.push(`an attach failed ${Math.round((now - stats.lastAttachFailureAtMs) / 1000)} s ago: ${stats.lastAttachFailure ?? ''}`);
  if (!journal.writable) meh.push(`the journal cannot be written${journal.error ? ` (${journal.error})` : ''}: Results are not persisted`);
  const failures = Object.values(stats.attachFailures).reduce((a, b) => a + b, 0);
  return {
    status: bad.length > 0 ? 'unhealthy' : meh.length > 0 ? 'degraded' : 'healthy',
    reasons: [...bad, ...meh],
    discovery: {
      requested: discovery.requested,
      mode: discovery.mode,
      fallback_reason: discovery.fallbackWhy,
      kernel_filter: discovery.kernelFilter,
      rcvbuf_bytes: discovery.rcvbufBytes,
    },
    governed_now: stats.governedNow,
    governed_total: stats.governedTotal,
    overruns_total: stats.overruns,
    last_overrun_at: iso(stats.lastOverrunAtMs),
    attach_failures_total: failures,
    last_attach_failure: stats.lastAttachFailureAtMs === null ? null : { at: iso(stats.lastAttachFailureAtMs)!, what: stats.lastAttachFailure ?? '' },
    last_scan: stats.lastScanAtMs === null ? null : { at: iso(stats.lastScanAtMs)!, path: stats.lastScanPath ?? 'scan', age_s: Math.round((now - stats.lastScanAtMs) / 100) / 10 },
    journal,
  };
}
