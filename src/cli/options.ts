/**
 * Commander option definitions and argument parsers shared by the commands. Light on purpose:
 * loading the CLI to parse a command line loads this, commander and nothing of the product; each
 * command's work is loaded only when it runs (src/cli/lazy.ts).
 */
import { Option, type Command } from 'commander';
import { UsageError } from '../model/errors';
import { quote } from '../model/quote';
import { DEFAULT_LISTEN, parseListen } from '../model/listen';

// The parsers throw UsageError, which commander passes through untouched (it wraps only its own
// InvalidArgumentError, echoing the whole value): src/cli/main.ts prints `ffrtmp: <message>`, exit 2.

/** A PID as typed by a human: digits only (no sign, no hex, no spaces). Range is checked by the core. */
export function parsePid(value: string, previous: number[] = []): number[] {
  if (!/^\d+$/.test(value)) throw new UsageError(`--pid ${quote(value)} is not a process id (expected a positive whole number)`);
  return [...previous, Number(value)];
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** A whole number in [min, max] for `flag` ("a limit", "a size", ...). */
export function wholeNumber(flag: string, what: string, min: number, max: number): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new UsageError(`${flag} ${quote(value)} is not ${what} (expected a whole number from ${min} to ${max})`);
    }
    return Number(value);
  };
}

export function stateDirOption(): Option {
  return new Option(
    '--state-dir <dir>',
    'journal directory (default: $FFRTMP_STATE_DIR; /var/lib/ffrtmp as root; else $XDG_STATE_HOME/ffrtmp or ~/.local/state/ffrtmp)',
  );
}

export type LogFormat = 'text' | 'json';

/**
 * `--log-format`. The daemons (agent, watch, serve) also read it from `FFRTMP_LOG_FORMAT`, as a systemd
 * EnvironmentFile sets it; run and attach never read the environment for it.
 */
export function logFormatOption(env?: string): Option {
  const o = new Option('--log-format <format>', 'summary line format: text (the JOB ... | sla=... line) or json (one object per job, for log shippers)')
    .choices(['text', 'json'])
    .default('text');
  return env === undefined ? o : o.env(env);
}

export function listenOption(env?: string): Option {
  const o = new Option('--listen <host:port>', 'address to listen on')
    .argParser((value: string) => {
      parseListen(value); // throws UsageError
      return value;
    })
    .default(DEFAULT_LISTEN);
  return env === undefined ? o : o.env(env);
}

/** A comma-separated list from the environment, or repeated flags: `--target a --target b`, `TARGETS=a,b`. */
export function collectList(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(',').map((s) => s.trim()).filter((s) => s !== '')];
}

/** The cgroup flags shared by `run` and `attach` (docs/cgroups.md "Flags and files"). */
export interface CgroupFlagValues {
  cgroupRoot?: string;
  cpuMax?: string;
  cpuQuota?: string;
  cpuWeight?: string;
  memoryMax?: string;
  ioMax?: string[];
}

export function addCgroupOptions(cmd: Command): Command {
  return cmd
    .option('--cgroup-root <path>', 'parent of the job cgroups (default: v2 delegated own cgroup or /sys/fs/cgroup/ffrtmp; v1 <controller mount>/ffrtmp)')
    .option('--cpu-max <"quota period">', 'CPU bandwidth in µs, e.g. "50000 100000" or "max 100000" (cpu.max / cpu.cfs_*)')
    .option('--cpu-quota <percent>', 'CPU bandwidth in % of one CPU, e.g. 150 = 1.5 CPUs (exclusive with --cpu-max)')
    .option('--cpu-weight <1-10000>', 'relative CPU weight (cpu.weight / v1 cpu.shares = weight × 1024 / 100)')
    .option('--memory-max <bytes>', 'memory limit, bytes with optional K/M/G/T (binary; decimals allowed: 1.5G), or max (memory.max / memory.limit_in_bytes)')
    .option('--io-max <"maj:min key=value...">', 'io limit for a whole disk: rbps= wbps= riops= wiops= (repeat per device)', collect);
}
