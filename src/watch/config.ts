/**
 * `ffrtmp watch --watch-config <file>`: the YAML file, read and validated strictly, becomes the
 * canonical WatchConfig (types.ts); the flags are merged over it (mergeFlags); a SIGHUP reload is
 * described line by line (describeConfigChange).
 *
 * The keys are the original Go wrapper's (`scan_interval`, `target_commands`, `default_limits`
 * with `cpu_quota` % and `memory_limit` MB, `filters`, `commands.<name>`), plus ours:
 * `discovery`, `reconcile_interval`, and the CLI's limit spellings (`cpu_max`, `memory_max`,
 * `io_max`). The original accepted anything (yaml.v3, non-strict) and ignored per-command limits;
 * here anything that is not understood is an error, and per-command limits apply.
 *
 * Every error is a ConfigError: ONE line naming the file, the line (1-based) and the key path,
 *
 *     watch.yaml:7: default_limits.memory_max: expected a size like 512M, 2G or max; got "lots"
 *
 * (`<file>:<line>: <message>` when no key is concerned). The first error found stops the parse.
 *
 * Decisions (docs and `--help` should say the same):
 * - An empty value (`filters:` with every line under it commented out) is an error, not "absent":
 *   for a command's `limits`, absent means "the defaults" but `{}` means "no limits", and a
 *   silent reading either way would be a trap. Remove the key instead.
 * - `0` is refused where the original read it as "unset" (`cpu_weight: 0`, which it turned into
 *   100; `cpu_quota: 0`, `memory_limit: 0`, which meant "no limit"): the message says to remove
 *   the key. The CLI refuses the same values.
 * - `reconcile_interval` cannot be turned off (`0`, `off`): the periodic reconciliation is what
 *   catches a process that discovery missed. 1s..1h. `scan_interval` is 100ms..1h.
 * - Durations: Go's syntax with the units h, m, s, ms (`10s`, `1m30s`, `1.5s`, `500ms`), or a
 *   plain number of seconds (`2`, `0.5`); whole milliseconds; never negative.
 * - Integer fields (uids, PIDs, `cpu_weight`, `memory_limit`) take YAML integers only: `1000.0`,
 *   `"1000"` and `1e3` are refused.
 * - An empty `allowed_*` list would let no process through: refused. An empty `blocked_*` list
 *   blocks nothing and is the same as absent. A value both allowed and blocked is refused.
 * - YAML anchors and aliases are followed; merge keys (`<<`) are not supported.
 */
import * as fs from 'node:fs';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseAllDocuments, type Document, type Node } from 'yaml';
import {
  formatCpuMax,
  formatIoLine,
  hasLimits,
  parseCpuMax,
  parseCpuQuota,
  parseCpuWeight,
  parseIoMax,
  parseLimits,
  parseMemoryMax,
  type CpuMax,
  type IoMax,
  type LimitFlags,
  type Limits,
  type ParseLimitsOptions,
} from '../cgroup/limits';
import { UsageError } from '../model/errors';
import { quote, shown } from '../model/quote';
import {
  DEFAULT_RECONCILE_INTERVAL_MS,
  DEFAULT_SCAN_INTERVAL_MS,
  DEFAULT_TARGETS,
  type CommandSettings,
  type DiscoveryMode,
  type WatchConfig,
  type WatchFilters,
} from './types';

// ---------------------------------------------------------------------------------------------
// Bounds

export const SCAN_INTERVAL_MIN_MS = 100;
export const SCAN_INTERVAL_MAX_MS = 3_600_000;
export const RECONCILE_INTERVAL_MIN_MS = 1000;
export const RECONCILE_INTERVAL_MAX_MS = 3_600_000;
/** The largest uid: (uid_t)-1 means "no uid" to the kernel. */
export const UID_MAX = 4_294_967_294;
/** PID_MAX_LIMIT on 64-bit Linux (2^22). */
export const PID_MAX = 4_194_304;
/** A watch config larger than this is not a watch config (and `/dev/zero` must not hang the daemon). */
export const CONFIG_MAX_BYTES = 1024 * 1024;

export const DISCOVERY_MODES: readonly DiscoveryMode[] = ['auto', 'events', 'scan'];

const TOP_KEYS = ['discovery', 'scan_interval', 'reconcile_interval', 'target_commands', 'default_limits', 'filters', 'commands'] as const;
const LIMIT_KEYS = ['cpu_quota', 'cpu_max', 'cpu_weight', 'memory_limit', 'memory_max', 'io_max'] as const;
const FILTER_KEYS = [
  'allowed_users',
  'blocked_users',
  'allowed_uids',
  'blocked_uids',
  'allowed_parents',
  'blocked_parents',
  'min_runtime',
  'max_runtime',
  'allowed_dirs',
  'blocked_dirs',
] as const;
const COMMAND_KEYS = ['limits', 'filters'] as const;
type LimitKey = (typeof LIMIT_KEYS)[number];
type FilterKey = (typeof FILTER_KEYS)[number];

/** Every key a watch config knows, by section (the example file and the docs list them all). */
export const WATCH_CONFIG_KEYS = Object.freeze({
  top: TOP_KEYS as readonly string[],
  limits: LIMIT_KEYS as readonly string[],
  filters: FILTER_KEYS as readonly string[],
  command: COMMAND_KEYS as readonly string[],
});

// ---------------------------------------------------------------------------------------------
// Errors

/**
 * A watch config that cannot be used. A UsageError (exit 2): nothing has been started. The
 * message is one line: `<file>:<line>: <key>: <detail>`; `line` and `key` are absent when the
 * error is about the file as a whole (it cannot be read).
 */
export class ConfigError extends UsageError {
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    readonly key: string | undefined,
    readonly detail: string,
  ) {
    super(formatConfigError(file, line, key, detail));
    this.name = 'ConfigError';
  }
}

function formatConfigError(file: string, line: number | undefined, key: string | undefined, detail: string): string {
  const where = line === undefined ? `${shown(file)}` : `${shown(file)}:${line}`;
  const oneLine = detail.replace(/\s*[\r\n]+\s*/g, ' ');
  return key ? `${where}: ${key}: ${oneLine}` : `${where}: ${oneLine}`;
}

// ---------------------------------------------------------------------------------------------
// Durations

const UNIT_MS: Readonly<Record<string, bigint>> = { h: 3_600_000n, m: 60_000n, s: 1000n, ms: 1n };
const DURATION_EXPECTED = 'expected a duration like 10s, 500ms or 1m30s (units h, m, s, ms), or a number of seconds';

