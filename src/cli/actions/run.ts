import { accessSync, constants, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { run, validateRunSpec } from '../../core/run';
import { UsageError } from '../../model/errors';
import { shown } from '../../model/quote';
import { runExitCode } from '../exit-codes';
import { notPersistedLines, openJournal } from '../journal';
import { governanceFromFlags, limitWarningLines } from '../limits';
import type { ActionModule } from '../lazy';
import type { CgroupFlagValues, LogFormat } from '../options';
import { detachNote, formatSummary, resultJson, spawnFailureLine, writeResultFile, type SpawnPathFacts } from '../output';
import { onDetachSignals } from '../signals';
import { stderr } from '../stdio';

export interface RunOptions extends CgroupFlagValues {
  jobId?: string;
  intent?: string;
  workdir?: string;
  json?: boolean;
  resultFile?: string;
  /** false with --no-keeper. */
  keeper: boolean;
  stateDir?: string;
  logFormat: LogFormat;
}

/** `ffrtmp run`'s work, given the raw argv (to see the `--`). */
export function bind(rawArgs: readonly string[]): ActionModule<[string[], RunOptions]> {
  return { action: (command, opts) => runAction(rawArgs, command, opts) };
}

async function runAction(rawArgs: readonly string[], command: string[], opts: RunOptions): Promise<number> {
  if (!rawArgs.includes('--')) {
    throw new UsageError('put -- before the workload: `ffrtmp run [options] -- <command> [args...]`');
  }
  const [file, ...args] = command;
  if (file === undefined) throw new UsageError('no command given after --');
  if (opts.resultFile !== undefined) checkWritableTarget(opts.resultFile);
  const governance = governanceFromFlags(opts);
  // Everything the user typed is checked before the state dir is probed or a warning printed,
  // so a bad input gets exactly one line (run() checks again; nothing is started before it).
  validateRunSpec({ command: file, args, jobId: opts.jobId, intent: opts.intent, workdir: opts.workdir, governance });
  const journal = openJournal(opts.stateDir, 'write');
  for (const line of limitWarningLines(governance)) stderr.write(`${line}\n`);

  const recorder = journal.recorder();
  const detach = onDetachSignals();
  try {
    const result = await run({
      command: file, args, jobId: opts.jobId, intent: opts.intent, workdir: opts.workdir, signal: detach.signal,
      governance, recorder, keeper: opts.keeper,
    });
    stderr.write(`${formatSummary(result, opts.logFormat)}\n`);
    if (result.platform_sla_reason === 'detached_workload_continues') {
      // Not an end: no Result exists yet (no JSON, no --result-file); the adopter writes it.
      stderr.write(`${detachNote(1, result.pid ?? undefined)}\n`);
      return runExitCode(result, detach.received());
    }
    for (const line of notPersistedLines(recorder, journal, [result.job_id])) stderr.write(`${line}\n`);
    if (opts.json) stderr.write(`${resultJson(result)}\n`);
    if (result.spawn_error) stderr.write(`${spawnFailureLine(file, result.spawn_error, pathFacts(result.spawn_error.path, opts.workdir))}\n`);
    if (opts.resultFile !== undefined) {
      try {
        writeResultFile(opts.resultFile, result);
      } catch (err) {
        stderr.write(`ffrtmp: the Result was not written to ${shown(opts.resultFile)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}\n`);
      }
    }
    return runExitCode(result, detach.received());
  } finally {
    detach.dispose();
  }
}

/** --result-file must be creatable before the workload starts: nothing runs if it can't be written. */
function checkWritableTarget(path: string): void {
  try {
    if (statSync(path).isDirectory()) throw new UsageError(`--result-file ${shown(path)}: is a directory`);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') throw new UsageError(`--result-file ${shown(path)}: ${code ?? (err as Error).message}`);
  }
  try {
    accessSync(dirname(path), constants.W_OK);
  } catch (err) {
    throw new UsageError(`--result-file ${shown(path)}: directory not writable (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/**
 * What the failed path is (relative paths are the workload's: they start from --workdir). A path
 * without a slash is a name that was looked up in PATH, not a file here: not looked at.
 */
function pathFacts(path: string | undefined, workdir: string | undefined): SpawnPathFacts {
  let exists = false;
  let isDirectory = false;
  if (path !== undefined && path.includes('/')) {
    try {
      isDirectory = statSync(resolve(workdir ?? '.', path)).isDirectory();
      exists = true;
    } catch {
      /* missing or unreachable */
    }
  }
  return { PATH: process.env.PATH, exists, isDirectory };
}
