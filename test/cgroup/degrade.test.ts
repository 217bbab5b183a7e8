/**
 * Degrade, never block: worlds where cgroups are missing or not writable, made real in a
 * child process (its own mount namespace via `unshare -m`, or another user via `setpriv`).
 * The child runs the built library's run() (dist/, which `npm test` builds first) and prints
 * the Result as JSON: the workload always runs, and the Result says what could not be done.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Result } from '../../src/model/result';
import { ROOT } from '../helpers';
import { cleanupRoot, hostEnv, isRoot, nothingUnder, rootFlagFor, runChild, testRootName } from './support';

const env = hostEnv();
const haveUnshare = isRoot && spawnSync('unshare', ['-m', 'true']).status === 0;
const d = haveUnshare && env.mode !== 'none' ? describe : describe.skip;

d('degrade, never block', () => {
  const rel = testRootName();
  const root = rootFlagFor(env, rel);
  afterAll(async () => {
    expect(await cleanupRoot(env, rel)).toEqual([]);
    expect(nothingUnder(env, rel)).toBe(true);
  });

  /** The child: run `true` with `flags` (and the given root) through the library, print the Result. */
  const script = (flags: object, cgroupRoot: string | null) => `
    const { run } = require(${JSON.stringify(path.join(ROOT, 'dist/core/run'))});
    const { parseLimits } = require(${JSON.stringify(path.join(ROOT, 'dist/cgroup/limits'))});
    run({ command: 'true', jobId: 'degrade', governance: { limits: parseLimits(${JSON.stringify(flags)})${cgroupRoot ? `, cgroupRoot: ${JSON.stringify(cgroupRoot)}` : ''} } })
      .then((r) => process.stdout.write(JSON.stringify(r)));
  `;

  it('no cgroups at all (tmpfs over /sys/fs/cgroup): limits requested → cgroup_unavailable', () => {
    const r = runChild(['unshare', '-m', 'sh', '-c', 'mount -t tmpfs -o ro tmpfs /sys/fs/cgroup && exec "$@"', 'sh'], script({ cpuQuota: '50', memoryMax: '64M' }, null));
    expect(r.json, r.stderr).not.toBeNull();
    const out = r.json as Result;
    expect(out.exit_code).toBe(0); // the workload still ran, just ungoverned
    expect(out.cgroup!.mode).toBe('none');
    expect(out.platform_sla_reason).toBe('cgroup_unavailable');
    expect(out.cgroup!.limits.length).toBe(2);
    expect(out.cgroup!.limits.every((l) => !l.applied && /cgroup/.test(l.error!))).toBe(true);
    expect(out.cgroup!.placement).toBe('none');
  });

  it('no cgroups and no limits requested → no violation, usage unknown', () => {
    const r = runChild(['unshare', '-m', 'sh', '-c', 'mount -t tmpfs -o ro tmpfs /sys/fs/cgroup && exec "$@"', 'sh'], script({}, null));
    const out = r.json as Result;
    expect(out, r.stderr).not.toBeNull();
    expect(out.platform_sla_reason).toBe('completed_successfully');
    expect(out.usage?.cpu_seconds ?? null).toBeNull();
  });

  it('a read-only cgroup filesystem (EROFS) → cgroup_permission_denied, nothing created', () => {
    const remounts = env.v1.map((h) => `mount -o remount,bind,ro ${h.mountPoint}`).join(' && ');
    const r = runChild(['unshare', '-m', '--propagation', 'private', 'sh', '-c', `${remounts} && exec "$@"`, 'sh'], script({ cpuQuota: '50', memoryMax: '64M' }, root));
    const out = r.json as Result;
    expect(out, r.stderr).not.toBeNull();
    expect(out.exit_code).toBe(0);
    expect(out.platform_sla_reason).toBe('cgroup_permission_denied');
    expect(out.cgroup!.problems.map((p) => p.detail).join('\n')).toMatch(/EROFS/);
    expect(nothingUnder(env, rel)).toBe(true);
  });

  it('an unprivileged user without delegation (EACCES) → cgroup_permission_denied', () => {
    if (spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'true']).status !== 0) return;
    const r = runChild(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'], script({ memoryMax: '64M' }, root));
    const out = r.json as Result;
    expect(out, r.stderr).not.toBeNull();
    expect(out.platform_sla_reason).toBe('cgroup_permission_denied');
    expect(out.cgroup!.problems[0]!.detail).toMatch(/EACCES|EPERM/);
  });

  it('--cgroup-root outside any cgroup filesystem → cgroup_unavailable', () => {
    const r = runChild([], script({ cpuWeight: '10' }, '/tmp'));
    const out = r.json as Result;
    expect(out, r.stderr).not.toBeNull();
    expect(out.platform_sla_reason).toBe('cgroup_unavailable');
  });
});