/**
 * Go-style duration text → milliseconds, or why not: `"10s"`, `"1m30s"`, `"1.5s"`, `"500ms"`,
 * `"0"`. Units h, m, s, ms; whole milliseconds only (computed exactly, no float rounding).
 */
function durationFromText(t: string): number | { why: string } {
  if (t === '0') return 0;
  if (/^-/.test(t)) return { why: `must not be negative; got ${quote(t)}` };
  const re = /([0-9]+)(?:\.([0-9]+))?(ms|h|m|s)/y;
  let total = 0n;
  let pos = 0;
  while (pos < t.length) {
    re.lastIndex = pos;
    const m = re.exec(t);
    if (!m) return { why: `${DURATION_EXPECTED}; got ${quote(t)}` };
    const unit = UNIT_MS[m[3]!]!;
    const frac = m[2] ?? '';
    const scale = 10n ** BigInt(frac.length);
    const fracUnits = frac === '' ? 0n : BigInt(frac) * unit;
    if (fracUnits % scale !== 0n) return { why: `${quote(t)} is finer than a millisecond` };
    total += BigInt(m[1]!) * unit + fracUnits / scale;
    pos = re.lastIndex;
  }
  if (t.length === 0) return { why: `${DURATION_EXPECTED}; got ""` };
  if (total > BigInt(Number.MAX_SAFE_INTEGER)) return { why: `${quote(t)} is too long` };
  return Number(total);
}

/**
 * Milliseconds as a Go-style duration that durationFromText reads back: `"2s"`, `"1m30s"`,
 * `"500ms"`, `"1h"`, `"1s500ms"`, `"0s"`. Zero components are left out.
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms < 0) return `-${formatDuration(-ms)}`;
  let rest = Math.round(ms);
  if (rest === 0) return '0s';
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  rest -= m * 60_000;
  const s = Math.floor(rest / 1000);
  rest -= s * 1000;
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s ? `${s}s` : ''}${rest ? `${rest}ms` : ''}`;
}

interface Bounds {
  readonly minMs: number;
  readonly maxMs: number;
}
const SCAN_BOUNDS: Bounds = { minMs: SCAN_INTERVAL_MIN_MS, maxMs: SCAN_INTERVAL_MAX_MS };
const RECONCILE_BOUNDS: Bounds = { minMs: RECONCILE_INTERVAL_MIN_MS, maxMs: RECONCILE_INTERVAL_MAX_MS };
const RECONCILE_OFF = 'cannot be turned off: the periodic reconciliation is what catches a process discovery missed';

function boundsProblem(ms: number, b: Bounds): string | null {
  if (ms < b.minMs) return `${formatDuration(ms)} is below the minimum of ${formatDuration(b.minMs)}`;
  if (ms > b.maxMs) return `${formatDuration(ms)} is above the maximum of ${formatDuration(b.maxMs)}`;
  return null;
}

/**
 * `--scan-interval` / `--reconcile-interval` flag values, read exactly as the config file's keys
 * (`10s`, `1m30s`, `500ms`, or seconds). Throws UsageError naming the flag.
 */
export function parseIntervalFlag(flag: '--scan-interval' | '--reconcile-interval', value: string): number {
  const t = value.trim();
  const reconcile = flag === '--reconcile-interval';
  if (reconcile && /^(0+(\.0+)?(ms|h|m|s)?|off|no|false|never|disabled?)$/i.test(t)) {
    throw new UsageError(`${flag} ${RECONCILE_OFF} (give ${formatDuration(RECONCILE_INTERVAL_MIN_MS)}..${formatDuration(RECONCILE_INTERVAL_MAX_MS)})`);
  }
  const ms = durationFromText(/^[0-9]+(\.[0-9]+)?$/.test(t) ? `${t}s` : t);
  if (typeof ms !== 'number') throw new UsageError(`${flag}: ${ms.why}`);
  const bad = boundsProblem(ms, reconcile ? RECONCILE_BOUNDS : SCAN_BOUNDS);
  if (bad !== null) throw new UsageError(`${flag}: ${bad}`);
  return ms;
}

// ---------------------------------------------------------------------------------------------
// Names

/** Why `name` cannot be a target command (an executable's basename), or null. */
function targetProblem(name: string): string | null {
  if (name === '') return 'a command name must not be empty';
  if (name.includes('\0')) return `${quote(name)} contains a NUL character`;
  if (name.includes('/')) {
    const base = name.replace(/\/+$/, '').split('/').pop() ?? '';
    return `${quote(name)} is a path; give the executable's basename${base ? ` (${shown(base)})` : ''}`;
  }
  if (name === '.' || name === '..') return `${quote(name)} is not a command name`;
  if (/[\x00-\x1f\x7f]/.test(name)) return `${quote(name)} contains a control character`;
  return null;
}

function userProblem(name: string): string | null {
  if (name === '') return 'a user name must not be empty';
  if (/[\s:/\x00-\x1f\x7f]/.test(name)) return `${quote(name)} is not a user name (no spaces, colons, slashes or control characters)`;
  return null;
}

/** An absolute directory with repeated and trailing slashes removed, or why not. */
function normaliseDir(p: string): string | { why: string } {
  if (p === '') return { why: 'a directory must not be empty' };
  if (p.includes('\0')) return { why: `${quote(p)} contains a NUL character` };
  if (!p.startsWith('/')) return { why: `${quote(p)} is not an absolute path (a working directory starts with /)` };
  const parts = p.split('/').filter((s) => s !== '');
  if (parts.some((s) => s === '.' || s === '..')) {
    return { why: `${quote(p)} has a . or .. component; give the directory as a process's cwd reads (absolute, resolved)` };
  }
  return `/${parts.join('/')}`;
}

/** Optimal-string-alignment distance (a swap of two neighbours counts 1). */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** The closest of `known` when it is close enough to be a typo (case and - vs _ ignored). */
function closest(name: string, known: readonly string[]): string | undefined {
  const norm = (s: string): string => s.toLowerCase().replace(/-/g, '_');
  const n = norm(name);
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = distance(n, norm(k));
    if (d < bestD) {
      best = k;
      bestD = d;
    }
  }
  const limit = n.length <= 4 ? 1 : n.length <= 8 ? 2 : 3;
  return bestD <= limit ? best : undefined;
}

