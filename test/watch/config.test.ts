import { chmodSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseLimits, type Limits } from '../../src/cgroup/limits';
import { UsageError } from '../../src/model/errors';
import {
  ConfigError,
  describeConfigChange,
  filtersForCommand,
  formatBytes,
  formatDuration,
  formatLimits,
  limitsForCommand,
  loadWatchConfig,
  mergeFlags,
  parseIntervalFlag,
  parseWatchConfig,
  WATCH_CONFIG_KEYS,
} from '../../src/watch/config';
import { DEFAULT_WATCH_CONFIG, type WatchConfig } from '../../src/watch/types';
import { ROOT, testTempDir } from '../helpers';

const DIR = testTempDir('watch-config');
afterAll(() => rmSync(DIR, { recursive: true, force: true }));

/** A fake /sys/dev/block: 8:0 a disk, 8:1 its partition, 8:16 another disk. */
const SYS = join(DIR, 'sys-dev-block');
mkdirSync(join(SYS, 'devices', 'sda', 'sda1'), { recursive: true });
writeFileSync(join(SYS, 'devices', 'sda', 'dev'), '8:0\n');
writeFileSync(join(SYS, 'devices', 'sda', 'sda1', 'partition'), '1\n');
symlinkSync('devices/sda', join(SYS, '8:0'));
symlinkSync('devices/sda/sda1', join(SYS, '8:1'));
mkdirSync(join(SYS, '8:16'), { recursive: true });
const OPTS = { sysDevBlock: SYS };

let n = 0;
/** Writes `text` to a fresh file in DIR and loads it. */
function load(text: string, name = `c${++n}.yaml`): WatchConfig {
  const file = join(DIR, name);
  writeFileSync(file, text);
  return loadWatchConfig(file, OPTS);
}

/** The ConfigError `text` gives (parsed as `watch.yaml`). */
function err(text: string): ConfigError {
  try {
    parseWatchConfig(text, 'watch.yaml', OPTS);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    expect(e).toBeInstanceOf(UsageError);
    expect((e as ConfigError).code).toBe('ERR_USAGE');
    expect((e as Error).message).not.toMatch(/\n/);
    return e as ConfigError;
  }
  throw new Error(`expected a ConfigError for:\n${text}`);
}
const msg = (text: string): string => err(text).message;

const MB = 1024 * 1024;
const GB = 1024 * MB;

