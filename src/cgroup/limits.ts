/**
 * Limit flags → one canonical, validated `Limits` object (v2 semantics and units).
 *
 * Everything here runs before anything is created or started: a bad value is a UsageError
 * (exit 2) with a message that says what is wrong and what is accepted. Nothing in this
 * file touches a cgroup.
 *
 * Canonical units are cgroup v2's: `cpu.max` quota/period in microseconds, `cpu.weight`
 * 1..10000, `memory.max` in bytes, `io.max` per device in bytes/s and IO/s. The v1 writer
 * converts (src/cgroup/v1.ts); v2 inputs are never converted.
 */
import * as fs from 'node:fs';
import { UsageError } from '../model/errors';
import { quote, shown } from '../model/quote';

/** cpu.max: `quotaUs` µs of CPU time every `periodUs` µs; `quotaUs: null` = `max` (no cap). */
export interface CpuMax {
  readonly quotaUs: number | null;
  readonly periodUs: number;
  /** Which flag produced it (for messages only). */
  readonly from: 'cpu-max' | 'cpu-quota';
}

export type IoKey = 'rbps' | 'wbps' | 'riops' | 'wiops';
export const IO_KEYS: readonly IoKey[] = ['rbps', 'wbps', 'riops', 'wiops'];

/** One device's io.max line. A key that is absent is not touched; `'max'` removes a limit. */
export interface IoMax {
  readonly major: number;
  readonly minor: number;
  /** `"8:0"` */
  readonly device: string;
  readonly rbps?: number | 'max';
  readonly wbps?: number | 'max';
  readonly riops?: number | 'max';
  readonly wiops?: number | 'max';
}

/** The canonical set of limits for one job. An absent field is "not requested". */
export interface Limits {
  readonly cpuMax?: CpuMax;
  readonly cpuWeight?: number;
  /** Bytes, or `'max'` for an explicit "no limit". */
  readonly memoryMax?: number | 'max';
  readonly io?: readonly IoMax[];
}

/** Raw flag values as the CLI (commander) hands them over: strings, possibly repeated. */
export interface LimitFlags {
  cpuMax?: string;
  cpuQuota?: string | number;
  cpuWeight?: string | number;
  memoryMax?: string | number;
  ioMax?: string | readonly string[];
}

/** Bounds the kernel enforces (kernel/sched/core.c: tg_set_cfs_bandwidth; systemd clamps the same way). */
export const CPU_PERIOD_MIN_US = 1000;
export const CPU_PERIOD_MAX_US = 1_000_000;
export const CPU_QUOTA_MIN_US = 1000;
/** max_cfs_runtime: MAX_BW = 2^44 - 1 µs. */
export const CPU_QUOTA_MAX_US = 2 ** 44 - 1;
export const CPU_DEFAULT_PERIOD_US = 100_000;
export const CPU_WEIGHT_MIN = 1;
export const CPU_WEIGHT_MAX = 10_000;

export interface ParseLimitsOptions {
  /** Where `/sys/dev/block/<maj:min>` lives (tests). Default `/sys/dev/block`. */
  sysDevBlock?: string;
}

/** True when at least one limit was requested. */
export function hasLimits(l: Limits): boolean {
  return l.cpuMax !== undefined || l.cpuWeight !== undefined || l.memoryMax !== undefined || (l.io?.length ?? 0) > 0;
}

/** Parses and validates all limit flags at once. Throws UsageError. */
export function parseLimits(flags: LimitFlags, opts: ParseLimitsOptions = {}): Limits {
  const out: { -readonly [K in keyof Limits]: Limits[K] } = {};
  if (present(flags.cpuMax) && present(flags.cpuQuota)) {
    throw new UsageError('--cpu-max and --cpu-quota are mutually exclusive: give one of them');
  }
  if (present(flags.cpuMax)) out.cpuMax = parseCpuMax(String(flags.cpuMax));
  if (present(flags.cpuQuota)) out.cpuMax = parseCpuQuota(String(flags.cpuQuota));
  if (present(flags.cpuWeight)) out.cpuWeight = parseCpuWeight(String(flags.cpuWeight));
  if (present(flags.memoryMax)) out.memoryMax = parseMemoryMax(String(flags.memoryMax));
  if (present(flags.ioMax)) {
    const raw = typeof flags.ioMax === 'string' ? [flags.ioMax] : [...(flags.ioMax as readonly string[])];
    const entries = raw.map((s) => parseIoMax(s, opts));
    const seen = new Set<string>();
    for (const e of entries) {
      if (seen.has(e.device)) throw new UsageError(`--io-max: device ${e.device} given twice; put all its keys in one --io-max`);
      seen.add(e.device);
    }
    out.io = entries;
  }
  return Object.freeze(out);
}

function present(v: unknown): boolean {
  return v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0);
}

const UINT = /^[0-9]+$/;

