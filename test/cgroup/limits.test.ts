import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/model/errors';
import { formatCpuMax, formatIoLine, hasLimits, limitWarnings, parseLimits } from '../../src/cgroup/limits';
import { weightToShares } from '../../src/cgroup/v1';

function usage(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    expect((e as UsageError).code).toBe('ERR_USAGE');
    return (e as Error).message;
  }
  throw new Error('expected a UsageError');
}

describe('limit flags → canonical Limits', () => {
  it('--cpu-max takes "<quota|max> <period>" in µs, period defaulting to 100000', () => {
    expect(parseLimits({ cpuMax: '50000 100000' }).cpuMax).toEqual({ quotaUs: 50000, periodUs: 100000, from: 'cpu-max' });
    expect(parseLimits({ cpuMax: 'max 250000' }).cpuMax).toEqual({ quotaUs: null, periodUs: 250000, from: 'cpu-max' });
    expect(parseLimits({ cpuMax: '20000' }).cpuMax?.periodUs).toBe(100000);
    expect(formatCpuMax(parseLimits({ cpuMax: ' 1000   1000 ' }).cpuMax!)).toBe('1000 1000');
  });

  it('--cpu-max bounds: period 1000..1000000, quota >= 1000', () => {
    expect(usage(() => parseLimits({ cpuMax: '50000 999' }))).toMatch(/period 999/);
    expect(usage(() => parseLimits({ cpuMax: '50000 1000001' }))).toMatch(/period/);
    expect(usage(() => parseLimits({ cpuMax: '999 100000' }))).toMatch(/below the kernel's minimum/);
    for (const bad of ['', 'fast', '-5 100000', '5e4 100000', '1 2 3', '50000 max', '1.5 100000']) {
      expect(() => parseLimits({ cpuMax: bad })).toThrow(UsageError);
    }
  });

  it('--cpu-quota is a percentage of one CPU: 150 → "150000 100000"', () => {
    expect(formatCpuMax(parseLimits({ cpuQuota: '150' }).cpuMax!)).toBe('150000 100000');
    expect(formatCpuMax(parseLimits({ cpuQuota: 20 }).cpuMax!)).toBe('20000 100000');
    expect(formatCpuMax(parseLimits({ cpuQuota: '12.5' }).cpuMax!)).toBe('12500 100000');
    expect(usage(() => parseLimits({ cpuQuota: '0.5' }))).toMatch(/minimum of 1%/);
    for (const bad of ['0', '-10', 'abc', '', '10%', '1e3']) expect(() => parseLimits({ cpuQuota: bad })).toThrow(UsageError);
  });

  it('--cpu-max and --cpu-quota are mutually exclusive', () => {
    expect(usage(() => parseLimits({ cpuMax: '50000 100000', cpuQuota: '50' }))).toMatch(/mutually exclusive/);
  });

  it('--cpu-weight 1..10000', () => {
    expect(parseLimits({ cpuWeight: '1' }).cpuWeight).toBe(1);
    expect(parseLimits({ cpuWeight: 10000 }).cpuWeight).toBe(10000);
    for (const bad of ['0', '10001', '1.5', 'x', '-1']) expect(() => parseLimits({ cpuWeight: bad })).toThrow(UsageError);
  });

  it('--memory-max: bytes with binary K/M/G/T suffixes, or max', () => {
    expect(parseLimits({ memoryMax: '4096' }).memoryMax).toBe(4096);
    expect(parseLimits({ memoryMax: '64M' }).memoryMax).toBe(64 * 1024 * 1024);
    expect(parseLimits({ memoryMax: '2G' }).memoryMax).toBe(2 * 1024 ** 3);
    expect(parseLimits({ memoryMax: '1T' }).memoryMax).toBe(1024 ** 4);
    expect(parseLimits({ memoryMax: '512k' }).memoryMax).toBe(512 * 1024);
    expect(parseLimits({ memoryMax: '512KiB' }).memoryMax).toBe(512 * 1024);
    expect(parseLimits({ memoryMax: '1MB' }).memoryMax).toBe(1024 * 1024);
    expect(parseLimits({ memoryMax: '8192B' }).memoryMax).toBe(8192);
    expect(parseLimits({ memoryMax: 'max' }).memoryMax).toBe('max');
    expect(usage(() => parseLimits({ memoryMax: '100' }))).toMatch(/below one page/);
    for (const bad of ['-1', '10X', '', 'G', '99999999999999999999', '.5G', '1.G', '1,5G', '1.5.1G', '1e3']) expect(() => parseLimits({ memoryMax: bad })).toThrow(UsageError);
  });

  it('--memory-max: decimals as systemd reads them, floor(value × unit) bytes, still at least one page', () => {
    expect(parseLimits({ memoryMax: '1.5G' }).memoryMax).toBe(Math.floor(1.5 * 1024 ** 3));
    expect(parseLimits({ memoryMax: '1.5G' }).memoryMax).toBe(1610612736);
    expect(parseLimits({ memoryMax: '0.5M' }).memoryMax).toBe(512 * 1024);
    expect(parseLimits({ memoryMax: '2.25 GiB' }).memoryMax).toBe(2.25 * 1024 ** 3);
    expect(parseLimits({ memoryMax: '4.1K' }).memoryMax).toBe(4198); // floor(4.1 × 1024) = floor(4198.4)
    expect(parseLimits({ memoryMax: '0.333333333333333333333T' }).memoryMax).toBe(366503875925); // exact: no float rounding
    expect(parseLimits({ memoryMax: '4096.9' }).memoryMax).toBe(4096);
    expect(usage(() => parseLimits({ memoryMax: '0.5K' }))).toBe('--memory-max "0.5K" is 512 bytes, below one page (4096 bytes): the workload could not even start');
    expect(usage(() => parseLimits({ memoryMax: '3.99K' }))).toMatch(/is 4085 bytes, below one page/);
    expect(usage(() => parseLimits({ memoryMax: '1.5X' }))).toMatch(/decimals allowed: 1\.5G/);
    expect(usage(() => parseLimits({ memoryMax: '9000000.5T' }))).toMatch(/too large/);
  });

  it('--io-max: existing whole-disk devices only, known keys, no duplicates', () => {
    // A fake /sys/dev/block: 8:0 is a disk, 8:1 a partition of it.
    const fs = require('node:fs') as typeof import('node:fs');
    const os = require('node:os') as typeof import('node:os');
    const dir = fs.mkdtempSync(`${os.tmpdir()}/sysdevblock-`);
    fs.mkdirSync(`${dir}/sda`, { recursive: true });
    fs.writeFileSync(`${dir}/sda/dev`, '8:0\n');
    fs.mkdirSync(`${dir}/sda/sda1`);
    fs.writeFileSync(`${dir}/sda/sda1/partition`, '1\n');
    fs.symlinkSync(`${dir}/sda`, `${dir}/8:0`);
    fs.symlinkSync(`${dir}/sda/sda1`, `${dir}/8:1`);
    try {
      const l = parseLimits({ ioMax: '8:0 rbps=1048576 wiops=max' }, { sysDevBlock: dir });
      expect(l.io).toEqual([{ major: 8, minor: 0, device: '8:0', rbps: 1048576, wiops: 'max' }]);
      expect(formatIoLine(l.io![0]!)).toBe('8:0 rbps=1048576 wiops=max');
      expect(usage(() => parseLimits({ ioMax: '8:1 rbps=1' }, { sysDevBlock: dir }))).toMatch(/partition.*use 8:0/);
      expect(usage(() => parseLimits({ ioMax: '9:9 rbps=1' }, { sysDevBlock: dir }))).toMatch(/not a block device/);
      expect(usage(() => parseLimits({ ioMax: ['8:0 rbps=1', '8:0 wbps=2'] }, { sysDevBlock: dir }))).toMatch(/twice/);
      for (const bad of ['8:0', '8:0 rbps=1 rbps=2', '8:0 speed=1', '8:0 rbps=-1', '8:0 rbps=0', 'sda rbps=1', '8:0 rbps=1.5']) {
        expect(() => parseLimits({ ioMax: bad }, { sysDevBlock: dir })).toThrow(UsageError);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('no flags → no limits; the object is frozen', () => {
    const l = parseLimits({});
    expect(hasLimits(l)).toBe(false);
    expect(Object.isFrozen(l)).toBe(true);
    expect(hasLimits(parseLimits({ cpuWeight: '100' }))).toBe(true);
  });
});

describe('v1 conversion: cpu.weight → cpu.shares (systemd: weight × 1024 / 100, clamped 2..262144)', () => {
  it('maps the defaults onto each other and clamps', () => {
    expect(weightToShares(100)).toBe(1024);
    expect(weightToShares(1)).toBe(10);
    expect(weightToShares(50)).toBe(512);
    expect(weightToShares(10000)).toBe(102400);
  });
});

describe('limitWarnings: valid limits that cannot do what they seem to', () => {
  it('a CPU bandwidth above the host CPUs cannot bind: one message, the limit itself is kept', () => {
    const quota400 = parseLimits({ cpuQuota: '400' });
    expect(limitWarnings(quota400, 2)).toEqual(["--cpu-quota 400% is more than this host's 2 CPUs: the limit cannot bind"]);
    expect(limitWarnings(parseLimits({ cpuQuota: '150.5' }), 1)).toEqual(["--cpu-quota 150.5% is more than this host's 1 CPU: the limit cannot bind"]);
    expect(limitWarnings(parseLimits({ cpuMax: '500000 100000' }), 4)).toEqual([
      "--cpu-max \"500000 100000\" allows 5 CPUs, more than this host's 4 CPUs: the limit cannot bind",
    ]);
    expect(formatCpuMax(quota400.cpuMax!)).toBe('400000 100000');
  });

  it('nothing to say at or below the host CPUs, for max, or without a CPU limit', () => {
    expect(limitWarnings(parseLimits({ cpuQuota: '200' }), 2)).toEqual([]);
    expect(limitWarnings(parseLimits({ cpuQuota: '50' }), 1)).toEqual([]);
    expect(limitWarnings(parseLimits({ cpuMax: 'max 100000' }), 1)).toEqual([]);
    expect(limitWarnings(parseLimits({ memoryMax: '1G', cpuWeight: '500' }), 1)).toEqual([]);
    expect(limitWarnings(parseLimits({}), 2)).toEqual([]);
  });
});
