/**
 * The cgroup part of `ffrtmp doctor`: mode, CLONE_INTO_CGROUP, controllers and where they
 * live, delegation, whether the default root is writable. Read-only: probes nothing by
 * creating cgroups.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { failed, passed, type Check } from '../model/check';
import { detectCgroups, resourceHome, type CgroupEnv, type Resource } from './detect';
import { delegatedAncestors, planRoots, systemXattrReader, type XattrReader } from './root';
import { SUPERVISOR_LEAF } from './supervisor';

/** `6.1.0-56-amd64` → [6, 1]. */
function kernelVersion(release: string): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(release);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

export interface CgroupDoctorInput {
  kernelRelease: string;
  /** clone3 exists (from the addon's capabilities); null when the addon is missing. */
  clone3: boolean | null;
  env?: CgroupEnv;
  cgroupRoot?: string;
  getxattr?: XattrReader | null;
}

export function cgroupChecks(input: CgroupDoctorInput): Check[] {
  const env = input.env ?? detectCgroups();
  const checks: Check[] = [];
  const modeDetail: Record<string, string> = {
    v2: `v2 (unified) at ${env.v2?.mountPoint}`,
    hybrid: `hybrid: v1 controllers under ${path.dirname(env.v1[0]?.mountPoint ?? '/sys/fs/cgroup/x')}, v2 at ${env.v2?.mountPoint} (controllers there: ${env.v2?.controllers.join(' ') || 'none'})`,
    v1: `v1 (legacy) under ${path.dirname(env.v1[0]?.mountPoint ?? '/sys/fs/cgroup/x')}`,
    none: 'no usable cgroup filesystem',
  };
  checks.push(
    env.mode === 'none'
      ? failed('cgroup mode', 'missing', modeDetail.none!, { cost: 'no limits can be applied and no usage measured; runs with limits report cgroup_unavailable', fix: 'mount cgroup2 at /sys/fs/cgroup (or give the container its cgroup namespace)' })
      : passed('cgroup mode', modeDetail[env.mode]!),
  );

  const [maj, min] = kernelVersion(input.kernelRelease);
  const kernelHas = maj > 5 || (maj === 5 && min >= 7);
  const intoOk = env.mode === 'v2' && kernelHas && input.clone3 === true;
  checks.push(
    intoOk
      ? passed('CLONE_INTO_CGROUP', 'run starts the workload inside its cgroup at birth (clone3, Linux 5.7+, v2)')
      : // A warning, not a loss: the pre-exec join places the workload before it runs, race-free.
        failed(
          'CLONE_INTO_CGROUP',
          'warning',
          env.mode !== 'v2' ? `not usable: the controllers are not on cgroup v2 (${env.mode})` : !kernelHas ? `kernel ${input.kernelRelease} is older than 5.7` : 'clone3 unavailable (no addon, or seccomp)',
          {
            cost: 'the child writes its PID into cgroup.procs before exec instead: still race-free, but each write takes the global cgroup_threadgroup_rwsem (slower at high density)',
            fix: env.mode !== 'v2' ? 'boot with cgroup v2 only (systemd.unified_cgroup_hierarchy=1)' : 'Linux 5.7+ with the native addon',
          },
        ),
  );

  const root = input.cgroupRoot ?? (process.env.FFRTMP_CGROUP_ROOT || undefined);
  const plan = planRoots(env, { ...(root !== undefined ? { cgroupRoot: root } : {}), ...(input.getxattr !== undefined ? { getxattr: input.getxattr } : {}) });
  const names: Record<Resource, string> = { cpu: 'cpu (cpu.max, cpu.weight)', cpuacct: 'CPU accounting', memory: 'memory (memory.max, usage, OOM kills)', io: 'io (io.max)' };
  for (const r of ['cpu', 'memory', 'io', 'cpuacct'] as Resource[]) {
    const home = resourceHome(env, r);
    if (home.kind === 'none') {
      checks.push(failed(`controller ${names[r]}`, 'missing', 'no hierarchy provides it', { cost: r === 'cpuacct' ? 'no CPU seconds in usage' : `limits on ${r} are reported as limit_not_applied`, fix: r === 'io' ? 'enable the io/blkio controller' : `enable the ${r} controller` }));
      continue;
    }
    if (home.kind === 'v2' && home.controller !== null && plan.v2Root) {
      // Available to the root's children only if enabled all the way down (or enable-able by us).
      const ctlFile = path.join(fs.existsSync(plan.v2Root) ? plan.v2Root : path.dirname(plan.v2Root), 'cgroup.controllers');
      let inRoot = true;
      try {
        inRoot = fs.readFileSync(ctlFile, 'utf8').split(/\s+/).includes(home.controller);
      } catch {
        /* unreadable: assume available */
      }
      checks.push(inRoot
        ? passed(`controller ${names[r]}`, `v2, available at ${path.dirname(ctlFile)}`)
        : failed(`controller ${names[r]}`, 'missing', `v2, but not delegated to ${path.dirname(ctlFile)}`, { cost: `limits on ${r} are reported as limit_not_applied`, fix: `Delegate=${home.controller} (systemd) or enable it in the parent's cgroup.subtree_control` }));
      continue;
    }
    checks.push(passed(`controller ${names[r]}`, home.kind === 'v2' ? 'v2 (built in)' : `v1 hierarchy ${home.hierarchy.mountPoint}`));
  }

  checks.push(delegationCheck(env, input.getxattr === undefined ? systemXattrReader() : input.getxattr));

  if (plan.refused) {
    checks.push(failed('cgroup root', 'missing', plan.refused.detail, { cost: `runs with limits report ${plan.refused.reason}`, fix: plan.refused.reason === 'cgroup_not_delegated' ? 'run as a service with Delegate=yes (and DelegateSubgroup=), or choose --cgroup-root outside systemd units' : 'choose --cgroup-root inside a cgroup mount' }));
  } else {
    const roots = [...(plan.v2Root && env.mode === 'v2' ? [plan.v2Root] : []), ...(plan.v1Rel !== null ? env.v1.filter((h) => ['cpu', 'cpuacct', 'memory', 'blkio'].some((c) => h.controllers.includes(c))).map((h) => path.join(h.mountPoint, plan.v1Rel!)) : [])];
    const unwritable: string[] = [];
    for (const r of roots) {
      const probe = fs.existsSync(r) ? r : path.dirname(r);
      try {
        fs.accessSync(probe, fs.constants.W_OK);
      } catch (e) {
        unwritable.push(`${probe} (${(e as NodeJS.ErrnoException).code})`);
      }
    }
    const where = `${roots.join(', ')} (${plan.source === 'delegated' ? 'delegated to us by systemd' : plan.source === 'flag' ? '--cgroup-root' : 'default'})`;
    checks.push(unwritable.length === 0
      ? passed('cgroup root', `writable: ${where}${plan.warnings.length ? `; ${plan.warnings.join('; ')}` : ''}`)
      : failed('cgroup root', 'missing', `not writable: ${unwritable.join(', ')}`, { cost: 'runs with limits report cgroup_permission_denied; no usage numbers', fix: 'run as root, or as a systemd service with Delegate=yes' }));
  }
  return checks;
}