/** Keys people write for another key (the CLI's words, other tools'). */
const ALIASES: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  settings: { targets: 'target_commands', target: 'target_commands', limits: 'default_limits', interval: 'scan_interval', mode: 'discovery' },
  limits: { cpu: 'cpu_quota', memory: 'memory_max', weight: 'cpu_weight', io: 'io_max' },
  filters: {},
  'command settings': { default_limits: 'limits' },
};

function sectionOf(key: string): string | undefined {
  if ((LIMIT_KEYS as readonly string[]).includes(key)) return 'default_limits (or commands.<name>.limits)';
  if ((FILTER_KEYS as readonly string[]).includes(key)) return 'filters (or commands.<name>.filters)';
  if ((TOP_KEYS as readonly string[]).includes(key)) return 'the top level';
  return undefined;
}

function unknownKey(name: string, known: readonly string[], section: string): string {
  const alias = ALIASES[section]?.[name.toLowerCase()];
  const near = alias ?? closest(name, known);
  if (near !== undefined) return `unknown key; did you mean ${near}?`;
  if (name === '<<') return 'merge keys (<<) are not supported: write the keys out (an alias, *name, works for a whole value)';
  const home = sectionOf(name);
  if (home !== undefined) return `unknown key here; ${name} belongs in ${home}`;
  return `unknown key (known here: ${known.join(', ')})`;
}

// ---------------------------------------------------------------------------------------------
// Reading YAML nodes

/** A value at a key path: its (resolved) node, or null for an empty value, and the line to blame. */
interface Item {
  readonly path: string;
  readonly line: number;
  readonly node: Node | null;
}
interface Entry extends Item {
  readonly name: string;
  readonly keyLine: number;
}

const PLAIN_SEGMENT = /^[A-Za-z0-9_@+.-]+$/;

function joinPath(base: string, name: string): string {
  const seg = PLAIN_SEGMENT.test(name) ? name : quote(name, 40);
  return base === '' ? seg : `${base}.${seg}`;
}

/** How a value reads in a message: `"lots"`, `12.5`, `true`, `a list`, `a map`, `an empty value`. */
function describe(node: Node | null | undefined): string {
  if (node === null || node === undefined) return 'an empty value';
  if (isMap(node)) return 'a map';
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) {
    const v = node.value;
    if (v === null || v === undefined) return 'an empty value';
    if (typeof v === 'string') return quote(v);
    if (typeof v === 'number' || typeof v === 'boolean') {
      const src = node.source;
      return typeof src === 'string' && src !== '' && node.type === 'PLAIN' ? shown(src, 40) : String(v);
    }
    return `a ${typeof v}`;
  }
  return 'a value of an unsupported kind';
}

/** A number's text as written (`1.0`, `0x10` stay themselves), for the limit parsers and messages. */
function numberText(node: Node): string {
  if (isScalar(node) && typeof node.source === 'string' && node.source !== '' && node.type === 'PLAIN') return node.source;
  return String((node as { value?: unknown }).value);
}

class Reader {
  constructor(
    readonly file: string,
    private readonly lc: LineCounter,
    private readonly doc: Document,
    readonly limitOpts: ParseLimitsOptions,
  ) {}

  lineAt(offset: number): number {
    return this.lc.linePos(offset).line;
  }

  lineOf(node: Node | null | undefined, fallback: number): number {
    const r = node?.range;
    return r ? this.lineAt(r[0]) : fallback;
  }

  fail(line: number, path: string, detail: string): never {
    throw new ConfigError(this.file, line, path === '' ? undefined : path, detail);
  }

  /** An alias (`*name`) becomes the node it names. */
  resolve(node: Node | null | undefined, line: number, path: string): Node | null {
    if (node === null || node === undefined) return null;
    if (!isAlias(node)) return node;
    const target = node.resolve(this.doc);
    if (target === undefined) this.fail(line, path, `the alias *${node.source} names no anchor`);
    return target;
  }

  /** A map's entries by key, in file order; keys checked (names, known, given once). */
  map(item: Item, known: readonly string[] | null, section: string): Map<string, Entry> {
    const node = item.node;
    if (!isMap(node)) this.fail(item.line, item.path, `expected a map of ${section}; got ${describe(node)}`);
    const out = new Map<string, Entry>();
    for (const pair of node.items) {
      const rawKey = pair.key as Node | null;
      const keyLine = this.lineOf(rawKey, this.lineOf(pair.value as Node | null, item.line));
      const key = this.resolve(rawKey, keyLine, item.path);
      if (!isScalar(key) || typeof key.value !== 'string') this.fail(keyLine, item.path, `a key must be a name; got ${describe(key)}`);
      const name = key.value;
      const path = joinPath(item.path, name);
      if (known !== null && !known.includes(name)) this.fail(keyLine, path, unknownKey(name, known, section));
      const first = out.get(name);
      if (first !== undefined) this.fail(keyLine, path, `given twice (first on line ${first.keyLine})`);
      const rawValue = pair.value as Node | null;
      const line = this.lineOf(rawValue, keyLine);
      const value = this.resolve(rawValue, line, path);
      out.set(name, { name, path, keyLine, line: value === null || isEmpty(value) ? keyLine : line, node: value });
    }
    return out;
  }

  /** A list's items; `what` names them in the message (`command names`). */
  list(item: Item, what: string): Item[] {
    const node = item.node;
    if (!isSeq(node)) {
      const hint = isScalar(node) && typeof node.value === 'string' && PLAIN_SEGMENT.test(node.value) && node.value.length <= 40 ? `, e.g. [${node.value}]` : '';
      this.fail(item.line, item.path, `expected a list of ${what}${hint}; got ${describe(node)}`);
    }
    return node.items.map((raw, i) => {
      const path = `${item.path}[${i}]`;
      const line = this.lineOf(raw as Node | null, item.line);
      return { path, line, node: this.resolve(raw as Node | null, line, path) };
    });
  }

  /** A string (the caller checks its content). */
  text(item: Item, expected: string): string {
    const n = item.node;
    if (!isScalar(n) || typeof n.value !== 'string') this.fail(item.line, item.path, `expected ${expected}; got ${describe(n)}`);
    return n.value;
  }

  /** A YAML integer (written as decimal digits) in min..max. */
  integer(item: Item, min: number, max: number, expected: string): number {
    const n = item.node;
    if (!isScalar(n) || typeof n.value !== 'number') {
      const quoted = isScalar(n) && typeof n.value === 'string' && /^[0-9]+$/.test(n.value.trim()) ? ': write the number without quotes' : '';
      this.fail(item.line, item.path, `expected ${expected}; got ${describe(n)}${quoted}`);
    }
    const src = numberText(n);
    if (!/^[0-9]+$/.test(src) || !Number.isSafeInteger(n.value)) this.fail(item.line, item.path, `expected ${expected}; got ${describe(n)}`);
    if (n.value < min || n.value > max) this.fail(item.line, item.path, `${src} is outside ${min}..${max}`);
    return n.value;
  }