describe('the example deployment/watch.yaml', () => {
  const EXAMPLE = join(ROOT, 'deployment', 'watch.yaml');
  const text = readFileSync(EXAMPLE, 'utf8');

  it('parses to the expected settings', () => {
    const cfg = loadWatchConfig(EXAMPLE);
    expect(cfg).toEqual({
      discovery: 'auto',
      scanIntervalMs: 2000,
      reconcileIntervalMs: 60_000,
      targets: ['ffmpeg', 'gst-launch-1.0'],
      defaultLimits: {
        cpuMax: { quotaUs: 150_000, periodUs: 100_000, from: 'cpu-quota' },
        cpuWeight: 100,
        memoryMax: GB,
      },
      filters: {
        allowedUsers: ['streamer'],
        blockedUids: [0],
        minRuntimeMs: 2000,
        allowedDirs: ['/srv/streams'],
        blockedDirs: ['/srv/streams/scratch'],
      },
      commands: {
        ffmpeg: {
          limits: { cpuMax: { quotaUs: 250_000, periodUs: 100_000, from: 'cpu-quota' }, cpuWeight: 200, memoryMax: 2 * GB },
          filters: { minRuntimeMs: 5000 },
        },
        'gst-launch-1.0': {
          limits: { cpuMax: { quotaUs: 50_000, periodUs: 100_000, from: 'cpu-max' }, memoryMax: 512 * MB },
        },
      },
    });
    expect(Object.isFrozen(cfg)).toBe(true);
  });

  it('names every key, at least in a comment', () => {
    const all = [...WATCH_CONFIG_KEYS.top, ...WATCH_CONFIG_KEYS.limits, ...WATCH_CONFIG_KEYS.filters, ...WATCH_CONFIG_KEYS.command];
    expect(all.filter((k) => !new RegExp(`\\b${k}:`).test(text))).toEqual([]);
  });

  it('its commented-out io_max line parses too (on a machine with that disk)', () => {
    const withIo = text.replace(/^ {2}# io_max: /m, '  io_max: ');
    expect(withIo).not.toBe(text);
    expect(parseWatchConfig(withIo, 'watch.yaml', OPTS).defaultLimits.io).toEqual([{ major: 8, minor: 0, device: '8:0', wbps: 52_428_800 }]);
  });
});

describe('defaults', () => {
  it('absent keys give DEFAULT_WATCH_CONFIG', () => {
    expect(load('discovery: auto\n')).toEqual(DEFAULT_WATCH_CONFIG);
    expect(load('# settings\nfilters: {}\n')).toEqual(DEFAULT_WATCH_CONFIG);
    expect(load('default_limits: {}\ncommands: {}\n')).toEqual(DEFAULT_WATCH_CONFIG);
  });

  it('each top-level key on its own', () => {
    expect(load('discovery: events\n').discovery).toBe('events');
    expect(load('discovery: scan\n').discovery).toBe('scan');
    expect(load('scan_interval: 10s\n').scanIntervalMs).toBe(10_000);
    expect(load('reconcile_interval: 5m\n').reconcileIntervalMs).toBe(300_000);
    expect(load('target_commands: [ffmpeg]\n').targets).toEqual(['ffmpeg']);
  });

  it('an empty blocked list is the same as none', () => {
    expect(load('filters:\n  blocked_users: []\n').filters).toEqual({});
  });
});

describe('durations', () => {
  const scan = (v: string): number => parseWatchConfig(`scan_interval: ${v}\n`, 'w.yaml').scanIntervalMs;

  it('Go-style text or a number of seconds, to whole milliseconds', () => {
    expect(scan('10s')).toBe(10_000);
    expect(scan('"2s"')).toBe(2000);
    expect(scan('500ms')).toBe(500);
    expect(scan('1m30s')).toBe(90_000);
    expect(scan('1.5s')).toBe(1500);
    expect(scan('0.25m')).toBe(15_000);
    expect(scan('1h')).toBe(3_600_000);
    expect(scan('2')).toBe(2000);
    expect(scan('0.5')).toBe(500);
    expect(scan('1.0')).toBe(1000);
  });

  it('bad durations, each with its message', () => {
    expect(msg('scan_interval: fast\n')).toBe(
      'watch.yaml:1: scan_interval: expected a duration like 10s, 500ms or 1m30s (units h, m, s, ms), or a number of seconds; got "fast"',
    );
    expect(msg('scan_interval: 10S\n')).toMatch(/^watch\.yaml:1: scan_interval: expected a duration .*; got "10S"$/);
    expect(msg('scan_interval: 5us\n')).toMatch(/got "5us"$/);
    expect(msg('scan_interval: -5s\n')).toBe('watch.yaml:1: scan_interval: must not be negative; got "-5s"');
    expect(msg('scan_interval: -5\n')).toBe('watch.yaml:1: scan_interval: must not be negative; got -5');
    expect(msg('scan_interval: 1e3\n')).toMatch(/; got 1e3$/);
    expect(msg('scan_interval: 1.0005s\n')).toBe('watch.yaml:1: scan_interval: "1.0005s" is finer than a millisecond');
    expect(msg('scan_interval: 50ms\n')).toBe('watch.yaml:1: scan_interval: 50ms is below the minimum of 100ms');
    expect(msg('scan_interval: 0\n')).toBe('watch.yaml:1: scan_interval: 0s is below the minimum of 100ms');
    expect(msg('scan_interval: 2h\n')).toBe('watch.yaml:1: scan_interval: 2h is above the maximum of 1h');
    expect(msg('scan_interval: [1s]\n')).toMatch(/^watch\.yaml:1: scan_interval: expected a duration .*; got a list$/);
  });

  it('reconcile_interval cannot be turned off', () => {
    const off = 'watch.yaml:2: reconcile_interval: cannot be turned off: the periodic reconciliation is what catches a process discovery missed (give 1s..1h)';
    for (const v of ['0', '"0"', 'off', '0s', 'false']) expect(msg(`discovery: events\nreconcile_interval: ${v}\n`)).toBe(off);
    expect(msg('reconcile_interval: 500ms\n')).toBe('watch.yaml:1: reconcile_interval: 500ms is below the minimum of 1s');
  });

  it('formatDuration writes what the parser reads', () => {
    expect(formatDuration(2000)).toBe('2s');
    expect(formatDuration(90_000)).toBe('1m30s');
    expect(formatDuration(500)).toBe('500ms');
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(3_600_000)).toBe('1h');
    expect(formatDuration(3_605_000)).toBe('1h5s');
    expect(formatDuration(1500)).toBe('1s500ms');
    for (const ms of [100, 1500, 61_001, 3_599_999]) expect(scan(formatDuration(ms))).toBe(ms);
  });

  it('the interval flags read the same values', () => {
    expect(parseIntervalFlag('--scan-interval', '1m30s')).toBe(90_000);
    expect(parseIntervalFlag('--scan-interval', '2')).toBe(2000);
    expect(() => parseIntervalFlag('--scan-interval', 'x')).toThrow(/^--scan-interval: expected a duration/);
    expect(() => parseIntervalFlag('--scan-interval', '10ms')).toThrow('--scan-interval: 10ms is below the minimum of 100ms');
    expect(() => parseIntervalFlag('--reconcile-interval', '0')).toThrow(/^--reconcile-interval cannot be turned off/);
    expect(() => parseIntervalFlag('--reconcile-interval', 'off')).toThrow(UsageError);
  });
});

