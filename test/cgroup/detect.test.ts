import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/model/errors';
import { cgroupPathToDir, detectCgroups, parseMountInfo, parseProcCgroup, resourceHome } from '../../src/cgroup/detect';
import { checkRootFlag, leafNameFor } from '../../src/cgroup/job';
import { enclosingUnitDir, planRoots } from '../../src/cgroup/root';

const HYBRID = `
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
`;
const HYBRID_SELF = `12:memory:/user.slice
4:cpu,cpuacct:/user.slice
3:blkio:/
1:name=systemd:/user.slice/session-1.scope
0::/user.slice/session-1.scope
`;

const V2 = `
25 20 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`;

describe('detection from mountinfo', () => {
  it('parses mountinfo fields, including octal escapes', () => {
    const m = parseMountInfo('41 31 0:38 /a\\040b /mnt/x\\040y ro,relatime shared:1 - cgroup2 none rw\n');
    expect(m[0]).toMatchObject({ root: '/a b', mountPoint: '/mnt/x y', fsType: 'cgroup2', mountOptions: ['ro', 'relatime'] });
  });

  it('parses /proc/self/cgroup, co-mounted controllers and v2 line', () => {
    expect(parseProcCgroup(HYBRID_SELF)).toContainEqual({ hierarchyId: 4, controllers: ['cpu', 'cpuacct'], path: '/user.slice' });
    expect(parseProcCgroup(HYBRID_SELF)).toContainEqual({ hierarchyId: 0, controllers: [], path: '/user.slice/session-1.scope' });
  });

  it('hybrid: co-mounted cpu,cpuacct, named hierarchies ignored, v2 beside', () => {
    const env = detectCgroups({ mountinfo: HYBRID, procSelfCgroup: HYBRID_SELF, skipStatfs: true, systemd: true });
    expect(env.mode).toBe('hybrid');
    expect(env.v1.map((h) => h.controllers.join(','))).toEqual(['cpu,cpuacct', 'memory', 'blkio']);
    expect(env.v1[0]!.ownDir).toBe('/sys/fs/cgroup/cpu,cpuacct/user.slice');
    const cpu = resourceHome(env, 'cpu');
    const acct = resourceHome(env, 'cpuacct');
    expect(cpu.kind === 'v1' && acct.kind === 'v1' && cpu.hierarchy === acct.hierarchy).toBe(true);
    expect(resourceHome(env, 'io')).toMatchObject({ kind: 'v1', controller: 'blkio' });
  });

  it('pure v2 with a container-style subtree mount', () => {
    const mi = `25 20 0:23 /kubepods/pod1 /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n`;
    const env = detectCgroups({ mountinfo: mi, procSelfCgroup: '0::/kubepods/pod1/ctr\n', skipStatfs: true, systemd: false });
    expect(env.mode).toBe('v2');
    expect(env.v2!.ownDir).toBe('/sys/fs/cgroup/ctr');
    expect(cgroupPathToDir('/sys/fs/cgroup', '/kubepods/pod1', '/elsewhere')).toBeNull();
  });

  it('none: no cgroup mounts', () => {
    const env = detectCgroups({ mountinfo: '31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n', procSelfCgroup: '', skipStatfs: true });
    expect(env.mode).toBe('none');
    expect(planRoots(env).refused?.reason).toBe('cgroup_unavailable');
  });

  it('a mount hidden under another one is ignored (statfs check)', () => {
    // A cgroup2 "mount" at a plain directory: statfs says it is not cgroupfs.
    const env = detectCgroups({ mountinfo: '99 1 0:99 / /tmp rw - cgroup2 cgroup2 rw\n', procSelfCgroup: '0::/\n' });
    expect(env.mode).toBe('none');
    expect(env.notes.join('\n')).toMatch(/not reachable/);
  });

  it('this machine, for real', () => {
    const env = detectCgroups();
    if (fs.existsSync('/sys/fs/cgroup/cgroup.controllers')) expect(env.mode).toBe('v2');
    else if (fs.existsSync('/sys/fs/cgroup/unified/cgroup.controllers')) expect(env.mode).toBe('hybrid');
    expect(['v2', 'v1', 'hybrid', 'none']).toContain(env.mode);
  });
});

