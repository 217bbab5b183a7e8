import { release } from 'node:os';
import { cgroupChecks } from '../cgroup/doctor';
import { loadNative } from '../native/load';
import { locateKeeper, probeKeeper } from '../native/keeper-path';
import { probeProcEvents } from '../native/proc-events';
import { failed, passed, worstSeverity, type Check, type CheckSeverity } from '../model/check';
import { selectObserver } from '../observer/select';

export type { Check, CheckSeverity };

export interface Diagnosis {
  readonly kernel: string;
  readonly observer: { readonly backend: 'pidfd' | 'polling'; readonly why: string };
  readonly checks: readonly Check[];
  /** The worst severity of the checks: `missing` when a function is lost (doctor exits 1). */
  readonly severity: CheckSeverity;
  /** Every check passed (no warning, nothing missing). */
  readonly fullyCapable: boolean;
}

/** What this host and build can do, as data (`ffrtmp doctor` renders it). Never throws. */
export function diagnose(): Diagnosis {
  const observer = selectObserver();
  const loaded = loadNative();
  const checks: Check[] = [];
  checks.push(
    loaded.available
      ? passed('native addon', 'loaded')
      : failed('native addon', 'missing', loaded.reason, {
          cost: 'exit detection falls back to polling (up to 100 ms late); no race-free spawn',
          fix: 'reinstall with build tools present (python3, make, g++): npm rebuild ffrtmp',
        }),
  );
  const caps = loaded.available ? loaded.native.capabilities() : undefined;
  const kernel = caps?.kernelRelease ?? release();
  if (caps) {
    checks.push(
      caps.pidfdOpen
        ? passed('pidfd_open', 'available (Linux 5.3+)')
        : failed('pidfd_open', 'missing', 'missing', { cost: 'polling fallback: late detection, no exit status for attached processes', fix: 'run on Linux 5.3 or newer' }),
      caps.clone3
        ? passed('clone3', 'available: the pidfd exists from the child\'s birth')
        : failed('clone3', 'warning', 'missing (or filtered by seccomp)', { cost: 'spawn uses fork + pidfd_open (equally safe, see docs/native.md)', fix: 'Linux 5.3+, or allow clone3 in the seccomp profile' }),
      caps.pidfdInfoExit
        ? passed('PIDFD_INFO_EXIT', 'available: exit status of attached (non-child) processes is known')
        : failed('PIDFD_INFO_EXIT', 'warning', 'missing', { cost: 'attached processes end with exit=unknown (their exit is still observed at once)', fix: 'run on Linux 6.15 or newer' }),
    );
  }
  checks.push(keeperCheck());
  if (loaded.available) checks.push(connectorCheck());
  try {
    checks.push(...cgroupChecks({ kernelRelease: kernel, clone3: caps ? caps.clone3 : null }));
  } catch (e) {
    checks.push(failed('cgroups', 'missing', `could not inspect: ${(e as Error).message}`));
  }
  checks.push(
    observer.backend === 'pidfd'
      ? passed('observer backend', `${observer.backend}: ${observer.why}`)
      : failed('observer backend', 'missing', `${observer.backend}: ${observer.why}`, { cost: 'exit detection by polling', fix: 'see the checks above' }),
  );
  const severity = worstSeverity(checks);
  return {
    kernel,
    observer: { backend: observer.backend, why: observer.why },
    checks,
    severity,
    fullyCapable: severity === 'ok',
  };
}

/** Whether `ffrtmp watch` can discover processes by exec events (docs/watch.md "Discovery"). */
function connectorCheck(): Check {
  const p = probeProcEvents();
  if (p.ok) {
    return passed('process connector', `usable${p.kernelFilter ? ', exec events filtered in the kernel' : ' (exec events filtered by a socket filter)'}: \`ffrtmp watch\` discovers new processes within milliseconds`);
  }
  return failed('process connector', 'warning', `${p.error.code}: ${p.error.message}`, {
    cost: '`ffrtmp watch` falls back to a /proc scan: discovery is up to --scan-interval late',
    fix: 'run in the initial user, pid and network namespaces; before Linux 6.6 as root (CAP_NET_ADMIN)',
  });
}

/** Whether `run` can start workloads under ffrtmp-keeper (docs/native.md "keeper"). */
function keeperCheck(): Check {
  const loc = locateKeeper();
  const probe = loc.available ? probeKeeper(loc.path) : { ok: false as const, why: loc.why };
  if (loc.available && probe.ok) {
    return passed('keeper', `${loc.path} (protocol 1): a workload's exit status outlives its wrapper, on every kernel`);
  }
  return failed('keeper', 'warning', probe.ok ? '' : probe.why, {
    cost: 'workloads start as the wrapper\'s direct children: when a wrapper dies mid-job, the exit status is lost unless the kernel has PIDFD_INFO_EXIT (6.15+)',
    fix: 'npm rebuild ffrtmp (node-gyp builds ffrtmp-keeper beside the addon), or point FFRTMP_KEEPER at one',
  });
}
