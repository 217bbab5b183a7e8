/**
 * The planning step of a job's cgroups, without any cgroup: given what is mounted and where the
 * roots are, which leaves does a job get, which of them govern, and what is missing.
 */
import { describe, expect, it } from 'vitest';
import { detectCgroups, type CgroupEnv } from '../../src/cgroup/detect';
import { parseLimits } from '../../src/cgroup/limits';
import { limitResources, planLeaves } from '../../src/cgroup/plan';
import { planRoots } from '../../src/cgroup/root';

const HYBRID = detectCgroups({
  mountinfo: [
    '31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755',
    '32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu',
    '33 31 0:30 / /sys/fs/cgroup/cpuacct rw - cgroup cgroup rw,cpuacct',
    '35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory',
    '38 31 0:35 / /sys/fs/cgroup/blkio rw - cgroup cgroup rw,blkio',
    '41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw',
  ].join('\n'),
  procSelfCgroup: '0::/\n',
  skipStatfs: true,
  systemd: false,
});

const COMOUNTED = detectCgroups({
  mountinfo: [
    '32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct',
    '35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory',
  ].join('\n'),
  procSelfCgroup: '',
  skipStatfs: true,
  systemd: false,
});

const V2: CgroupEnv = {
  mode: 'v2',
  v2: { mountPoint: '/sys/fs/cgroup', mountRoot: '/', readOnly: false, controllers: ['cpu', 'memory', 'io', 'pids'], ownDir: '/sys/fs/cgroup/init.scope', ownPath: '/init.scope' },
  v1: [],
  systemd: false,
  notes: [],
};

const plan = (env: CgroupEnv, flags: Parameters<typeof parseLimits>[0], accounting = true, root?: string) =>
  planLeaves(env, planRoots(env, root ? { cgroupRoot: root } : {}), 'job-1', parseLimits(flags), accounting);

describe('planLeaves (pure)', () => {
  it('which resources a limit needs', () => {
    expect([...limitResources(parseLimits({ cpuQuota: '50', memoryMax: '1G' }))].sort()).toEqual(['cpu', 'memory']);
    expect([...limitResources(parseLimits({ cpuWeight: '10' }))]).toEqual(['cpu']);
    expect([...limitResources({})]).toEqual([]);
  });

  it('hybrid, separate cpu and cpuacct: one leaf per hierarchy, governing only where a limit lives', () => {
    const p = plan(HYBRID, { cpuQuota: '50' });
    expect(p.missing).toEqual([]);
    expect(p.leaves.map((l) => [l.dir, l.governs])).toEqual([
      ['/sys/fs/cgroup/cpu/ffrtmp/job-1', true],
      ['/sys/fs/cgroup/cpuacct/ffrtmp/job-1', false],
      ['/sys/fs/cgroup/memory/ffrtmp/job-1', false],
    ]);
    expect(p.leaves.every((l) => l.kind === 'v1')).toBe(true);
  });

  it('co-mounted cpu,cpuacct share one leaf that both limits and accounts', () => {
    const p = plan(COMOUNTED, { cpuWeight: '200' });
    expect(p.leaves.map((l) => [l.dir, l.resources, l.governs])).toEqual([
      ['/sys/fs/cgroup/cpu,cpuacct/ffrtmp/job-1', ['cpu', 'cpuacct'], true],
      ['/sys/fs/cgroup/memory/ffrtmp/job-1', ['memory'], false],
    ]);
  });

  it('without accounting, only the hierarchies of the requested limits', () => {
    expect(plan(HYBRID, { memoryMax: '64M' }, false).leaves.map((l) => l.dir)).toEqual(['/sys/fs/cgroup/memory/ffrtmp/job-1']);
    expect(plan(HYBRID, {}, false).leaves).toEqual([]);
  });

  it('pure v2: one leaf, and the controllers to enable for it', () => {
    const p = plan(V2, { cpuMax: '50000 100000', memoryMax: '1G' });
    expect(p.leaves).toEqual([
      { kind: 'v2', mountPoint: '/sys/fs/cgroup', dir: '/sys/fs/cgroup/ffrtmp/job-1', controllers: ['cpu', 'memory'], resources: ['cpu', 'memory', 'cpuacct'], governs: true },
    ]);
  });

  it('--cgroup-root: the same path relative to each mount', () => {
    const p = plan(HYBRID, { memoryMax: '64M', cpuWeight: '10' }, true, '/sys/fs/cgroup/memory/batch');
    expect(p.leaves.map((l) => l.dir).sort()).toEqual([
      '/sys/fs/cgroup/cpu/batch/job-1',
      '/sys/fs/cgroup/cpuacct/batch/job-1',
      '/sys/fs/cgroup/memory/batch/job-1',
    ]);
  });

  it('a resource no hierarchy provides is missing: governed when a limit needs it', () => {
    const io = planLeaves(COMOUNTED, planRoots(COMOUNTED), 'j', { io: [{ major: 8, minor: 0, device: '8:0', rbps: 1 }] }, true);
    expect(io.missing).toEqual([{ resource: 'io', governed: true }]);
    const none = planLeaves(V2, planRoots(V2), 'j', {}, true);
    expect(none.missing).toEqual([]);
  });
});
