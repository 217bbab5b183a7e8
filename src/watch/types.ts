/**
 * The watch daemon's settings, canonical: what a YAML file (`--watch-config`, config.ts) and the
 * flags produce once validated. Durations are milliseconds, limits are the core's `Limits`.
 */
import type { Limits } from '../cgroup/limits';

/** How new processes are found (docs/watch.md). */
export type DiscoveryMode =
  /** The netlink process connector when it works here, else the /proc scan (said at start). */
  | 'auto'
  /** The process connector only: the daemon does not start without it. */
  | 'events'
  /** A /proc scan every `scanIntervalMs`. */
  | 'scan';

/** Who may be governed. Every list present must pass (AND); an absent list does not filter. */
export interface WatchFilters {
  readonly allowedUsers?: readonly string[];
  readonly blockedUsers?: readonly string[];
  readonly allowedUids?: readonly number[];
  readonly blockedUids?: readonly number[];
  readonly allowedParents?: readonly number[];
  readonly blockedParents?: readonly number[];
  /** A process younger than this is looked at again when it is old enough, not forgotten. */
  readonly minRuntimeMs?: number;
  readonly maxRuntimeMs?: number;
  /** Working-directory prefixes, matched on whole path components (`/tmp` covers `/tmp/x`, not `/tmpx`). */
  readonly allowedDirs?: readonly string[];
  readonly blockedDirs?: readonly string[];
}

/** `commands.<name>`: what applies to one target instead of (limits) or on top of (filters) the defaults. */
export interface CommandSettings {
  /** Replaces `defaultLimits` as a whole for this command when present. */
  readonly limits?: Limits;
  /** Checked first, then the global filters too (both must pass). */
  readonly filters?: WatchFilters;
}

export interface WatchConfig {
  readonly discovery: DiscoveryMode;
  readonly scanIntervalMs: number;
  readonly reconcileIntervalMs: number;
  /** Executable basenames, exact (argv[0] and /proc/PID/exe). */
  readonly targets: readonly string[];
  readonly defaultLimits: Limits;
  readonly filters: WatchFilters;
  readonly commands: Readonly<Record<string, CommandSettings>>;
}

export const DEFAULT_TARGETS: readonly string[] = ['ffmpeg', 'gst-launch-1.0'];
export const DEFAULT_SCAN_INTERVAL_MS = 2000;
export const DEFAULT_RECONCILE_INTERVAL_MS = 60_000;

export const DEFAULT_WATCH_CONFIG: WatchConfig = Object.freeze({
  discovery: 'auto',
  scanIntervalMs: DEFAULT_SCAN_INTERVAL_MS,
  reconcileIntervalMs: DEFAULT_RECONCILE_INTERVAL_MS,
  targets: DEFAULT_TARGETS,
  defaultLimits: Object.freeze({}),
  filters: Object.freeze({}),
  commands: Object.freeze({}),
});