/** `--cpu-max "<quota|max> [period]"`, µs. The period defaults to 100000 (the kernel's default). */
export function parseCpuMax(s: string): CpuMax {
  const parts = s.trim().split(/\s+/);
  const usage = `--cpu-max expects "<quota|max> <period>" in microseconds (quota >= ${CPU_QUOTA_MIN_US}, period ${CPU_PERIOD_MIN_US}..${CPU_PERIOD_MAX_US}), e.g. "50000 100000"; got ${quote(s)}`;
  if (parts.length < 1 || parts.length > 2 || parts[0] === '') throw new UsageError(usage);
  let periodUs = CPU_DEFAULT_PERIOD_US;
  if (parts.length === 2) {
    if (!UINT.test(parts[1]!)) throw new UsageError(usage);
    periodUs = Number(parts[1]);
    if (periodUs < CPU_PERIOD_MIN_US || periodUs > CPU_PERIOD_MAX_US) {
      throw new UsageError(`--cpu-max: period ${shown(parts[1]!)} µs is outside ${CPU_PERIOD_MIN_US}..${CPU_PERIOD_MAX_US}`);
    }
  }
  if (parts[0] === 'max') return Object.freeze({ quotaUs: null, periodUs, from: 'cpu-max' as const });
  if (!UINT.test(parts[0]!)) throw new UsageError(usage);
  const quotaUs = Number(parts[0]);
  checkQuota(quotaUs, '--cpu-max');
  return Object.freeze({ quotaUs, periodUs, from: 'cpu-max' as const });
}

function checkQuota(quotaUs: number, flag: string): void {
  if (!(quotaUs <= CPU_QUOTA_MAX_US)) throw new UsageError(`${flag}: the quota is above the kernel's maximum of ${CPU_QUOTA_MAX_US} µs`);
  if (quotaUs < CPU_QUOTA_MIN_US) {
    throw new UsageError(`${flag}: quota ${quotaUs} µs is below the kernel's minimum of ${CPU_QUOTA_MIN_US} µs`);
  }
}

/**
 * `--cpu-quota <percent>` of one CPU: 150 → 1.5 CPUs → `150000 100000`. Decimals allowed
 * down to 1% (1000 µs per 100 ms period, the kernel's minimum quota); the quota is rounded
 * to the nearest microsecond.
 */
export function parseCpuQuota(s: string): CpuMax {
  const t = s.trim();
  if (!/^[0-9]+(\.[0-9]+)?$/.test(t)) {
    throw new UsageError(`--cpu-quota expects a percentage of one CPU (e.g. 50, 150 = 1.5 CPUs); got ${quote(s)}`);
  }
  const pct = Number(t);
  const quotaUs = Math.round((pct * CPU_DEFAULT_PERIOD_US) / 100);
  if (quotaUs < CPU_QUOTA_MIN_US) throw new UsageError(`--cpu-quota: ${shown(t)}% is below the minimum of 1% (${CPU_QUOTA_MIN_US} µs per ${CPU_DEFAULT_PERIOD_US} µs)`);
  checkQuota(quotaUs, '--cpu-quota');
  return Object.freeze({ quotaUs, periodUs: CPU_DEFAULT_PERIOD_US, from: 'cpu-quota' as const });
}

export function parseCpuWeight(s: string): number {
  const t = s.trim();
  if (!UINT.test(t)) throw new UsageError(`--cpu-weight expects an integer ${CPU_WEIGHT_MIN}..${CPU_WEIGHT_MAX}; got ${quote(s)}`);
  const w = Number(t);
  if (w < CPU_WEIGHT_MIN || w > CPU_WEIGHT_MAX) throw new UsageError(`--cpu-weight ${shown(t)} is outside ${CPU_WEIGHT_MIN}..${CPU_WEIGHT_MAX}`);
  return w;
}

const SUFFIX: Record<string, bigint> = { '': 1n, K: 1024n, M: 1024n ** 2n, G: 1024n ** 3n, T: 1024n ** 4n };
export const PAGE_BYTES = 4096;

/**
 * `--memory-max <bytes>` with an optional binary suffix: `K`, `M`, `G`, `T` (also `KiB`,
 * `Ki`, `KB`: all mean 1024, as systemd and the kernel's memparse read them), or `max`.
 * Decimals are accepted as systemd's parse_size accepts them: `1.5G` = floor(1.5 × 1024³) bytes,
 * computed exactly. Must be at least one page (4096): `0.5K` is refused.
 */
