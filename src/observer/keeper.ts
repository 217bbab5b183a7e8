/**
 * Reading a keeper's exit file (written by native/keeper.c when the workload ends; the format
 * is in that file's header). The wrapper reads it when its keeper exits; an adopter reads it when
 * the wrapper is gone. Never throws: a missing, torn or foreign file is a reason, and the exit
 * status then comes from elsewhere or is unknown.
 */
import { readFileSync } from 'node:fs';
import { fromKeeper } from '../model/exit-status';
import { UNKNOWN_EXIT, type ExitStatus } from '../model/result';
import type { SpawnRequest } from './types';

/** The exit file as written (protocol 1). */
export interface KeeperExitFile {
  readonly v: 1;
  readonly job_id: string;
  /** The workload. */
  readonly pid: number;
  readonly keeper_pid: number;
  /** The workload exec'd. false: no go came (its wrapper died while starting it): it never ran. */
  readonly started: boolean;
  readonly exit_code: number | null;
  /** The number of the signal that ended the workload. */
  readonly signal: number | null;
  readonly core_dumped: boolean;
  /** CLOCK_REALTIME in µs, read right after wait4() returned. */
  readonly ended_at_us: number;
  readonly utime_us: number;
  readonly stime_us: number;
  readonly maxrss_kb: number;
}

export type ExitFileRead =
  | {
      readonly ok: true;
      readonly file: KeeperExitFile;
      /** false: the workload never ran (status unknown, endedAtMs = when the keeper gave up). */
      readonly started: boolean;
      readonly status: ExitStatus;
      readonly endedAtMs: number;
    }
  | { readonly ok: false; readonly missing: boolean; readonly why: string };

const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isPid = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) > 0;

function validate(v: unknown): KeeperExitFile | string {
  if (typeof v !== 'object' || v === null) return 'not a JSON object';
  const o = v as Record<string, unknown>;
  if (o.v !== 1) return `unknown version ${JSON.stringify(o.v)}`;
  if (typeof o.job_id !== 'string' || !isPid(o.pid) || !isPid(o.keeper_pid)) return 'bad job_id, pid or keeper_pid';
  if (typeof o.started !== 'boolean') return 'bad started';
  const code = o.exit_code, sig = o.signal;
  const exited = Number.isSafeInteger(code) && (code as number) >= 0 && (code as number) <= 255 && sig === null;
  const killed = code === null && Number.isSafeInteger(sig) && (sig as number) > 0 && (sig as number) < 128;
  if (o.started && !exited && !killed) return 'exactly one of exit_code and signal must be set';
  if (!o.started && (code !== null || sig !== null)) return 'a workload that never started has no exit_code or signal';
  if (typeof o.core_dumped !== 'boolean') return 'bad core_dumped';
  if (!isCount(o.ended_at_us) || !isCount(o.utime_us) || !isCount(o.stime_us) || !isCount(o.maxrss_kb)) return 'bad times or rusage';
  return o as unknown as KeeperExitFile;
}

/**
 * Reads `path` and checks it speaks of the expected workload (its pid, and the keeper's when
 * known): a file of another run can never decide this one's status.
 */
export function readExitFile(path: string, expect: { pid: number; keeperPid?: number }): ExitFileRead {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { ok: false, missing: code === 'ENOENT', why: code === 'ENOENT' ? `no exit file at ${path}` : `exit file ${path}: ${code ?? (e as Error).message}` };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { ok: false, missing: false, why: `exit file ${path} is not JSON (${text.length} bytes)` };
  }
  const file = validate(parsed);
  if (typeof file === 'string') return { ok: false, missing: false, why: `exit file ${path}: ${file}` };
  if (file.pid !== expect.pid || (expect.keeperPid !== undefined && file.keeper_pid !== expect.keeperPid)) {
    return { ok: false, missing: false, why: `exit file ${path} is about pid ${file.pid} (keeper ${file.keeper_pid}), not ${expect.pid}` };
  }
  const status = file.started ? fromKeeper(file.exit_code, file.signal) : UNKNOWN_EXIT;
  return { ok: true, file, started: file.started, status, endedAtMs: file.ended_at_us / 1000 };
}

/** Why a workload was started without a keeper: the caller's reason, or this backend's. */
export function keeperWhy(req: SpawnRequest, backendWhy: string): string {
  if (req.keeper === undefined) return 'no keeper was asked for';
  return 'why' in req.keeper ? req.keeper.why : backendWhy;
}