describe('where job cgroups live', () => {
  const v2env = () => detectCgroups({ mountinfo: V2, procSelfCgroup: '0::/system.slice/ffrtmp.service\n', skipStatfs: true, systemd: true });

  it('v2 default: /sys/fs/cgroup/ffrtmp when our own cgroup is not delegated', () => {
    expect(planRoots(v2env(), { getxattr: () => null })).toMatchObject({ source: 'default', v2Root: '/sys/fs/cgroup/ffrtmp', refused: null });
  });

  it('v2 default: our own cgroup when systemd delegated it (trusted.delegate=1)', () => {
    const plan = planRoots(v2env(), { getxattr: (p, n) => (p === '/sys/fs/cgroup/system.slice/ffrtmp.service' && n === 'trusted.delegate' ? '1' : null) });
    expect(plan).toMatchObject({ source: 'delegated', v2Root: '/sys/fs/cgroup/system.slice/ffrtmp.service', refused: null });
  });

  it('DelegateSubgroup=: the delegated unit is our parent', () => {
    const env = detectCgroups({ mountinfo: V2, procSelfCgroup: '0::/system.slice/ffrtmp.service/supervisor\n', skipStatfs: true, systemd: true });
    const plan = planRoots(env, { getxattr: (p) => (p === '/sys/fs/cgroup/system.slice/ffrtmp.service' ? '1' : null) });
    expect(plan.v2Root).toBe('/sys/fs/cgroup/system.slice/ffrtmp.service');
  });

  it('--cgroup-root inside a systemd unit that is not delegated is refused; unknown delegation is a warning', () => {
    const flag = '/sys/fs/cgroup/system.slice/other.service/jobs';
    expect(planRoots(v2env(), { cgroupRoot: flag, getxattr: () => null }).refused?.reason).toBe('cgroup_not_delegated');
    const unknown = planRoots(v2env(), { cgroupRoot: flag, euid: 0, getxattr: null });
    expect(unknown.refused).toBeNull();
    expect(unknown.warnings.join()).toMatch(/could not be verified/);
    expect(enclosingUnitDir('/sys/fs/cgroup', flag)).toBe('/sys/fs/cgroup/system.slice/other.service');
  });

  it('v1: <mount>/ffrtmp per controller; --cgroup-root applies its relative path in every hierarchy', () => {
    const env = detectCgroups({ mountinfo: HYBRID, procSelfCgroup: HYBRID_SELF, skipStatfs: true, systemd: false });
    expect(planRoots(env)).toMatchObject({ v1Rel: 'ffrtmp', source: 'default' });
    expect(planRoots(env, { cgroupRoot: '/sys/fs/cgroup/memory/batch/x' })).toMatchObject({ v1Rel: 'batch/x', source: 'flag' });
    expect(planRoots(env, { cgroupRoot: '/srv/not-cgroup' }).refused?.reason).toBe('cgroup_unavailable');
  });

  it('--cgroup-root must be absolute and normalised; job ids that look like interface files are refused; a leaf is named after its run', () => {
    for (const bad of ['relative/path', '/sys/fs/cgroup/../etc', '/a//b', '/a/./b']) expect(() => checkRootFlag(bad)).toThrow(UsageError);
    expect(() => checkRootFlag('/sys/fs/cgroup/ffrtmp/')).not.toThrow();
    const run = '0123456789abcdef';
    for (const bad of ['cgroup.procs', 'tasks', 'memory.max', 'cpu.x', 'release_agent', '../x', '', 'a/b', 'a b', 'x\u0000']) expect(() => leafNameFor(bad, run)).toThrow(UsageError);
    expect(leafNameFor('encode-42', run)).toBe('encode-42.0123456789abcdef');
    expect(leafNameFor('cpuhog.1', run)).toBe('cpuhog.1.0123456789abcdef');
    expect(leafNameFor('io', run)).toBe('io.0123456789abcdef');
    for (const badRun of ['', 'xyz', '0123456789ABCDEF', '../../0123456789ab']) expect(() => leafNameFor('ok', badRun)).toThrow(UsageError);
  });
});

describe('enabling controllers along the chain (a fake v2 tree of plain files)', () => {
  it('writes +ctl where missing, never touches systemd units above our root, and may write our delegated unit', async () => {
    const os = await import('node:os');
    const path = await import('node:path');
    const { enableController } = await import('../../src/cgroup/v2');
    const m = fs.mkdtempSync(path.join(os.tmpdir(), 'fakecg-'));
    const mk = (rel: string, controllers: string, subtree: string) => {
      fs.mkdirSync(path.join(m, rel), { recursive: true });
      fs.writeFileSync(path.join(m, rel, 'cgroup.controllers'), controllers + '\n');
      fs.writeFileSync(path.join(m, rel, 'cgroup.subtree_control'), subtree + '\n');
    };
    try {
      mk('', 'cpu memory', 'cpu memory');
      mk('system.slice', 'cpu memory', 'memory');
      mk('system.slice/ffrtmp.service', 'memory', '');
      const unit = path.join(m, 'system.slice/ffrtmp.service');
      // memory: enabled in the top and the slice already; our delegated unit gets +memory.
      expect(enableController(m, unit, 'memory', true)).toEqual({ controller: 'memory', ok: true });
      expect(fs.readFileSync(path.join(unit, 'cgroup.subtree_control'), 'utf8')).toBe('+memory');
      // cpu: missing in systemd's slice: refused, the slice untouched.
      const cpu = enableController(m, unit, 'cpu', true);
      expect(cpu.ok).toBe(false);
      expect(cpu.error).toMatch(/systemd/);
      expect(fs.readFileSync(path.join(m, 'system.slice/cgroup.subtree_control'), 'utf8')).toBe('memory\n');
      // io: not even available below the top: reported, nothing written.
      mk('ffrtmp', 'cpu memory', '');
      const io = enableController(m, path.join(m, 'ffrtmp'), 'io', false);
      expect(io).toMatchObject({ ok: false, failedAt: m });
    } finally {
      fs.rmSync(m, { recursive: true, force: true });
    }
  });
});
