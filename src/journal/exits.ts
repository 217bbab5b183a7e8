/**
 * Keepers' exit files: `<state-dir>/exits/<run_id>.json`, one per run started under
 * `ffrtmp-keeper`, written by the keeper when the workload ends (native/keeper.c has the format,
 * src/observer/keeper.ts reads it). The journal owns their place and their end: a file is removed
 * once the run's Result is durable in the journal (by the wrapper, or by whoever adopted the job),
 * and `recover`'s sweep removes those a crash left behind.
 */
import * as path from 'node:path';
import { RUN_ID_PATTERN } from '../model/run-id';
import { makeDirs, readdirOrEmpty, removeFile } from './files';

const DIR_MODE = 0o750;
const EXIT_FILE = /^([0-9a-f]{16})\.json(\.tmp)?$/;

export function exitsDir(stateDir: string): string {
  return path.join(stateDir, 'exits');
}

/** The exit file of a run (absolute when `stateDir` is). */
export function exitFilePath(stateDir: string, runId: string): string {
  if (!RUN_ID_PATTERN.test(runId)) throw new Error(`not a run id: ${JSON.stringify(runId)}`);
  return path.join(exitsDir(stateDir), `${runId}.json`);
}

/** Makes sure the directory exists (0750). Throws on I/O errors. */
export function prepareExitsDir(stateDir: string): void {
  makeDirs(exitsDir(stateDir), DIR_MODE);
}

/** Removes a run's exit file (and a temp file a killed keeper left). Never throws. */
export function removeExitFile(file: string): void {
  for (const f of [file, `${file}.tmp`]) {
    try {
      removeFile(f);
    } catch {
      /* the sweep tries again */
    }
  }
}

/** The exit files present, by run id (temp files included, under their run id). */
export function listExitFiles(stateDir: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const name of readdirOrEmpty(exitsDir(stateDir))) {
    const m = EXIT_FILE.exec(name);
    if (m === null) continue;
    const list = out.get(m[1]!) ?? [];
    list.push(path.join(exitsDir(stateDir), name));
    out.set(m[1]!, list);
  }
  return out;
}
