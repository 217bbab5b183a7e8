/**
 * The queue job's data (the seed's job model, its names kept) and its strict validation.
 *
 * A producer puts JSON on the queue; the agent reads it here before anything is started. Anything
 * not understood is refused: a missing command, a bad id, `memory_max_mb: "lots"`, and fields
 * this model does not know (the original's `engine`, `scenario`, ...: a job that expects them to
 * mean something would silently run without it). Every error is a JobDataError: ONE line that
 * names the field first, in the style of the watch settings (src/watch/config.ts):
 *
 *     wrapper_constraints.memory_max_mb: expected a whole number of MiB (1 or more); got "lots"
 *
 * The queue job then fails with that line (BullMQ UnrecoverableError: never retried), nothing is
 * started, and the agent goes on with the next job.
 *
 * Decisions:
 * - `id` is required (the job id of the journal, the summary line and the cgroup leaf; the same
 *   rules as `--job-id`). It need not equal the queue's own job id.
 * - `wrapper_enabled` defaults to false (opt-in, as in the seed); it must be a boolean.
 * - Limits come from `wrapper_constraints` when present; else from the original's fallback
 *   `parameters.resource_limits` (`max_cpu_percent` → a CPU bandwidth of that percent of one CPU,
 *   `"<pct × 1000> 100000"`, as the original wrote it; `max_memory_mb`); else none (the job still
 *   gets an accounting cgroup on the wrapper path, as `ffrtmp run` does). Both are validated even
 *   when the other one wins or the job takes the legacy path.
 * - Numbers are JSON numbers (`"512"` is refused), whole where the unit is whole.
 * - `env` is merged over the agent's environment (minus the agent's own settings: see
 *   agentEnvironment); values must be strings.
 */
import { parseCpuMax, parseCpuQuota, parseIoMax, type CpuMax, type IoMax, type Limits } from '../cgroup/limits';
import { UsageError } from '../model/errors';
import { validateIntent } from '../model/intent';
import { validateJobId } from '../model/job-id';
import { quote } from '../model/quote';

/** The job data as a producer writes it (JSON). */
export interface JobData {
  id: string;
  command: string;
  args?: string[];
  intent?: string;
  workdir?: string;
  env?: Record<string, string>;
  /** Default false: the legacy path (a plain child process, no governance). */
  wrapper_enabled?: boolean;
  wrapper_constraints?: WrapperConstraints;
  /** The original's fallback, read only when `wrapper_constraints` is absent. */
  parameters?: { resource_limits?: { max_cpu_percent?: number; max_memory_mb?: number } };
}

export interface WrapperConstraints {
  /** `"<quota µs|max> <period µs>"`, as `--cpu-max`. */
  cpu_max?: string;
  /** 1..10000, as `--cpu-weight`. */
  cpu_weight?: number;
  /** Whole MiB. */
  memory_max_mb?: number;
  /** `"<maj:min> rbps=… wbps=… riops=… wiops=…"`, one string or one per device, as `--io-max`. */
  io_max?: string | string[];
}

/** A validated job: what the agent runs. */
export interface AgentJob {
  readonly id: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly intent?: string;
  readonly workdir?: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly wrapper_enabled: boolean;
  /** The canonical limits for the wrapper path, or undefined (none requested). */
  readonly limits?: Limits;
  /** Where the limits came from. */
  readonly limits_from: 'wrapper_constraints' | 'parameters.resource_limits' | null;
}

/** Bad job data: the message starts with the field's path. Nothing was started. */
export class JobDataError extends UsageError {
  constructor(
    readonly field: string,
    detail: string,
  ) {
    super(`${field}: ${detail}`);
    this.name = 'JobDataError';
  }
}

const TOP_KEYS = ['id', 'command', 'args', 'intent', 'workdir', 'env', 'wrapper_enabled', 'wrapper_constraints', 'parameters'] as const;
const CONSTRAINT_KEYS = ['cpu_max', 'cpu_weight', 'memory_max_mb', 'io_max'] as const;
const RESOURCE_KEYS = ['max_cpu_percent', 'max_memory_mb'] as const;
/** The largest memory limit in MiB that is still a safe integer number of bytes. */
const MEMORY_MB_MAX = Math.floor(Number.MAX_SAFE_INTEGER / (1024 * 1024));
const ENV_NAME = /^[^=\0]+$/;

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return quote(v);
  if (typeof v === 'object') return 'an object';
  return String(v);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkKeys(obj: Record<string, unknown>, allowed: readonly string[], prefix: string): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) {
      throw new JobDataError(`${prefix}${k}`, `unknown field (known here: ${allowed.join(', ')})`);
    }
  }
}

