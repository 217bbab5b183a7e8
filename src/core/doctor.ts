import { release } from 'node:os';
import { cgroupChecks } from '../cgroup/doctor';
import { loadNative } from '../native/load';
import type { Check } from '../model/check';
import { selectObserver } from '../observer/select';

export type { Check };

export interface Diagnosis {
  readonly kernel: string;
  readonly observer: { readonly backend: 'pidfd' | 'polling'; readonly why: string };
  readonly checks: readonly Check[];
  /** Every check passed. */
  readonly fullyCapable: boolean;
}

/** What this host and build can do, as data (`ffrtmp doctor` renders it). Never throws. */
export function diagnose(): Diagnosis {
  const observer = selectObserver();
  const loaded = loadNative();
  const checks: Check[] = [];
  checks.push(
    loaded.available
      ? { name: 'native addon', ok: true, detail: 'loaded' }
      : { name: 'native addon', ok: false, detail: loaded.reason,
          cost: 'exit detection falls back to polling (up to 100 ms late); no race-free spawn',
          fix: 'reinstall with build tools present (python3, make, g++): npm rebuild ffrtmp' },
  );
  const caps = loaded.available ? loaded.native.capabilities() : undefined;
  const kernel = caps?.kernelRelease ?? release();
  if (caps) {
    checks.push(
      caps.pidfdOpen
        ? { name: 'pidfd_open', ok: true, detail: 'available (Linux 5.3+)' }
        : { name: 'pidfd_open', ok: false, detail: 'missing', cost: 'polling fallback: late detection, no exit status for attached processes', fix: 'run on Linux 5.3 or newer' },
      caps.clone3
        ? { name: 'clone3', ok: true, detail: 'available: the pidfd exists from the child\'s birth' }
        : { name: 'clone3', ok: false, detail: 'missing (or filtered by seccomp)', cost: 'spawn uses fork + pidfd_open (equally safe, see docs/native.md)', fix: 'Linux 5.3+, or allow clone3 in the seccomp profile' },
      caps.pidfdInfoExit
        ? { name: 'PIDFD_INFO_EXIT', ok: true, detail: 'available: exit status of attached (non-child) processes is known' }
        : { name: 'PIDFD_INFO_EXIT', ok: false, detail: 'missing', cost: 'attached processes end with exit=unknown', fix: 'run on Linux 6.15 or newer' },
    );
  }
  try {
    checks.push(...cgroupChecks({ kernelRelease: kernel, clone3: caps ? caps.clone3 : null }));
  } catch (e) {
    checks.push({ name: 'cgroups', ok: false, detail: `could not inspect: ${(e as Error).message}` });
  }
  checks.push({ name: 'observer backend', ok: observer.backend === 'pidfd', detail: `${observer.backend}: ${observer.why}`,
    ...(observer.backend === 'pidfd' ? {} : { cost: 'exit detection by polling', fix: 'see the checks above' }) });
  return {
    kernel,
    observer: { backend: observer.backend, why: observer.why },
    checks,
    fullyCapable: checks.every((c) => c.ok),
  };
}