  /** A duration (text or seconds) in ms, within `bounds`. */
  duration(item: Item, bounds: Bounds): number {
    const n = item.node;
    let ms: number | { why: string };
    if (isScalar(n) && typeof n.value === 'string') {
      ms = durationFromText(n.value.trim());
    } else if (isScalar(n) && typeof n.value === 'number') {
      const src = numberText(n);
      if (/^[0-9]+(\.[0-9]+)?$/.test(src)) ms = durationFromText(`${src}s`);
      else ms = { why: n.value < 0 ? `must not be negative; got ${src}` : `${DURATION_EXPECTED}; got ${describe(n)}` };
    } else {
      ms = { why: `${DURATION_EXPECTED}; got ${describe(n)}` };
    }
    if (typeof ms !== 'number') this.fail(item.line, item.path, ms.why);
    const bad = boundsProblem(ms, bounds);
    if (bad !== null) this.fail(item.line, item.path, bad);
    return ms;
  }
}

function isEmpty(node: Node): boolean {
  return isScalar(node) && (node.value === null || node.value === undefined);
}

/** The key path of the map value that holds `offset` (best effort, for YAML syntax errors). */
function pathAt(node: unknown, offset: number, path: string): string {
  if (isMap(node)) {
    for (const pair of node.items) {
      const k = pair.key as Node | null;
      const v = pair.value as Node | null;
      const start = k?.range?.[0] ?? v?.range?.[0];
      const end = v?.range?.[2] ?? k?.range?.[2];
      if (start !== undefined && end !== undefined && offset >= start && offset <= end) {
        const name = isScalar(k) ? String(k.value) : '?';
        return pathAt(v, offset, joinPath(path, name));
      }
    }
  }
  return path; // a list's items are not descended into: the list is what the error is about
}

// ---------------------------------------------------------------------------------------------
// Sections

const LIMIT_EXPECTED: Readonly<Record<LimitKey, string>> = {
  cpu_quota: 'expected a percentage of one CPU, e.g. 50 or 150 (= 1.5 CPUs)',
  cpu_max: 'expected "<quota|max> [period]" in microseconds, e.g. "150000 100000"',
  cpu_weight: 'expected an integer 1..10000',
  memory_limit: 'expected a whole number of megabytes, e.g. 512',
  memory_max: 'expected a size like 512M, 2G or max',
  io_max: 'expected "<major:minor> rbps=<n> wbps=<n> riops=<n> wiops=<n>" (any of the keys, each an integer or max)',
};

/** A limits.ts UsageError, reworded for a key: its format errors say what the key expects, the rest lose the flag name. */
function limitMessage(err: UsageError, key: LimitKey, got: string): string {
  if (/^--[a-z-]+ expects /.test(err.message)) return `${LIMIT_EXPECTED[key]}; got ${got}`;
  return err.message.replace(/^--[a-z-]+:? /, '');
}

function readLimits(r: Reader, item: Item): Limits {
  const entries = r.map(item, LIMIT_KEYS, 'limits');
  const flags: { -readonly [K in keyof LimitFlags]: LimitFlags[K] } = {};
  const done = new Map<string, Entry>();
  const exclusive = (e: Entry, other: LimitKey): void => {
    const first = done.get(other);
    if (first !== undefined) r.fail(e.keyLine, e.path, `${other} (line ${first.keyLine}) and ${e.name} are exclusive: give one of them`);
  };
  const check = <T>(e: Item, key: LimitKey, got: string, fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      if (err instanceof UsageError) r.fail(e.line, e.path, limitMessage(err, key, got));
      throw err;
    }
  };
  /** A string, or a number as written: the values the CLI's flags take. */
  const flagText = (e: Item, key: LimitKey): string => {
    const n = e.node;
    if (isScalar(n) && typeof n.value === 'string') return n.value;
    if (isScalar(n) && typeof n.value === 'number') return numberText(n);
    return r.fail(e.line, e.path, `${LIMIT_EXPECTED[key]}; got ${describe(n)}`);
  };
  const zero = (e: Entry, meant: string, instead: string): void => {
    const n = e.node;
    const v = isScalar(n) ? (typeof n.value === 'number' ? n.value : typeof n.value === 'string' && /^\s*0+(\.0+)?\s*$/.test(n.value) ? 0 : NaN) : NaN;
    if (v === 0) r.fail(e.line, e.path, `0 is not accepted (the original wrapper read 0 as ${meant}): ${instead}`);
  };

  for (const e of entries.values()) {
    const key = e.name as LimitKey;
    switch (key) {
      case 'cpu_quota': {
        exclusive(e, 'cpu_max');
        zero(e, '"no CPU limit"', 'remove the key for no CPU cap');
        const s = flagText(e, key);
        check(e, key, describe(e.node), () => parseCpuQuota(s));
        flags.cpuQuota = s;
        break;
      }
      case 'cpu_max': {
        exclusive(e, 'cpu_quota');
        const s = flagText(e, key);
        check(e, key, describe(e.node), () => parseCpuMax(s));
        flags.cpuMax = s;
        break;
      }
      case 'cpu_weight': {
        zero(e, 'the default weight, 100', 'remove the key, or give 100');
        const w = r.integer(e, 1, 10_000, LIMIT_EXPECTED.cpu_weight.replace(/^expected /, ''));
        flags.cpuWeight = check(e, key, String(w), () => parseCpuWeight(String(w)));
        break;
      }
      case 'memory_limit': {
        exclusive(e, 'memory_max');
        zero(e, '"no memory limit"', 'remove the key for no memory cap');
        const mb = r.integer(e, 1, Number.MAX_SAFE_INTEGER, LIMIT_EXPECTED.memory_limit.replace(/^expected /, ''));
        flags.memoryMax = `${mb}M`;
        check(e, key, String(mb), () => parseMemoryMax(`${mb}M`));
        break;
      }
      case 'memory_max': {
        exclusive(e, 'memory_limit');
        const s = flagText(e, key);
        check(e, key, describe(e.node), () => parseMemoryMax(s));
        flags.memoryMax = s;
        break;
      }
      case 'io_max': {
        const lines: Item[] = isSeq(e.node) ? r.list(e, 'io.max lines') : [e];
        const texts: string[] = [];
        const seen = new Map<string, Item>();
        for (const it of lines) {
          const s = r.text(it, LIMIT_EXPECTED.io_max.replace(/^expected /, ''));
          const dev = check(it, key, describe(it.node), () => parseIoMax(s, r.limitOpts));
          const first = seen.get(dev.device);
          if (first !== undefined) r.fail(it.line, it.path, `device ${dev.device} is also in ${first.path} (line ${first.line}): put all its keys in one line`);
          seen.set(dev.device, it);
          texts.push(s);
        }
        if (texts.length > 0) flags.ioMax = texts;
        break;
      }
    }
    done.set(key, e);
  }
  try {
    return parseLimits(flags, r.limitOpts);
  } catch (err) {
    if (err instanceof UsageError) r.fail(item.line, item.path, err.message);
    throw err;
  }
}