export function parseMemoryMax(s: string): number | 'max' {
  const t = s.trim();
  if (t === 'max') return 'max';
  const m = /^([0-9]+)(?:\.([0-9]+))?(?:\s*([KMGTkmgt])(?:i?[Bb])?|\s*[Bb])?$/.exec(t);
  if (!m) {
    throw new UsageError(`--memory-max expects bytes with an optional K/M/G/T suffix (binary: 1K = 1024; decimals allowed: 1.5G), or "max"; got ${quote(s)}`);
  }
  const factor = SUFFIX[(m[3] ?? '').toUpperCase()]!;
  const frac = m[2] ?? '';
  // floor((whole + frac / 10^digits) × factor), in integers: no floating-point rounding.
  const big = BigInt(m[1]!) * factor + (frac === '' ? 0n : (BigInt(frac) * factor) / 10n ** BigInt(frac.length));
  if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new UsageError(`--memory-max ${quote(t)} is too large`);
  const bytes = Number(big);
  if (bytes < PAGE_BYTES) {
    throw new UsageError(`--memory-max ${quote(t)} is ${bytes} bytes, below one page (${PAGE_BYTES} bytes): the workload could not even start`);
  }
  return bytes;
}

/**
 * `--io-max "<major:minor> rbps=<n|max> wbps=… riops=… wiops=…"`. The device must exist as a
 * block device in /sys/dev/block and must be a whole disk: the kernel's io.max and
 * blkio.throttle refuse partitions (ENODEV), so we say so now rather than fail later.
 */
export function parseIoMax(s: string, opts: ParseLimitsOptions = {}): IoMax {
  const parts = s.trim().split(/\s+/);
  const usage = `--io-max expects "<major:minor> rbps=<n> wbps=<n> riops=<n> wiops=<n>" (any subset of the keys, each an integer or "max"); got ${quote(s)}`;
  const dm = /^([0-9]+):([0-9]+)$/.exec(parts[0] ?? '');
  if (!dm || parts.length < 2) throw new UsageError(usage);
  const major = Number(dm[1]);
  const minor = Number(dm[2]);
  const device = `${major}:${minor}`;
  const entry: { -readonly [K in keyof IoMax]: IoMax[K] } = { major, minor, device };
  for (const kv of parts.slice(1)) {
    const m = /^(rbps|wbps|riops|wiops)=([0-9]+|max)$/.exec(kv);
    if (!m) throw new UsageError(`--io-max: ${quote(kv)} is not one of rbps=, wbps=, riops=, wiops= with an integer or "max"`);
    const key = m[1] as IoKey;
    if (entry[key] !== undefined) throw new UsageError(`--io-max: ${key} given twice for ${device}`);
    if (m[2] === 'max') {
      entry[key] = 'max';
    } else {
      const n = Number(m[2]);
      if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`--io-max: ${key}=${quote(m[2]!)} must be a positive integer or "max"`);
      entry[key] = n;
    }
  }
  const base = `${opts.sysDevBlock ?? '/sys/dev/block'}/${device}`;
  if (!fs.existsSync(base)) throw new UsageError(`--io-max: ${device} is not a block device on this machine (no ${base})`);
  if (fs.existsSync(`${base}/partition`)) {
    let parent = '';
    try {
      parent = fs.readFileSync(`${base}/../dev`, 'utf8').trim();
    } catch {
      /* unknown parent */
    }
    throw new UsageError(`--io-max: ${device} is a partition; io limits apply to whole disks${parent ? ` (use ${parent})` : ''}`);
  }
  return Object.freeze(entry);
}

/**
 * What a user should hear about limits that are valid but cannot do what they seem to: a CPU
 * bandwidth above the host's CPUs never binds (`--cpu-quota 400` on 2 CPUs). The limit is still
 * written. Pure: `cpus` is the caller's (the CLI passes os.availableParallelism()); returns one
 * message per warning, without a prefix.
 */
export function limitWarnings(limits: Limits, cpus: number): string[] {
  const out: string[] = [];
  const c = limits.cpuMax;
  if (c !== undefined && c.quotaUs !== null && cpus >= 1 && c.quotaUs > cpus * c.periodUs) {
    const host = `this host's ${cpus} CPU${cpus === 1 ? '' : 's'}`;
    const num = (x: number): string => String(Number(x.toFixed(3)));
    out.push(
      c.from === 'cpu-quota'
        ? `--cpu-quota ${num((c.quotaUs * 100) / c.periodUs)}% is more than ${host}: the limit cannot bind`
        : `--cpu-max "${formatCpuMax(c)}" allows ${num(c.quotaUs / c.periodUs)} CPUs, more than ${host}: the limit cannot bind`,
    );
  }
  return out;
}

/** `io.max` syntax for one device: `8:0 rbps=1048576 wbps=max`. Only the requested keys. */
export function formatIoLine(e: IoMax): string {
  return [e.device, ...IO_KEYS.filter((k) => e[k] !== undefined).map((k) => `${k}=${e[k]}`)].join(' ');
}

/** `cpu.max` syntax: `50000 100000` or `max 100000`. */
export function formatCpuMax(c: CpuMax): string {
  return `${c.quotaUs === null ? 'max' : c.quotaUs} ${c.periodUs}`;
}