function string(v: unknown, field: string, what = 'a string'): string {
  if (typeof v !== 'string') throw new JobDataError(field, `expected ${what}; got ${typeName(v)}`);
  if (v.includes('\0')) throw new JobDataError(field, 'must not contain NUL bytes');
  return v;
}

/** A JSON number that is a whole number in [min, max]. */
function whole(v: unknown, field: string, unit: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new JobDataError(field, `expected a whole number of ${unit} (${min} to ${max}); got ${typeName(v)}`);
  }
  return v;
}

/** A UsageError from the limit parsers, re-said for a field (their messages name the CLI flag). */
function asField<T>(field: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof UsageError) throw new JobDataError(field, err.message.replace(/^--[a-z-]+:? /, ''));
    throw err;
  }
}

function constraintsLimits(raw: unknown): Limits {
  const prefix = 'wrapper_constraints.';
  if (!isObject(raw)) throw new JobDataError('wrapper_constraints', `expected an object; got ${typeName(raw)}`);
  checkKeys(raw, CONSTRAINT_KEYS, prefix);
  const out: { cpuMax?: CpuMax; cpuWeight?: number; memoryMax?: number; io?: IoMax[] } = {};
  if (raw.cpu_max !== undefined) {
    const s = string(raw.cpu_max, `${prefix}cpu_max`, 'a string like "50000 100000" (quota and period in µs)');
    out.cpuMax = asField(`${prefix}cpu_max`, () => parseCpuMax(s));
  }
  if (raw.cpu_weight !== undefined) out.cpuWeight = whole(raw.cpu_weight, `${prefix}cpu_weight`, 'weight', 1, 10_000);
  if (raw.memory_max_mb !== undefined) out.memoryMax = whole(raw.memory_max_mb, `${prefix}memory_max_mb`, 'MiB', 1, MEMORY_MB_MAX) * 1024 * 1024;
  if (raw.io_max !== undefined) {
    const field = `${prefix}io_max`;
    const lines = Array.isArray(raw.io_max) ? raw.io_max.map((l, i) => string(l, `${field}[${i}]`)) : [string(raw.io_max, field, 'a string or an array of strings')];
    if (lines.length === 0) throw new JobDataError(field, 'an empty array limits nothing: remove the field');
    out.io = lines.map((l, i) => asField(Array.isArray(raw.io_max) ? `${field}[${i}]` : field, () => parseIoMax(l)));
    const seen = new Set<string>();
    for (const e of out.io) {
      if (seen.has(e.device)) throw new JobDataError(field, `device ${e.device} given twice; put all its keys in one line`);
      seen.add(e.device);
    }
  }
  return Object.freeze(out);
}

function fallbackLimits(raw: unknown): Limits | undefined {
  if (!isObject(raw)) throw new JobDataError('parameters', `expected an object; got ${typeName(raw)}`);
  checkKeys(raw, ['resource_limits'], 'parameters.');
  if (raw.resource_limits === undefined) return undefined;
  const prefix = 'parameters.resource_limits.';
  const rl = raw.resource_limits;
  if (!isObject(rl)) throw new JobDataError('parameters.resource_limits', `expected an object; got ${typeName(rl)}`);
  checkKeys(rl, RESOURCE_KEYS, prefix);
  const out: { cpuMax?: CpuMax; memoryMax?: number } = {};
  if (rl.max_cpu_percent !== undefined) {
    const field = `${prefix}max_cpu_percent`;
    const v = rl.max_cpu_percent;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 1) {
      throw new JobDataError(field, `expected a percent of one CPU, 1 or more (150 = 1.5 CPUs); got ${typeName(v)}`);
    }
    out.cpuMax = asField(field, () => parseCpuQuota(String(v)));
  }
  if (rl.max_memory_mb !== undefined) out.memoryMax = whole(rl.max_memory_mb, `${prefix}max_memory_mb`, 'MiB', 1, MEMORY_MB_MAX) * 1024 * 1024;
  return Object.freeze(out);
}