function readFilters(r: Reader, item: Item): WatchFilters {
  const entries = r.map(item, FILTER_KEYS, 'filters');
  const out: { -readonly [K in keyof WatchFilters]: WatchFilters[K] } = {};
  /** Per list key: value → the item that gave it (for "listed twice" and "both allowed and blocked"). */
  const given = new Map<FilterKey, Map<string | number, Item>>();

  const listOf = <T extends string | number>(e: Entry, what: string, one: (it: Item) => T): T[] | undefined => {
    const key = e.name as FilterKey;
    const items = r.list(e, what);
    if (items.length === 0) {
      if (key.startsWith('allowed_')) {
        const who = key.slice('allowed_'.length);
        r.fail(e.line, e.path, `an empty list would let no process through; remove the key to allow all ${who}`);
      }
      return undefined; // an empty blocked list blocks nothing: the same as absent
    }
    const seen = new Map<string | number, Item>();
    const values: T[] = [];
    for (const it of items) {
      const v = one(it);
      const first = seen.get(v);
      if (first !== undefined) r.fail(it.line, it.path, `${typeof v === 'number' ? v : shown(v)} is listed twice (first on line ${first.line})`);
      seen.set(v, it);
      values.push(v);
    }
    given.set(key, seen);
    return Object.freeze(values) as T[];
  };

  const users = (e: Entry): string[] | undefined =>
    listOf(e, 'user names', (it) => {
      const n = it.node;
      if (isScalar(n) && typeof n.value === 'number') {
        const uids = e.name.replace('users', 'uids');
        r.fail(it.line, it.path, `expected a user name; got ${describe(n)}: uids go in ${uids}`);
      }
      const s = r.text(it, 'a user name');
      const bad = userProblem(s);
      if (bad !== null) r.fail(it.line, it.path, bad);
      return s;
    });
  const dirs = (e: Entry): string[] | undefined =>
    listOf(e, 'absolute directories', (it) => {
      const d = normaliseDir(r.text(it, 'an absolute directory'));
      if (typeof d !== 'string') r.fail(it.line, it.path, d.why);
      return d;
    });

  for (const e of entries.values()) {
    const key = e.name as FilterKey;
    switch (key) {
      case 'allowed_users':
        out.allowedUsers = users(e);
        break;
      case 'blocked_users':
        out.blockedUsers = users(e);
        break;
      case 'allowed_uids':
        out.allowedUids = listOf(e, 'uids', (it) => r.integer(it, 0, UID_MAX, `a uid (an integer 0..${UID_MAX})`));
        break;
      case 'blocked_uids':
        out.blockedUids = listOf(e, 'uids', (it) => r.integer(it, 0, UID_MAX, `a uid (an integer 0..${UID_MAX})`));
        break;
      case 'allowed_parents':
        out.allowedParents = listOf(e, 'parent PIDs', (it) => r.integer(it, 1, PID_MAX, `a PID (an integer 1..${PID_MAX})`));
        break;
      case 'blocked_parents':
        out.blockedParents = listOf(e, 'parent PIDs', (it) => r.integer(it, 1, PID_MAX, `a PID (an integer 1..${PID_MAX})`));
        break;
      case 'min_runtime':
        out.minRuntimeMs = r.duration(e, { minMs: 0, maxMs: Number.MAX_SAFE_INTEGER });
        break;
      case 'max_runtime':
        out.maxRuntimeMs = r.duration(e, { minMs: 1, maxMs: Number.MAX_SAFE_INTEGER });
        break;
      case 'allowed_dirs':
        out.allowedDirs = dirs(e);
        break;
      case 'blocked_dirs':
        out.blockedDirs = dirs(e);
        break;
    }
  }

  if (out.minRuntimeMs !== undefined && out.maxRuntimeMs !== undefined && out.minRuntimeMs > out.maxRuntimeMs) {
    const max = entries.get('max_runtime')!;
    const min = entries.get('min_runtime')!;
    const later = max.keyLine >= min.keyLine ? max : min;
    r.fail(
      later.line,
      later.path,
      `min_runtime (${formatDuration(out.minRuntimeMs)}) is more than max_runtime (${formatDuration(out.maxRuntimeMs)}): no process could pass`,
    );
  }
  for (const what of ['users', 'uids', 'parents', 'dirs'] as const) {
    const allowed = given.get(`allowed_${what}` as FilterKey);
    const blocked = given.get(`blocked_${what}` as FilterKey);
    if (allowed === undefined || blocked === undefined) continue;
    for (const [v, it] of blocked) {
      const a = allowed.get(v);
      if (a !== undefined) r.fail(it.line, it.path, `${typeof v === 'number' ? v : shown(v)} is also in allowed_${what} (line ${a.line}): give it in one list`);
    }
  }
  for (const k of Object.keys(out) as (keyof WatchFilters)[]) if (out[k] === undefined) delete out[k];
  return Object.freeze(out);
}

function readTargets(r: Reader, e: Entry): readonly string[] {
  const items = r.list(e, 'command names');
  if (items.length === 0) r.fail(e.line, e.path, `the list is empty; name at least one command (the default is ${DEFAULT_TARGETS.join(', ')})`);
  const seen = new Map<string, Item>();
  for (const it of items) {
    const s = r.text(it, 'a command name');
    const bad = targetProblem(s);
    if (bad !== null) r.fail(it.line, it.path, bad);
    const first = seen.get(s);
    if (first !== undefined) r.fail(it.line, it.path, `${shown(s)} is listed twice (first on line ${first.line})`);
    seen.set(s, it);
  }
  return Object.freeze([...seen.keys()]);
}