/** A uid as a name, from /etc/passwd (`1000` when it has none). */
function userName(uid: number): string {
  try {
    const line = fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.split(':')[2] === String(uid));
    if (line) return line.split(':')[0]!;
  } catch {
    /* no passwd */
  }
  return String(uid);
}

/**
 * Which unit delegates what to us: every delegated cgroup (trusted.delegate / user.delegate = 1)
 * on the way to our own v2 cgroup, with the controllers it may hand down and its owner. Never a
 * loss by itself: the cgroup root check says whether limits can be applied.
 */
function delegationCheck(env: CgroupEnv, reader: XattrReader | null): ReturnType<typeof passed> {
  const name = 'delegation';
  if (!env.v2 || env.v2.ownDir === null) return passed(name, 'no cgroup v2 here: systemd delegation does not apply (v1 job cgroups go under <controller>/ffrtmp)');
  if (reader === null) return failed(name, 'warning', 'cannot read the delegate xattrs without the native addon', { cost: 'a unit\'s delegation is inferred from ownership only (unprivileged), or not known (root)', fix: 'build the addon (npm rebuild ffrtmp)' });
  const own = env.v2.ownDir;
  const units = delegatedAncestors(env.v2.mountPoint, own, reader);
  const where = path.basename(own) === SUPERVISOR_LEAF ? `${own} (our supervisor leaf)` : own;
  if (units.length === 0) {
    return passed(name, `none: our cgroup ${where} is in no delegated unit${env.systemd ? ' (as a service: Delegate=yes; in a user session: systemd-run --user --scope -p Delegate=yes)' : ''}`);
  }
  const text = units
    .map((u) => `${u.unit ?? u.dir} delegates ${u.controllers.length > 0 ? u.controllers.join(' ') : 'no controller'} to ${u.ownerUid === null ? '?' : userName(u.ownerUid)} (${u.xattr})`)
    .join('; ');
  return passed(name, `${text}; our cgroup: ${where}`);
}
