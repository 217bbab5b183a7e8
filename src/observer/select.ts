import { loadNative } from '../native/load';
import { PidfdObserver } from './pidfd';
import { DEFAULT_POLL_INTERVAL_MS, PollingObserver } from './polling';
import type { ExitObserver } from './types';

export interface SelectOptions {
  /** Force a backend (tests, benchmarks); default: pidfd when the kernel and addon allow. */
  backend?: 'pidfd' | 'polling';
  /** Polling interval of the fallback. */
  pollIntervalMs?: number;
  /** Reap grace of the pidfd backend (src/observer/pidfd.ts). */
  reapGraceMs?: number;
}

/**
 * Picks the exit observer and says why, never throwing: a missing addon or an old kernel means
 * the polling fallback, with the reason kept for `ffrtmp doctor` and `/health`.
 * `FFRTMP_OBSERVER=polling|pidfd` in the environment forces a backend like `opts.backend`.
 */
export function selectObserver(opts: SelectOptions = {}): ExitObserver {
  const forced = opts.backend ?? parseForced(process.env.FFRTMP_OBSERVER);
  const interval = opts.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  if (forced === 'polling') {
    return new PollingObserver(`polling forced (${opts.backend ? 'by the caller' : 'FFRTMP_OBSERVER=polling'})`, interval);
  }
  const loaded = loadNative();
  if (!loaded.available) {
    return new PollingObserver(`native addon unavailable: ${loaded.reason}`, interval);
  }
  const caps = loaded.native.capabilities();
  if (!caps.pidfdOpen) {
    return new PollingObserver(`kernel ${caps.kernelRelease} has no pidfd_open (Linux 5.3+)`, interval);
  }
  const why = caps.pidfdInfoExit
    ? `pidfd_open + epoll on kernel ${caps.kernelRelease}; non-child exit status via PIDFD_INFO_EXIT`
    : `pidfd_open + epoll on kernel ${caps.kernelRelease}; no PIDFD_INFO_EXIT (6.15+), so an attached process's exit status is unknown`;
  return new PidfdObserver(loaded.native, why, caps.pidfdInfoExit, { reapGraceMs: opts.reapGraceMs });
}

function parseForced(v: string | undefined): 'pidfd' | 'polling' | undefined {
  return v === 'polling' || v === 'pidfd' ? v : undefined;
}