function readCommand(r: Reader, e: Entry): CommandSettings {
  const entries = r.map(e, COMMAND_KEYS, 'command settings');
  const out: { -readonly [K in keyof CommandSettings]: CommandSettings[K] } = {};
  for (const c of entries.values()) {
    if (c.name === 'limits') out.limits = readLimits(r, c);
    else out.filters = readFilters(r, c);
  }
  return Object.freeze(out);
}

// ---------------------------------------------------------------------------------------------
// Parse and load

/**
 * The text of a watch config → a validated WatchConfig. Pure; `file` only names the file in
 * messages. `opts` reaches parseLimits (`io_max` devices are checked in /sys/dev/block).
 * Throws ConfigError.
 */
export function parseWatchConfig(text: string, file: string, opts: ParseLimitsOptions = {}): WatchConfig {
  const lc = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lc, uniqueKeys: false, prettyErrors: false });
  const fail: (line: number, key: string | undefined, detail: string) => never = (line, key, detail) => {
    throw new ConfigError(file, line, key, detail);
  };
  const expectedTop = `expected a map of settings (${TOP_KEYS.join(', ')})`;
  if (docs.length === 0) fail(1, undefined, `the file has no settings; ${expectedTop}`);

  // YAML errors first, in any document: the parser's first is the cause, the rest often follow from it.
  const problems = docs.flatMap((d) => [...d.errors, ...d.warnings].map((p) => ({ p, d })));
  if (problems.length > 0) {
    const { p, d } = problems[0]!;
    const key = pathAt(d.contents, p.pos[0], '');
    fail(lc.linePos(p.pos[0]).line, key === '' ? undefined : key, `invalid YAML: ${p.message.replace(/ at line \d+, column \d+:?\s*$/s, '')}`);
  }
  if (docs.length > 1) {
    const second = docs[1]!;
    fail(lc.linePos(second.range[0]).line, undefined, 'a second YAML document starts here; a watch config is one document (remove the ---)');
  }

  const doc = docs[0]!;
  const contents = doc.contents as Node | null;
  const r = new Reader(file, lc, doc, opts);
  const topLine = r.lineOf(contents, 1);
  const root = r.resolve(contents, topLine, '');
  if (root === null || isEmpty(root)) fail(topLine, undefined, `the file has no settings; ${expectedTop}`);
  if (!isMap(root)) fail(topLine, undefined, `${expectedTop}; got ${describe(root)}`);

  const top = r.map({ path: '', line: topLine, node: root }, TOP_KEYS, 'settings');
  let discovery: DiscoveryMode = 'auto';
  let scanIntervalMs = DEFAULT_SCAN_INTERVAL_MS;
  let reconcileIntervalMs = DEFAULT_RECONCILE_INTERVAL_MS;
  let targets: readonly string[] = DEFAULT_TARGETS;
  let defaultLimits: Limits = Object.freeze({});
  let filters: WatchFilters = Object.freeze({});
  const commands: [string, CommandSettings, Entry][] = [];

  for (const e of top.values()) {
    switch (e.name as (typeof TOP_KEYS)[number]) {
      case 'discovery': {
        const s = r.text(e, `one of ${DISCOVERY_MODES.join(', ')}`);
        if (!(DISCOVERY_MODES as readonly string[]).includes(s)) {
          const near = closest(s, DISCOVERY_MODES);
          r.fail(e.line, e.path, `expected one of ${DISCOVERY_MODES.join(', ')}; got ${quote(s)}${near ? ` (did you mean ${near}?)` : ''}`);
        }
        discovery = s as DiscoveryMode;
        break;
      }
      case 'scan_interval':
        scanIntervalMs = r.duration(e, SCAN_BOUNDS);
        break;
      case 'reconcile_interval': {
        const n = e.node;
        const v = isScalar(n) ? n.value : undefined;
        if (v === 0 || v === false || (typeof v === 'string' && /^(0+(\.0+)?(ms|h|m|s)?|off|no|never|disabled?)$/i.test(v.trim()))) {
          r.fail(e.line, e.path, `${RECONCILE_OFF} (give ${formatDuration(RECONCILE_INTERVAL_MIN_MS)}..${formatDuration(RECONCILE_INTERVAL_MAX_MS)})`);
        }
        reconcileIntervalMs = r.duration(e, RECONCILE_BOUNDS);
        break;
      }
      case 'target_commands':
        targets = readTargets(r, e);
        break;
      case 'default_limits':
        defaultLimits = readLimits(r, e);
        break;
      case 'filters':
        filters = readFilters(r, e);
        break;
      case 'commands':
        for (const c of r.map(e, null, 'commands').values()) {
          const bad = targetProblem(c.name);
          if (bad !== null) r.fail(c.keyLine, c.path, bad);
          commands.push([c.name, readCommand(r, c), c]);
        }
        break;
    }
  }

  // Checked once target_commands is known, wherever it is in the file.
  for (const [name, , c] of commands) {
    if (targets.includes(name)) continue;
    const near = closest(name, targets);
    const which = top.has('target_commands') ? 'target_commands' : 'target_commands (not set: the default)';
    r.fail(c.keyLine, c.path, `${shown(name)} is not in ${which} (${targets.join(', ')})${near ? `; did you mean ${near}?` : '; add it there or remove this entry'}`);
  }

  return Object.freeze({
    discovery,
    scanIntervalMs,
    reconcileIntervalMs,
    targets,
    defaultLimits,
    filters,
    commands: Object.freeze(Object.fromEntries(commands.map(([name, settings]) => [name, settings]))),
  });
}

const READ_ERRORS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EISDIR: 'is a directory',
  ENOTDIR: 'a parent is not a directory',
  ELOOP: 'too many symbolic links',
};

/**
 * Reads and parses a watch config. A file that cannot be read is a ConfigError without a line:
 * `cannot read /etc/ffrtmp/watch.yaml: ENOENT (no such file)`.
 */
export function loadWatchConfig(file: string, opts: ParseLimitsOptions = {}): WatchConfig {
  let bytes: Buffer;
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const st = fs.fstatSync(fd);
    if (st.isDirectory()) throw Object.assign(new Error('EISDIR'), { code: 'EISDIR' });
    if (!st.isFile()) throw new ConfigError(file, undefined, undefined, `cannot read ${shown(file)}: not a regular file`);
    if (st.size > CONFIG_MAX_BYTES) {
      throw new ConfigError(file, undefined, undefined, `cannot read ${shown(file)}: ${st.size} bytes is more than a watch config's ${CONFIG_MAX_BYTES}`);
    }
    bytes = fs.readFileSync(fd);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    const why = READ_ERRORS[code];
    throw new ConfigError(file, undefined, undefined, `cannot read ${shown(file)}: ${code}${why ? ` (${why})` : ''}`);
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
  const text = decodeUtf8(bytes, file);
  return parseWatchConfig(text, file, opts);
}

