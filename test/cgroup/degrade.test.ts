/**
 * Degrade, never block: worlds where cgroups are missing or not writable, made real in a
 * child process (its own mount namespace via `unshare -m`, or another user via `setpriv`).
 * The child runs plain-JS copies of the library and prints the job's report as JSON.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupRoot, hostEnv, isRoot, nothingUnder, rootFlagFor, runChild, testRootName, transpileCgroupLib } from './support';

const env = hostEnv();
const haveUnshare = isRoot && spawnSync('unshare', ['-m', 'true']).status === 0;
const d = haveUnshare && env.mode !== 'none' ? describe : describe.skip;

d('degrade, never block', () => {
  const rel = testRootName();
  const root = rootFlagFor(env, rel);
  let lib = '';

  beforeAll(() => {
    lib = transpileCgroupLib();
  });
  afterAll(async () => {
    if (lib) fs.rmSync(lib, { recursive: true, force: true });
    expect(await cleanupRoot(env, rel)).toEqual([]);
    expect(nothingUnder(env, rel)).toBe(true);
  });

  /** The child: create a job with `flags` (and the given root), print the report and violation. */
  const script = (flags: object, cgroupRoot: string | null) => `
    const { JobCgroup } = require(${JSON.stringify(lib)} + '/cgroup/job.js');
    const { parseLimits } = require(${JSON.stringify(lib)} + '/cgroup/limits.js');
    const job = JobCgroup.create({ jobId: 'degrade', mode: 'run', limits: parseLimits(${JSON.stringify(flags)}),
      ${cgroupRoot ? `cgroupRoot: ${JSON.stringify(cgroupRoot)},` : ''} });
    const placement = job.placementForRun({ cloneIntoCgroup: true });
    placement.close();
    const out = { violation: job.violation(), report: job.report(), placement: placement.cgroupProcsPaths, usage: job.readUsage() };
    job.remove().then(() => process.stdout.write(JSON.stringify(out)));
  `;

  it('no cgroups at all (tmpfs over /sys/fs/cgroup): limits requested → cgroup_unavailable', () => {
    const r = runChild(['unshare', '-m', 'sh', '-c', 'mount -t tmpfs -o ro tmpfs /sys/fs/cgroup && exec "$@"', 'sh'], script({ cpuQuota: '50', memoryMax: '64M' }, null));
    expect(r.json, r.stderr).not.toBeNull();
    const out = r.json as { violation: string; report: { mode: string; limits: { applied: boolean; error: string }[] }; placement: string[] };
    expect(out.report.mode).toBe('none');
    expect(out.violation).toBe('cgroup_unavailable');
    expect(out.report.limits.length).toBe(2);
    expect(out.report.limits.every((l) => !l.applied && /cgroup/.test(l.error))).toBe(true);
    expect(out.placement).toEqual([]); // the workload still runs, just ungoverned
  });

  it('no cgroups and no limits requested → no violation, usage unknown', () => {
    const r = runChild(['unshare', '-m', 'sh', '-c', 'mount -t tmpfs -o ro tmpfs /sys/fs/cgroup && exec "$@"', 'sh'], script({}, null));
    const out = r.json as { violation: string | null; usage: { cpu_seconds: number | null } };
    expect(out, r.stderr).not.toBeNull();
    expect(out.violation).toBeNull();
    expect(out.usage.cpu_seconds).toBeNull();
  });

  it('a read-only cgroup filesystem (EROFS) → cgroup_permission_denied, nothing created', () => {
    const remounts = env.v1.map((h) => `mount -o remount,bind,ro ${h.mountPoint}`).join(' && ');
    const r = runChild(['unshare', '-m', '--propagation', 'private', 'sh', '-c', `${remounts} && exec "$@"`, 'sh'], script({ cpuQuota: '50', memoryMax: '64M' }, root));
    const out = r.json as { violation: string; report: { problems: { reason: string; detail: string }[] } };
    expect(out, r.stderr).not.toBeNull();
    expect(out.violation).toBe('cgroup_permission_denied');
    expect(out.report.problems.map((p) => p.detail).join('\n')).toMatch(/EROFS/);
    expect(nothingUnder(env, rel)).toBe(true);
  });

  it('an unprivileged user without delegation (EACCES) → cgroup_permission_denied', () => {
    if (spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'true']).status !== 0) return;
    const r = runChild(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'], script({ memoryMax: '64M' }, root));
    const out = r.json as { violation: string; report: { problems: { reason: string; detail: string }[] } };
    expect(out, r.stderr).not.toBeNull();
    expect(out.violation).toBe('cgroup_permission_denied');
    expect(out.report.problems[0]!.detail).toMatch(/EACCES|EPERM/);
  });

  it('--cgroup-root outside any cgroup filesystem → cgroup_unavailable', () => {
    const r = runChild([], script({ cpuWeight: '10' }, '/tmp'));
    const out = r.json as { violation: string };
    expect(out, r.stderr).not.toBeNull();
    expect(out.violation).toBe('cgroup_unavailable');
  });
});
