/**
 * Delegation, for real on this host: systemd marks a delegated cgroup with the xattr
 * `trusted.delegate=1` (`user.delegate=1` for user managers). Here a test cgroup of our own gets
 * those xattrs (set with python3's os.setxattr: Node has no xattr API, and neither does this
 * machine need the `attr` package), on the real cgroup v2 mount (hybrid here:
 * /sys/fs/cgroup/unified) and on a real v1 hierarchy, and the addon's getxattr, delegationOf,
 * delegatedAncestors and `ffrtmp doctor` read them back. The supervisor-leaf move
 * (src/cgroup/supervisor.ts) moves a real process and its child out of a real v2 cgroup.
 * What needs a booted systemd (the unit's own xattr, restart, DelegateSubgroup) is the guest's.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectCgroups } from '../../src/cgroup/detect';
import { delegatedAncestors, delegationOf, planRoots, systemXattrReader } from '../../src/cgroup/root';
import { loadNative } from '../../src/native/load';
import { CLI, ROOT, killQuietly, waitFor } from '../helpers';
import { cleanupRoot, isRoot, testRootName } from './support';

const env = detectCgroups();
const native = loadNative();
const rel = testRootName();
const v2 = env.v2 ? path.join(env.v2.mountPoint, rel) : null;
const memV1 = env.v1.find((h) => h.controllers.includes('memory'));
const v1 = memV1 ? path.join(memV1.mountPoint, rel) : null;
const children: ChildProcess[] = [];

function setxattr(p: string, name: string, value: string): void {
  const r = spawnSync('python3', ['-c', 'import os,sys; os.setxattr(sys.argv[1], sys.argv[2], sys.argv[3].encode())', p, name, value], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`setxattr ${name} on ${p}: ${r.stderr}`);
}

beforeAll(() => {
  for (const d of [v2, v1]) if (d) fs.mkdirSync(d);
});
afterAll(async () => {
  for (const c of children) killQuietly(c.pid);
  await cleanupRoot(env, rel);
});

describe.skipIf(!isRoot || !native.available || v2 === null)('getxattr on real cgroups (root)', () => {
  it('the addon reads trusted.delegate and user.delegate; absent is null; a missing path is ENOENT', () => {
    if (!native.available || v2 === null) return;
    expect(native.native.getxattr(v2, 'trusted.delegate')).toBeNull();
    setxattr(v2, 'trusted.delegate', '1');
    expect(native.native.getxattr(v2, 'trusted.delegate')?.toString()).toBe('1');
    // A value longer than the first buffer (64 bytes): read whole.
    const long = 'x'.repeat(300);
    setxattr(v2, 'user.ffrtmp-test', long);
    expect(native.native.getxattr(v2, 'user.ffrtmp-test')?.toString()).toBe(long);
    expect(() => native.native.getxattr(path.join(v2, 'nope'), 'trusted.delegate')).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'getxattr' }));
    expect(() => (native.native.getxattr as unknown as (a: unknown) => void)(42)).toThrow(/^Usage: getxattr/);
  });

  it('delegationOf: yes with trusted.delegate=1 or user.delegate=1 (v2 and v1), no without', () => {
    if (v2 === null) return;
    const sub = path.join(v2, 'sub.service');
    fs.mkdirSync(sub);
    expect(delegationOf(sub)).toBe('no'); // a reader, and no attribute: provably not delegated
    expect(delegationOf(sub, { getxattr: null, euid: 0 })).toBe('unknown'); // no reader: cannot tell
    setxattr(sub, 'user.delegate', '1');
    expect(delegationOf(sub)).toBe('yes');
    if (v1 !== null) {
      expect(delegationOf(v1)).toBe('no');
      setxattr(v1, 'trusted.delegate', '1');
      expect(delegationOf(v1)).toBe('yes');
    }
  });

  it('delegatedAncestors and doctor name the delegating cgroups, their controllers and owner', () => {
    if (v2 === null || !env.v2) return;
    const inner = path.join(v2, 'sub.service', 'job.scope');
    fs.mkdirSync(inner);
    setxattr(inner, 'trusted.delegate', '1');
    const found = delegatedAncestors(env.v2.mountPoint, inner, systemXattrReader());
    expect(found.map((u) => [u.dir, u.unit, u.xattr, u.ownerUid])).toEqual([
      [v2, null, 'trusted.delegate', 0],
      [path.join(v2, 'sub.service'), 'sub.service', 'user.delegate', 0],
      [inner, 'job.scope', 'trusted.delegate', 0],
    ]);
    expect(found[0]!.controllers).toEqual(fs.readFileSync(path.join(v2, 'cgroup.controllers'), 'utf8').trim().split(/\s+/).filter(Boolean));
  });

  it('planRoots (v2, systemd): a --cgroup-root inside a unit that carries the xattr is accepted, inside one without it refused', () => {
    if (v2 === null) return;
    // The v2 part alone (on this hybrid host the v1 hierarchies have no such unit: refused there).
    const sysEnv = { ...env, mode: 'v2' as const, v1: [], systemd: true };
    const ok = planRoots(sysEnv, { cgroupRoot: path.join(v2, 'sub.service', 'jobs') });
    expect(ok.refused).toBeNull();
    fs.mkdirSync(path.join(v2, 'plain.service'));
    const no = planRoots(sysEnv, { cgroupRoot: path.join(v2, 'plain.service', 'jobs') });
    expect(no.refused?.reason).toBe('cgroup_not_delegated');
  });

  it('`ffrtmp doctor` prints the delegation of the cgroup it runs in', async () => {
    if (v2 === null) return;
    const inner = path.join(v2, 'sub.service', 'job.scope');
    // A shell moved into the delegated cgroup (v2 only) runs doctor there.
    const r = spawnSync('sh', ['-c', `echo $$ > ${inner}/cgroup.procs && exec "${process.execPath}" "${CLI}" doctor`], { encoding: 'utf8', timeout: 30_000 });
    const esc = (t: string): string => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    expect(r.stdout).toMatch(new RegExp(`ok +delegation: ${esc(v2)} delegates .* to root \\(trusted\\.delegate\\); sub\\.service delegates .* to root \\(user\\.delegate\\); job\\.scope delegates .* to root \\(trusted\\.delegate\\); our cgroup: ${esc(inner)}`));
  });
});

describe.skipIf(!isRoot || v2 === null)('the supervisor leaf: leaving the cgroup the job cgroups go below (real v2 cgroup)', () => {
  it('moves the process and its child into <root>/supervisor; a second call does nothing', async () => {
    if (v2 === null) return;
    const unit = path.join(v2, 'unit.service');
    fs.mkdirSync(unit);
    // A child that joins the v2 cgroup, starts a grandchild there, then calls the library.
    const script = `
      const fs = require('fs');
      fs.writeFileSync(${JSON.stringify(path.join(unit, 'cgroup.procs'))}, '0');
      const g = require('child_process').spawn('sleep', ['60'], { stdio: 'ignore' });
      const { detectCgroups } = require(${JSON.stringify(path.join(ROOT, 'dist/cgroup/detect.js'))});
      const { leaveRootForSupervisorLeaf } = require(${JSON.stringify(path.join(ROOT, 'dist/cgroup/supervisor.js'))});
      const env = detectCgroups();
      const first = leaveRootForSupervisorLeaf(env, ${JSON.stringify(unit)});
      const second = leaveRootForSupervisorLeaf(env, ${JSON.stringify(unit)});
      process.stdout.write(JSON.stringify({ first, second, grandchild: g.pid, self: fs.readFileSync('/proc/self/cgroup', 'utf8') }) + '\\n');
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    let out = '';
    child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    await waitFor(() => out.includes('\n'), 20_000);
    const r = JSON.parse(out) as { first: { moved: boolean; pids: number[]; to: string }; second: { moved: boolean; why: string }; grandchild: number; self: string };
    try {
      expect(r.first.moved).toBe(true);
      expect(r.first.to).toBe(path.join(unit, 'supervisor'));
      expect(r.first.pids.sort()).toEqual([child.pid!, r.grandchild].sort());
      expect(r.second).toMatchObject({ moved: false });
      expect(r.self).toMatch(new RegExp(`^0::/${rel}/unit\\.service/supervisor$`, 'm'));
      expect(fs.readFileSync(path.join(unit, 'cgroup.procs'), 'utf8')).toBe(''); // the unit cgroup holds no process now
      const inLeaf = fs.readFileSync(path.join(unit, 'supervisor', 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
      expect(inLeaf.sort()).toEqual([child.pid!, r.grandchild].sort());
    } finally {
      killQuietly(r.grandchild);
      killQuietly(child.pid);
    }
  });
});