/** UTF-8 text, or a ConfigError naming the first line that is not. */
function decodeUtf8(bytes: Buffer, file: string): string {
  const strict = new TextDecoder('utf-8', { fatal: true });
  try {
    return strict.decode(bytes);
  } catch {
    let start = 0;
    for (let line = 1; ; line++) {
      const nl = bytes.indexOf(0x0a, start);
      const end = nl === -1 ? bytes.length : nl;
      try {
        strict.decode(bytes.subarray(start, end));
      } catch {
        throw new ConfigError(file, line, undefined, 'not UTF-8 text');
      }
      if (nl === -1) throw new ConfigError(file, undefined, undefined, 'not UTF-8 text');
      start = nl + 1;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Flags

/**
 * What `ffrtmp watch`'s flags give, already parsed (`--target` repeatable, parseIntervalFlag,
 * parseLimits). An absent field leaves the file's value.
 */
export type WatchFlags = Partial<Pick<WatchConfig, 'targets' | 'scanIntervalMs' | 'reconcileIntervalMs' | 'discovery' | 'defaultLimits'>>;

/**
 * The flags over the file: a flag given wins.
 * - `targets` (`--target`) replaces `target_commands` as a whole. A `commands.<name>` entry the
 *   new list leaves out is refused (UsageError), not silently dropped.
 * - `scanIntervalMs`, `reconcileIntervalMs`, `discovery` replace the file's.
 * - Limits: when ANY limit flag is given (`defaultLimits` with at least one limit), the flags'
 *   limits replace `default_limits` AS A WHOLE: `--memory-max 1G` with a file that sets
 *   `cpu_quota` gives a memory limit and no CPU limit. `commands.<name>.limits` still apply to
 *   their commands. Passing `parseLimits({})` (no limit flag) leaves the file's defaults.
 * Throws UsageError for a value the flags' own parsers would have refused.
 */
export function mergeFlags(base: WatchConfig, flags: WatchFlags): WatchConfig {
  let targets = base.targets;
  if (flags.targets !== undefined) {
    if (flags.targets.length === 0) throw new UsageError('--target: give at least one command name');
    const seen = new Set<string>();
    for (const t of flags.targets) {
      const bad = targetProblem(t);
      if (bad !== null) throw new UsageError(`--target: ${bad}`);
      if (seen.has(t)) throw new UsageError(`--target: ${shown(t)} is given twice`);
      seen.add(t);
    }
    targets = Object.freeze([...seen]);
    for (const name of Object.keys(base.commands)) {
      if (!seen.has(name)) {
        throw new UsageError(`--target: the config file has settings for commands.${shown(name)}, which --target leaves out: add --target ${shown(name)} or remove that entry`);
      }
    }
  }
  const interval = (flag: '--scan-interval' | '--reconcile-interval', ms: number | undefined, b: Bounds, dflt: number): number => {
    if (ms === undefined) return dflt;
    if (!Number.isSafeInteger(ms)) throw new UsageError(`${flag}: ${String(ms)} is not a whole number of milliseconds`);
    const bad = boundsProblem(ms, b);
    if (bad !== null) throw new UsageError(`${flag}: ${bad}`);
    return ms;
  };
  if (flags.discovery !== undefined && !DISCOVERY_MODES.includes(flags.discovery)) {
    throw new UsageError(`--discovery expects one of ${DISCOVERY_MODES.join(', ')}; got ${quote(String(flags.discovery))}`);
  }
  return Object.freeze({
    discovery: flags.discovery ?? base.discovery,
    scanIntervalMs: interval('--scan-interval', flags.scanIntervalMs, SCAN_BOUNDS, base.scanIntervalMs),
    reconcileIntervalMs: interval('--reconcile-interval', flags.reconcileIntervalMs, RECONCILE_BOUNDS, base.reconcileIntervalMs),
    targets,
    defaultLimits: flags.defaultLimits !== undefined && hasLimits(flags.defaultLimits) ? flags.defaultLimits : base.defaultLimits,
    filters: base.filters,
    commands: base.commands,
  });
}

// ---------------------------------------------------------------------------------------------
// Per command

/** The limits a process of `command` gets: its `commands.<name>.limits` when set (as a whole), else the defaults. */
export function limitsForCommand(cfg: WatchConfig, command: string): Limits {
  const own = Object.hasOwn(cfg.commands, command) ? cfg.commands[command]!.limits : undefined;
  return own ?? cfg.defaultLimits;
}

/** The filters a process of `command` must pass: its own (checked first, when set), then the global ones. Both must pass. */
export function filtersForCommand(cfg: WatchConfig, command: string): { command?: WatchFilters; global: WatchFilters } {
  const own = Object.hasOwn(cfg.commands, command) ? cfg.commands[command]!.filters : undefined;
  return own === undefined ? { global: cfg.filters } : { command: own, global: cfg.filters };
}

// ---------------------------------------------------------------------------------------------
// Describing

/** Bytes as the largest whole binary unit: `512M`, `1G`, `1536M`, `4097`; or `max`. */
export function formatBytes(b: number | 'max'): string {
  if (b === 'max') return 'max';
  for (const [suffix, f] of [['T', 1024 ** 4], ['G', 1024 ** 3], ['M', 1024 ** 2], ['K', 1024]] as const) {
    if (b >= f && b % f === 0) return `${b / f}${suffix}`;
  }
  return String(b);
}

function cpuText(c: CpuMax, asQuota: boolean): string {
  if (asQuota && c.quotaUs !== null) return `${Number(((c.quotaUs * 100) / c.periodUs).toFixed(3))}%`;
  return formatCpuMax(c);
}

function ioKeys(e: IoMax): string {
  return formatIoLine(e).slice(e.device.length + 1);
}

/** One `<key> <before> → <after>` per limit that differs (`memory_max 512M → 1G`, `cpu_weight unset → 200`). */
function limitChanges(a: Limits, b: Limits): string[] {
  const out: string[] = [];
  if (a.cpuMax !== b.cpuMax && (a.cpuMax === undefined || b.cpuMax === undefined || formatCpuMax(a.cpuMax) !== formatCpuMax(b.cpuMax))) {
    const asQuota = (a.cpuMax?.from ?? 'cpu-quota') === 'cpu-quota' && (b.cpuMax?.from ?? 'cpu-quota') === 'cpu-quota';
    const show = (c: CpuMax | undefined): string => (c === undefined ? 'unset' : cpuText(c, asQuota));
    out.push(`${asQuota ? 'cpu_quota' : 'cpu_max'} ${show(a.cpuMax)} → ${show(b.cpuMax)}`);
  }
  if (a.cpuWeight !== b.cpuWeight) out.push(`cpu_weight ${a.cpuWeight ?? 'unset'} → ${b.cpuWeight ?? 'unset'}`);
  if (a.memoryMax !== b.memoryMax) {
    const show = (m: number | 'max' | undefined): string => (m === undefined ? 'unset' : formatBytes(m));
    out.push(`memory_max ${show(a.memoryMax)} → ${show(b.memoryMax)}`);
  }
  const ai = new Map((a.io ?? []).map((e) => [e.device, ioKeys(e)]));
  const bi = new Map((b.io ?? []).map((e) => [e.device, ioKeys(e)]));
  for (const dev of new Set([...ai.keys(), ...bi.keys()])) {
    if (ai.get(dev) !== bi.get(dev)) out.push(`io_max ${dev} ${ai.get(dev) ?? 'unset'} → ${bi.get(dev) ?? 'unset'}`);
  }
  return out;
}

/** `cpu_quota 150%, memory_max 2G`, or `none`. */
export function formatLimits(l: Limits): string {
  const parts = limitChanges({}, l).map((s) => s.replace(/ unset \u2192 /, ' '));
  return parts.length === 0 ? 'none' : parts.join(', ');
}

const FILTER_FIELDS: readonly (readonly [keyof WatchFilters, FilterKey])[] = [
  ['allowedUsers', 'allowed_users'],
  ['blockedUsers', 'blocked_users'],
  ['allowedUids', 'allowed_uids'],
  ['blockedUids', 'blocked_uids'],
  ['allowedParents', 'allowed_parents'],
  ['blockedParents', 'blocked_parents'],
  ['minRuntimeMs', 'min_runtime'],
  ['maxRuntimeMs', 'max_runtime'],
  ['allowedDirs', 'allowed_dirs'],
  ['blockedDirs', 'blocked_dirs'],
];

/** `<prefix>.<key>: +bob -carol` for lists, `<prefix>.<key>: unset → 5s` for durations. */
function filterChanges(prefix: string, a: WatchFilters, b: WatchFilters): string[] {
  const out: string[] = [];
  for (const [field, key] of FILTER_FIELDS) {
    const x = a[field];
    const y = b[field];
    if (typeof x === 'number' || typeof y === 'number' || (x === undefined && y === undefined)) {
      if (x !== y) {
        const show = (v: unknown): string => (typeof v === 'number' ? formatDuration(v) : 'unset');
        out.push(`${prefix}.${key}: ${show(x)} → ${show(y)}`);
      }
      continue;
    }
    const xs = (x ?? []) as readonly (string | number)[];
    const ys = (y ?? []) as readonly (string | number)[];
    const show = (v: string | number): string => (typeof v === 'number' ? String(v) : shown(v, 60));
    const added = ys.filter((v) => !xs.includes(v)).map((v) => `+${show(v)}`);
    const removed = xs.filter((v) => !ys.includes(v)).map((v) => `-${show(v)}`);
    if (added.length + removed.length === 0) continue;
    const note = y === undefined ? ' (no longer filtered)' : x === undefined ? ' (now filtered)' : '';
    out.push(`${prefix}.${key}: ${[...added, ...removed].join(' ')}${note}`);
  }
  return out;
}

/**
 * What a reload changed, one human line each, in the file's key order, e.g.
 * `scan_interval: 2s → 5s`, `targets: +gst-launch-1.0 -ffmpeg`,
 * `default limits: memory_max 512M → 1G`, `filters.allowed_users: +bob`,
 * `commands.ffmpeg: added`, `commands.ffmpeg.limits: memory_max 512M → 1G`,
 * `commands.ffmpeg.limits: the defaults → own (cpu_quota 300%)`,
 * `commands.ffmpeg.filters.min_runtime: unset → 5s`. Empty when nothing changed.
 */
export function describeConfigChange(before: WatchConfig, after: WatchConfig): string[] {
  const out: string[] = [];
  if (before.discovery !== after.discovery) out.push(`discovery: ${before.discovery} → ${after.discovery}`);
  if (before.scanIntervalMs !== after.scanIntervalMs) out.push(`scan_interval: ${formatDuration(before.scanIntervalMs)} → ${formatDuration(after.scanIntervalMs)}`);
  if (before.reconcileIntervalMs !== after.reconcileIntervalMs) {
    out.push(`reconcile_interval: ${formatDuration(before.reconcileIntervalMs)} → ${formatDuration(after.reconcileIntervalMs)}`);
  }
  const added = after.targets.filter((t) => !before.targets.includes(t)).map((t) => `+${shown(t)}`);
  const removed = before.targets.filter((t) => !after.targets.includes(t)).map((t) => `-${shown(t)}`);
  if (added.length + removed.length > 0) out.push(`targets: ${[...added, ...removed].join(' ')}`);
  for (const line of limitChanges(before.defaultLimits, after.defaultLimits)) out.push(`default limits: ${line}`);
  out.push(...filterChanges('filters', before.filters, after.filters));

  const names = [...Object.keys(after.commands), ...Object.keys(before.commands).filter((n) => !Object.hasOwn(after.commands, n))];
  for (const name of names) {
    const prefix = `commands.${shown(name)}`;
    const a = Object.hasOwn(before.commands, name) ? before.commands[name] : undefined;
    const b = Object.hasOwn(after.commands, name) ? after.commands[name] : undefined;
    if (a === undefined) out.push(`${prefix}: added`);
    if (b === undefined) out.push(`${prefix}: removed`);
    const al = a?.limits;
    const bl = b?.limits;
    if (al === undefined && bl !== undefined) out.push(`${prefix}.limits: the defaults → own (${formatLimits(bl)})`);
    else if (al !== undefined && bl === undefined) out.push(`${prefix}.limits: own (${formatLimits(al)}) → the defaults`);
    else if (al !== undefined && bl !== undefined) for (const line of limitChanges(al, bl)) out.push(`${prefix}.limits: ${line}`);
    out.push(...filterChanges(`${prefix}.filters`, a?.filters ?? {}, b?.filters ?? {}));
  }
  return out;
}