/**
 * The job data → a validated AgentJob. Throws JobDataError naming the field. Reads nothing from
 * the machine except, for `io_max`, whether the device exists (as `--io-max` does); `workdir` is
 * checked when the job starts (the core's check, same message as `--workdir`).
 */
export function parseJobData(data: unknown): AgentJob {
  if (!isObject(data)) throw new JobDataError('(job data)', `expected a JSON object; got ${typeName(data)}`);
  checkKeys(data, TOP_KEYS, '');
  if (data.id === undefined) throw new JobDataError('id', 'required (the job id: letters, digits and . _ - : @ +)');
  const id = string(data.id, 'id');
  try {
    validateJobId(id);
  } catch (err) {
    throw new JobDataError('id', (err as Error).message);
  }
  if (data.command === undefined) throw new JobDataError('command', 'required (the program to run: a name looked up in PATH, or a path)');
  const command = string(data.command, 'command');
  if (command === '') throw new JobDataError('command', 'must not be empty');
  let args: string[] = [];
  if (data.args !== undefined) {
    if (!Array.isArray(data.args)) throw new JobDataError('args', `expected an array of strings; got ${typeName(data.args)}`);
    args = data.args.map((a, i) => string(a, `args[${i}]`));
  }
  let intent: string | undefined;
  if (data.intent !== undefined) {
    intent = string(data.intent, 'intent');
    try {
      validateIntent(intent);
    } catch (err) {
      throw new JobDataError('intent', (err as Error).message);
    }
  }
  let workdir: string | undefined;
  if (data.workdir !== undefined) {
    workdir = string(data.workdir, 'workdir');
    if (workdir === '') throw new JobDataError('workdir', 'must not be empty (leave the field out for the agent\'s own directory)');
  }
  let env: Record<string, string> | undefined;
  if (data.env !== undefined) {
    if (!isObject(data.env)) throw new JobDataError('env', `expected an object of strings; got ${typeName(data.env)}`);
    env = {};
    for (const [k, v] of Object.entries(data.env)) {
      if (!ENV_NAME.test(k)) throw new JobDataError(`env.${k}`, 'not a variable name (no "=" or NUL)');
      env[k] = string(v, `env.${k}`);
    }
  }
  let wrapperEnabled = false;
  if (data.wrapper_enabled !== undefined) {
    if (typeof data.wrapper_enabled !== 'boolean') throw new JobDataError('wrapper_enabled', `expected true or false; got ${typeName(data.wrapper_enabled)}`);
    wrapperEnabled = data.wrapper_enabled;
  }
  const fromConstraints = data.wrapper_constraints !== undefined ? constraintsLimits(data.wrapper_constraints) : undefined;
  const fromParameters = data.parameters !== undefined ? fallbackLimits(data.parameters) : undefined;
  const limits = fromConstraints ?? fromParameters;
  return Object.freeze({
    id,
    command,
    args: Object.freeze(args),
    ...(intent !== undefined ? { intent } : {}),
    ...(workdir !== undefined ? { workdir } : {}),
    ...(env !== undefined ? { env: Object.freeze(env) } : {}),
    wrapper_enabled: wrapperEnabled,
    ...(limits !== undefined ? { limits } : {}),
    limits_from: fromConstraints !== undefined ? 'wrapper_constraints' : fromParameters !== undefined ? 'parameters.resource_limits' : null,
  });
}

/**
 * The agent's own settings, never handed to a workload: `REDIS_URL` may carry a password, and a
 * workload has no business with the node's queue credentials.
 */
export const AGENT_ENV_VARS: readonly string[] = ['REDIS_URL', 'QUEUES', 'WORKER_ID', 'MAX_JOBS', 'WRAPPER_ENABLED', 'LOCK_DURATION_MS', 'STALLED_INTERVAL_MS'];

/** A workload's environment: the agent's (minus its settings), with the job's `env` over it. */
export function agentEnvironment(job: Pick<AgentJob, 'env'>, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...base };
  for (const k of AGENT_ENV_VARS) delete out[k];
  return { ...out, ...(job.env ?? {}) };
}