describe('limits', () => {
  const limits = (body: string): Limits => parseWatchConfig(`default_limits:\n${body}`, 'w.yaml', OPTS).defaultLimits;

  it("the original's keys (memory_limit MB, cpu_quota %) equal --memory-max 512M --cpu-quota 150", () => {
    const cli = parseLimits({ memoryMax: '512M', cpuQuota: '150' });
    expect(limits('  memory_limit: 512\n  cpu_quota: 150\n')).toEqual(cli);
    expect(limits('  memory_max: 512M\n  cpu_quota: "150"\n')).toEqual(cli);
    expect(limits('  memory_max: 536870912\n  cpu_max: "150000 100000"\n')).toEqual(parseLimits({ memoryMax: '512M', cpuMax: '150000 100000' }));
  });

  it('every limit key', () => {
    expect(limits('  cpu_quota: 12.5\n')).toEqual(parseLimits({ cpuQuota: '12.5' }));
    expect(limits('  cpu_max: max\n')).toEqual(parseLimits({ cpuMax: 'max' }));
    expect(limits('  cpu_max: 50000\n')).toEqual(parseLimits({ cpuMax: '50000' }));
    expect(limits('  cpu_weight: 10000\n')).toEqual({ cpuWeight: 10000 });
    expect(limits('  memory_max: max\n')).toEqual({ memoryMax: 'max' });
    expect(limits('  memory_max: 1.5G\n')).toEqual({ memoryMax: 1.5 * GB });
    expect(limits('  io_max: "8:0 rbps=1048576 wbps=max"\n')).toEqual(parseLimits({ ioMax: '8:0 rbps=1048576 wbps=max' }, OPTS));
    expect(limits('  io_max:\n    - "8:0 rbps=1"\n    - "8:16 wiops=100"\n').io).toHaveLength(2);
  });

  it('exclusive keys: the second one is the error', () => {
    expect(msg('default_limits:\n  cpu_quota: 150\n  cpu_max: "50000 100000"\n')).toBe(
      'watch.yaml:3: default_limits.cpu_max: cpu_quota (line 2) and cpu_max are exclusive: give one of them',
    );
    expect(msg('default_limits:\n  memory_max: 1G\n  cpu_weight: 5\n  memory_limit: 512\n')).toBe(
      'watch.yaml:4: default_limits.memory_limit: memory_max (line 2) and memory_limit are exclusive: give one of them',
    );
  });

  it('bad limit values, each with its message', () => {
    expect(msg('default_limits:\n  cpu_weight: 5\n  memory_max: lots\n')).toBe('watch.yaml:3: default_limits.memory_max: expected a size like 512M, 2G or max; got "lots"');
    expect(msg('default_limits:\n  memory_max: 1K\n')).toBe(
      'watch.yaml:2: default_limits.memory_max: "1K" is 1024 bytes, below one page (4096 bytes): the workload could not even start',
    );
    expect(msg('default_limits:\n  cpu_quota: 10%\n')).toBe('watch.yaml:2: default_limits.cpu_quota: expected a percentage of one CPU, e.g. 50 or 150 (= 1.5 CPUs); got "10%"');
    expect(msg('default_limits:\n  memory_max: 1e30\n')).toBe('watch.yaml:2: default_limits.memory_max: expected a size like 512M, 2G or max; got 1e30');
    expect(msg('default_limits:\n  cpu_quota: 0.5\n')).toBe('watch.yaml:2: default_limits.cpu_quota: 0.5% is below the minimum of 1% (1000 µs per 100000 µs)');
    expect(msg('default_limits:\n  cpu_max: "50000 999"\n')).toBe('watch.yaml:2: default_limits.cpu_max: period 999 µs is outside 1000..1000000');
    expect(msg('default_limits:\n  cpu_max: fast\n')).toBe(
      'watch.yaml:2: default_limits.cpu_max: expected "<quota|max> [period]" in microseconds, e.g. "150000 100000"; got "fast"',
    );
    expect(msg('default_limits:\n  cpu_weight: 10001\n')).toBe('watch.yaml:2: default_limits.cpu_weight: 10001 is outside 1..10000');
    expect(msg('default_limits:\n  cpu_weight: 100.5\n')).toBe('watch.yaml:2: default_limits.cpu_weight: expected an integer 1..10000; got 100.5');
    expect(msg('default_limits:\n  cpu_weight: 100.0\n')).toBe('watch.yaml:2: default_limits.cpu_weight: expected an integer 1..10000; got 100.0');
    expect(msg('default_limits:\n  cpu_weight: "100"\n')).toBe(
      'watch.yaml:2: default_limits.cpu_weight: expected an integer 1..10000; got "100": write the number without quotes',
    );
    expect(msg('default_limits:\n  memory_limit: 1.5\n')).toBe('watch.yaml:2: default_limits.memory_limit: expected a whole number of megabytes, e.g. 512; got 1.5');
    expect(msg('default_limits:\n  io_max: "8:1 rbps=1"\n')).toBe('watch.yaml:2: default_limits.io_max: 8:1 is a partition; io limits apply to whole disks (use 8:0)');
    expect(msg('default_limits:\n  io_max: ["8:0 rbps=1", "9:9 rbps=1"]\n')).toMatch(
      /^watch\.yaml:2: default_limits\.io_max\[1\]: 9:9 is not a block device on this machine \(no .*\/9:9\)$/,
    );
    expect(msg('default_limits:\n  io_max:\n    - "8:0 rbps=1"\n    - "8:0 wbps=1"\n')).toBe(
      'watch.yaml:4: default_limits.io_max[1]: device 8:0 is also in default_limits.io_max[0] (line 3): put all its keys in one line',
    );
    expect(msg('default_limits:\n  io_max: "8:0 speed=1"\n')).toBe(
      'watch.yaml:2: default_limits.io_max: "speed=1" is not one of rbps=, wbps=, riops=, wiops= with an integer or "max"',
    );
    expect(msg('default_limits:\n  io_max: {a: 1}\n')).toMatch(/^watch\.yaml:2: default_limits\.io_max: expected "<major:minor> .*; got a map$/);
  });

  it("0 is refused where the original read it as unset", () => {
    expect(msg('default_limits:\n  cpu_weight: 0\n')).toBe(
      'watch.yaml:2: default_limits.cpu_weight: 0 is not accepted (the original wrapper read 0 as the default weight, 100): remove the key, or give 100',
    );
    expect(msg('default_limits:\n  cpu_quota: 0\n')).toBe(
      'watch.yaml:2: default_limits.cpu_quota: 0 is not accepted (the original wrapper read 0 as "no CPU limit"): remove the key for no CPU cap',
    );
    expect(msg('default_limits:\n  memory_limit: 0\n')).toBe(
      'watch.yaml:2: default_limits.memory_limit: 0 is not accepted (the original wrapper read 0 as "no memory limit"): remove the key for no memory cap',
    );
  });
});

describe('filters', () => {
  const filters = (body: string): WatchConfig['filters'] => parseWatchConfig(`filters:\n${body}`, 'w.yaml').filters;

  it('every filter key', () => {
    expect(
      filters(
        [
          '  allowed_users: [alice, bob]',
          '  blocked_users: [mallory]',
          '  allowed_uids: [1000, 1001]',
          '  blocked_uids: [0]',
          '  allowed_parents: [1]',
          '  blocked_parents: [4194304]',
          '  min_runtime: 2s',
          '  max_runtime: 24h',
          '  allowed_dirs: [/srv/, "//srv//live//"]',
          '  blocked_dirs: [/]',
          '',
        ].join('\n'),
      ),
    ).toEqual({
      allowedUsers: ['alice', 'bob'],
      blockedUsers: ['mallory'],
      allowedUids: [1000, 1001],
      blockedUids: [0],
      allowedParents: [1],
      blockedParents: [4_194_304],
      minRuntimeMs: 2000,
      maxRuntimeMs: 86_400_000,
      allowedDirs: ['/srv', '/srv/live'],
      blockedDirs: ['/'],
    });
  });

  it('bad filters, each with its message', () => {
    expect(msg('filters:\n  allowed_uids: [1000, 1001, 1.5]\n')).toBe('watch.yaml:2: filters.allowed_uids[2]: expected a uid (an integer 0..4294967294); got 1.5');
    expect(msg('filters:\n  allowed_uids:\n    - 1000\n    - -1\n')).toBe('watch.yaml:4: filters.allowed_uids[1]: expected a uid (an integer 0..4294967294); got -1');
    expect(msg('filters:\n  blocked_uids: [4294967295]\n')).toBe('watch.yaml:2: filters.blocked_uids[0]: 4294967295 is outside 0..4294967294');
    expect(msg('filters:\n  allowed_parents: [0]\n')).toBe('watch.yaml:2: filters.allowed_parents[0]: 0 is outside 1..4194304');
    expect(msg('filters:\n  allowed_users: alice\n')).toBe('watch.yaml:2: filters.allowed_users: expected a list of user names, e.g. [alice]; got "alice"');
    expect(msg('filters:\n  allowed_users: [1000]\n')).toBe('watch.yaml:2: filters.allowed_users[0]: expected a user name; got 1000: uids go in allowed_uids');
    expect(msg('filters:\n  blocked_users: ["a b"]\n')).toBe(
      'watch.yaml:2: filters.blocked_users[0]: "a b" is not a user name (no spaces, colons, slashes or control characters)',
    );
    expect(msg('filters:\n  allowed_users: []\n')).toBe(
      'watch.yaml:2: filters.allowed_users: an empty list would let no process through; remove the key to allow all users',
    );
    expect(msg('filters:\n  allowed_uids: [7, 8, 7]\n')).toBe('watch.yaml:2: filters.allowed_uids[2]: 7 is listed twice (first on line 2)');
    expect(msg('filters:\n  allowed_users: [alice]\n  blocked_users: [bob, alice]\n')).toBe(
      'watch.yaml:3: filters.blocked_users[1]: alice is also in allowed_users (line 2): give it in one list',
    );
    expect(msg('filters:\n  allowed_dirs: [srv/live]\n')).toBe('watch.yaml:2: filters.allowed_dirs[0]: "srv/live" is not an absolute path (a working directory starts with /)');
    expect(msg('filters:\n  blocked_dirs: [/srv/../tmp]\n')).toMatch(/^watch\.yaml:2: filters\.blocked_dirs\[0\]: "\/srv\/\.\.\/tmp" has a \. or \.\. component/);
    expect(msg('filters:\n  blocked_dirs: [/tmp, /tmp/]\n')).toBe('watch.yaml:2: filters.blocked_dirs[1]: /tmp is listed twice (first on line 2)');
    expect(msg('filters:\n  min_runtime: 1m\n  max_runtime: 30s\n')).toBe(
      'watch.yaml:3: filters.max_runtime: min_runtime (1m) is more than max_runtime (30s): no process could pass',
    );
    expect(msg('filters:\n  max_runtime: 0\n')).toBe('watch.yaml:2: filters.max_runtime: 0s is below the minimum of 1ms');
    expect(filters('  min_runtime: 30s\n  max_runtime: 30s\n')).toEqual({ minRuntimeMs: 30_000, maxRuntimeMs: 30_000 });
  });
});

describe('target_commands and commands', () => {
  it('target_commands: a non-empty list of basenames, each once', () => {
    expect(msg('target_commands: ffmpeg\n')).toBe('watch.yaml:1: target_commands: expected a list of command names, e.g. [ffmpeg]; got "ffmpeg"');
    expect(msg('target_commands: []\n')).toBe('watch.yaml:1: target_commands: the list is empty; name at least one command (the default is ffmpeg, gst-launch-1.0)');
    expect(msg('target_commands:\n  - ffmpeg\n  - /usr/bin/ffmpeg\n')).toBe(
      "watch.yaml:3: target_commands[1]: \"/usr/bin/ffmpeg\" is a path; give the executable's basename (ffmpeg)",
    );
    expect(msg('target_commands: [ffmpeg, ffmpeg]\n')).toBe('watch.yaml:1: target_commands[1]: ffmpeg is listed twice (first on line 1)');
    expect(msg('target_commands: ["ff\\0mpeg"]\n')).toBe('watch.yaml:1: target_commands[0]: "ff\\u0000mpeg" contains a NUL character');
    expect(msg('target_commands: [""]\n')).toBe('watch.yaml:1: target_commands[0]: a command name must not be empty');
    expect(msg('target_commands: [{a: 1}]\n')).toBe('watch.yaml:1: target_commands[0]: expected a command name; got a map');
  });

  it('commands.<name> must be a target, wherever target_commands is', () => {
    expect(msg('commands:\n  ffmpge:\n    limits: {cpu_weight: 50}\n')).toBe(
      'watch.yaml:2: commands.ffmpge: ffmpge is not in target_commands (not set: the default) (ffmpeg, gst-launch-1.0); did you mean ffmpeg?',
    );
    expect(msg('commands:\n  x264:\n    filters: {min_runtime: 1s}\ntarget_commands: [ffmpeg]\n')).toBe(
      'watch.yaml:2: commands.x264: x264 is not in target_commands (ffmpeg); add it there or remove this entry',
    );
    const cfg = parseWatchConfig('commands:\n  x264:\n    filters: {min_runtime: 1s}\ntarget_commands: [ffmpeg, x264]\n', 'w.yaml');
    expect(cfg.commands).toEqual({ x264: { filters: { minRuntimeMs: 1000 } } });
  });

  it('a command entry: limits replace the defaults as a whole; filters add to the global ones', () => {
    const cfg = parseWatchConfig(
      [
        'default_limits: {cpu_quota: 100, memory_max: 1G}',
        'filters: {blocked_uids: [0]}',
        'commands:',
        '  ffmpeg:',
        '    limits: {memory_max: 2G}',
        '    filters: {allowed_users: [streamer]}',
        '  gst-launch-1.0:',
        '    limits: {}',
        '',
      ].join('\n'),
      'w.yaml',
    );
    expect(limitsForCommand(cfg, 'ffmpeg')).toEqual({ memoryMax: 2 * GB });
    expect(limitsForCommand(cfg, 'gst-launch-1.0')).toEqual({});
    expect(limitsForCommand(cfg, 'other')).toEqual(cfg.defaultLimits);
    expect(limitsForCommand(cfg, 'constructor')).toEqual(cfg.defaultLimits);
    expect(filtersForCommand(cfg, 'ffmpeg')).toEqual({ command: { allowedUsers: ['streamer'] }, global: { blockedUids: [0] } });
    expect(filtersForCommand(cfg, 'gst-launch-1.0')).toEqual({ global: { blockedUids: [0] } });
  });

  it('bad command entries', () => {
    expect(msg('commands:\n  ffmpeg:\n')).toBe('watch.yaml:2: commands.ffmpeg: expected a map of command settings; got an empty value');
    expect(msg('commands:\n  ffmpeg:\n    limits:\n      memory_max: 1G\n      cpu_quotas: 5\n')).toBe(
      'watch.yaml:5: commands.ffmpeg.limits.cpu_quotas: unknown key; did you mean cpu_quota?',
    );
    expect(msg('commands:\n  ffmpeg:\n    filters:\n      allowed_uids: [1, 2, x]\n')).toBe(
      'watch.yaml:4: commands.ffmpeg.filters.allowed_uids[2]: expected a uid (an integer 0..4294967294); got "x"',
    );
    expect(msg('commands:\n  ffmpeg:\n    cpu_quota: 50\n')).toBe(
      'watch.yaml:3: commands.ffmpeg.cpu_quota: unknown key here; cpu_quota belongs in default_limits (or commands.<name>.limits)',
    );
    expect(msg('commands: [ffmpeg]\n')).toBe('watch.yaml:1: commands: expected a map of commands; got a list');
    expect(msg('commands:\n  /bin/ffmpeg: {}\n')).toBe("watch.yaml:2: commands.\"/bin/ffmpeg\": \"/bin/ffmpeg\" is a path; give the executable's basename (ffmpeg)");
  });
});

describe('the structure of the file', () => {
  it('unknown keys, with the closest known key when it is a likely typo', () => {
    expect(msg('default_limits:\n  memory_mx: 1G\n')).toBe('watch.yaml:2: default_limits.memory_mx: unknown key; did you mean memory_max?');
    expect(msg('scan_intervall: 2s\n')).toBe('watch.yaml:1: scan_intervall: unknown key; did you mean scan_interval?');
    expect(msg('filters:\n  allowed-users: [a]\n')).toBe('watch.yaml:2: filters.allowed-users: unknown key; did you mean allowed_users?');
    expect(msg('targets: [ffmpeg]\n')).toBe('watch.yaml:1: targets: unknown key; did you mean target_commands?');
    expect(msg('memory_max: 1G\n')).toBe('watch.yaml:1: memory_max: unknown key here; memory_max belongs in default_limits (or commands.<name>.limits)');
    expect(msg('state_path: /var/lib/x\n')).toBe(
      'watch.yaml:1: state_path: unknown key (known here: discovery, scan_interval, reconcile_interval, target_commands, default_limits, filters, commands)',
    );
    expect(msg('filters:\n  <<: {a: 1}\n')).toMatch(/^watch\.yaml:2: filters\."<<": merge keys \(<<\) are not supported/);
  });

  it('wrong types', () => {
    expect(msg('default_limits: [1, 2]\n')).toBe('watch.yaml:1: default_limits: expected a map of limits; got a list');
    expect(msg('filters: yes\n')).toBe('watch.yaml:1: filters: expected a map of filters; got "yes"');
    expect(msg('filters:\n# allowed_users: [a]\ndiscovery: auto\n')).toBe('watch.yaml:1: filters: expected a map of filters; got an empty value');
    expect(msg('discovery: 3\n')).toBe('watch.yaml:1: discovery: expected one of auto, events, scan; got 3');
    expect(msg('discovery: event\n')).toBe('watch.yaml:1: discovery: expected one of auto, events, scan; got "event" (did you mean events?)');
    expect(msg('1: x\n')).toBe('watch.yaml:1: a key must be a name; got 1');
  });

  it('duplicate keys, at any level', () => {
    expect(msg('discovery: auto\nscan_interval: 1s\ndiscovery: scan\n')).toBe('watch.yaml:3: discovery: given twice (first on line 1)');
    expect(msg('default_limits:\n  cpu_weight: 5\n  cpu_weight: 6\n')).toBe('watch.yaml:3: default_limits.cpu_weight: given twice (first on line 2)');
  });

  it('empty files, other documents, YAML syntax errors', () => {
    const none = 'the file has no settings; expected a map of settings (discovery, scan_interval, reconcile_interval, target_commands, default_limits, filters, commands)';
    expect(msg('')).toBe(`watch.yaml:1: ${none}`);
    expect(msg('# nothing yet\n')).toBe(`watch.yaml:1: ${none}`);
    expect(msg('---\n')).toBe(`watch.yaml:1: ${none}`);
    expect(msg('- ffmpeg\n')).toMatch(/^watch\.yaml:1: expected a map of settings \(.*\); got a list$/);
    expect(msg('ffmpeg\n')).toMatch(/^watch\.yaml:1: expected a map of settings \(.*\); got "ffmpeg"$/);
    expect(msg('discovery: auto\n---\ndiscovery: scan\n')).toBe(
      'watch.yaml:2: a second YAML document starts here; a watch config is one document (remove the ---)',
    );
    expect(msg('discovery: auto\nfilters:\n  allowed_users: [a\n')).toMatch(/^watch\.yaml:4: filters\.allowed_users: invalid YAML: /);
    expect(msg('scan_interval: 1s\n\tdiscovery: scan\n')).toMatch(/^watch\.yaml:\d: (scan_interval: )?invalid YAML: /);
    expect(msg('filters:\n  allowed_users:\n\t- a\n')).toBe('watch.yaml:3: invalid YAML: Tabs are not allowed as indentation');
    expect(msg('discovery: !custom auto\n')).toBe('watch.yaml:1: discovery: invalid YAML: Unresolved tag: !custom');
    const e = err('discovery: auto\nscan_interval: x\n');
    expect([e.file, e.line, e.key]).toEqual(['watch.yaml', 2, 'scan_interval']);
  });

  it('anchors and aliases are followed', () => {
    const cfg = parseWatchConfig(
      'default_limits: &std {cpu_quota: 100}\ncommands:\n  ffmpeg:\n    limits: *std\n',
      'w.yaml',
    );
    expect(cfg.commands.ffmpeg!.limits).toEqual(cfg.defaultLimits);
  });

  it('an unprintable value or key stays on one line', () => {
    expect(msg('filters:\n  allowed_users: ["a\\nb"]\n')).toBe('watch.yaml:2: filters.allowed_users[0]: "a\\nb" is not a user name (no spaces, colons, slashes or control characters)');
    expect(msg('"a\\nb": 1\n')).toMatch(/^watch\.yaml:1: "a\\nb": unknown key/);
    expect(msg(`default_limits:\n  memory_max: "${'x'.repeat(500)}"\n`)).toMatch(/got "x{60}…" \(500 characters\)$/);
  });
});

describe('loadWatchConfig', () => {
  it('names the file, and says why it cannot be read', () => {
    const missing = join(DIR, 'missing.yaml');
    expect(() => loadWatchConfig(missing)).toThrow(new ConfigError(missing, undefined, undefined, `cannot read ${missing}: ENOENT (no such file)`));
    expect(() => loadWatchConfig(missing)).toThrow(`${missing}: cannot read ${missing}: ENOENT (no such file)`);
    expect(() => loadWatchConfig(DIR)).toThrow(`cannot read ${DIR}: EISDIR (is a directory)`);
    expect(() => loadWatchConfig('/dev/null')).toThrow('/dev/null: cannot read /dev/null: not a regular file');
    if (process.getuid?.() !== 0) {
      const secret = join(DIR, 'secret.yaml');
      writeFileSync(secret, 'discovery: auto\n');
      chmodSync(secret, 0o000);
      expect(() => loadWatchConfig(secret)).toThrow(`cannot read ${secret}: EACCES (permission denied)`);
    }
  });

  it('a value error names the file as given', () => {
    const file = join(DIR, 'bad.yaml');
    writeFileSync(file, '# watch\ndefault_limits:\n  memory_max: lots\n');
    expect(() => loadWatchConfig(file)).toThrow(`${file}:3: default_limits.memory_max: expected a size like 512M, 2G or max; got "lots"`);
  });

  it('refuses bytes that are not UTF-8, naming the line', () => {
    const file = join(DIR, 'latin1.yaml');
    writeFileSync(file, Buffer.concat([Buffer.from('discovery: auto\nfilters:\n  allowed_users: [j'), Buffer.from([0xf6]), Buffer.from('rg]\n')]));
    expect(() => loadWatchConfig(file)).toThrow(`${file}:3: not UTF-8 text`);
  });
});

describe('mergeFlags', () => {
  const base = parseWatchConfig(
    [
      'discovery: scan',
      'scan_interval: 5s',
      'target_commands: [ffmpeg, gst-launch-1.0]',
      'default_limits: {cpu_quota: 100, memory_max: 1G}',
      'commands:',
      '  ffmpeg:',
      '    limits: {memory_max: 2G}',
      '',
    ].join('\n'),
    'w.yaml',
  );

  it('no flags: the file as it is', () => {
    expect(mergeFlags(base, {})).toEqual(base);
    expect(mergeFlags(base, { defaultLimits: parseLimits({}) })).toEqual(base);
  });

  it('a flag given wins over the file', () => {
    const m = mergeFlags(base, { discovery: 'events', scanIntervalMs: 1000, reconcileIntervalMs: 30_000, targets: ['ffmpeg', 'gst-launch-1.0', 'x264'] });
    expect(m).toMatchObject({ discovery: 'events', scanIntervalMs: 1000, reconcileIntervalMs: 30_000, targets: ['ffmpeg', 'gst-launch-1.0', 'x264'] });
    expect(m.defaultLimits).toBe(base.defaultLimits);
  });

  it('any limit flag replaces default_limits as a whole; a command keeps its own limits', () => {
    const m = mergeFlags(base, { defaultLimits: parseLimits({ cpuWeight: '50' }) });
    expect(m.defaultLimits).toEqual({ cpuWeight: 50 });
    expect(limitsForCommand(m, 'gst-launch-1.0')).toEqual({ cpuWeight: 50 });
    expect(limitsForCommand(m, 'ffmpeg')).toEqual({ memoryMax: 2 * GB });
  });

  it('flags the file would refuse are refused', () => {
    expect(() => mergeFlags(base, { targets: ['gst-launch-1.0'] })).toThrow(
      '--target: the config file has settings for commands.ffmpeg, which --target leaves out: add --target ffmpeg or remove that entry',
    );
    expect(() => mergeFlags(base, { targets: [] })).toThrow('--target: give at least one command name');
    expect(() => mergeFlags(base, { targets: ['ffmpeg', 'ffmpeg'] })).toThrow('--target: ffmpeg is given twice');
    expect(() => mergeFlags(base, { targets: ['/usr/bin/ffmpeg'] })).toThrow(/^--target: "\/usr\/bin\/ffmpeg" is a path/);
    expect(() => mergeFlags(base, { scanIntervalMs: 10 })).toThrow('--scan-interval: 10ms is below the minimum of 100ms');
    expect(() => mergeFlags(base, { reconcileIntervalMs: 0 })).toThrow(UsageError);
  });
});

describe('describeConfigChange', () => {
  const before = parseWatchConfig(
    [
      'scan_interval: 2s',
      'target_commands: [ffmpeg]',
      'default_limits: {cpu_quota: 150, memory_max: 512M, io_max: "8:0 rbps=1048576"}',
      'filters: {allowed_users: [alice, carol], min_runtime: 2s}',
      'commands:',
      '  ffmpeg:',
      '    limits: {cpu_weight: 100}',
      '    filters: {blocked_uids: [0]}',
      '',
    ].join('\n'),
    'w.yaml',
    OPTS,
  );

  it('nothing changed: no lines', () => {
    expect(describeConfigChange(before, before)).toEqual([]);
  });

  it('one human line per change', () => {
    const after = parseWatchConfig(
      [
        'discovery: scan',
        'scan_interval: 5s',
        'reconcile_interval: 90s',
        'target_commands: [gst-launch-1.0, ffmpeg]',
        'default_limits: {cpu_quota: 200, memory_max: 1G, io_max: ["8:0 rbps=2097152", "8:16 wbps=max"], cpu_weight: 300}',
        'filters: {allowed_users: [alice, bob], max_runtime: 1h}',
        'commands:',
        '  ffmpeg:',
        '    filters: {blocked_uids: [0, 65534]}',
        '  gst-launch-1.0:',
        '    limits: {cpu_max: "max 100000"}',
        '',
      ].join('\n'),
      'w.yaml',
      OPTS,
    );
    expect(describeConfigChange(before, after)).toEqual([
      'discovery: auto → scan',
      'scan_interval: 2s → 5s',
      'reconcile_interval: 1m → 1m30s',
      'targets: +gst-launch-1.0',
      'default limits: cpu_quota 150% → 200%',
      'default limits: cpu_weight unset → 300',
      'default limits: memory_max 512M → 1G',
      'default limits: io_max 8:0 rbps=1048576 → rbps=2097152',
      'default limits: io_max 8:16 unset → wbps=max',
      'filters.allowed_users: +bob -carol',
      'filters.min_runtime: 2s → unset',
      'filters.max_runtime: unset → 1h',
      'commands.ffmpeg.limits: own (cpu_weight 100) → the defaults',
      'commands.ffmpeg.filters.blocked_uids: +65534',
      'commands.gst-launch-1.0: added',
      'commands.gst-launch-1.0.limits: the defaults → own (cpu_max max 100000)',
    ]);
    expect(describeConfigChange(after, before)).toContain('commands.gst-launch-1.0: removed');
    expect(describeConfigChange(after, before)).toContain('targets: -gst-launch-1.0');
  });

  it('from the defaults: what a config sets', () => {
    expect(describeConfigChange(DEFAULT_WATCH_CONFIG, parseWatchConfig('default_limits: {cpu_max: "50000 100000"}\nfilters: {blocked_dirs: [/tmp]}\n', 'w.yaml'))).toEqual([
      'default limits: cpu_max unset → 50000 100000',
      'filters.blocked_dirs: +/tmp (now filtered)',
    ]);
  });

  it('helpers', () => {
    expect(formatBytes(512 * MB)).toBe('512M');
    expect(formatBytes(1.5 * GB)).toBe('1536M');
    expect(formatBytes(4097)).toBe('4097');
    expect(formatBytes('max')).toBe('max');
    expect(formatLimits({})).toBe('none');
    expect(formatLimits(parseLimits({ cpuQuota: '150', memoryMax: '2G' }))).toBe('cpu_quota 150%, memory_max 2G');
  });
});
