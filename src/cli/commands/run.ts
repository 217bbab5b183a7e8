import { accessSync, constants, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { Command } from 'commander';
import { run } from '../../core/run';
import { UsageError } from '../../model/errors';
import { addCgroupOptions, governanceFromFlags, type CgroupFlagValues } from '../cgroup-options';
import { runExitCode } from '../exit-codes';
import { formatSummary, logFormatOption, notPersistedLines, openJournal, stateDirOption, type LogFormat } from '../journal-options';
import { resultJson, writeResultFile } from '../render';
import { onDetachSignals } from '../signals';

interface RunOptions extends CgroupFlagValues {
  jobId?: string;
  intent?: string;
  workdir?: string;
  json?: boolean;
  resultFile?: string;
  stateDir?: string;
  logFormat: LogFormat;
}

/**
 * `ffrtmp run [options] -- <command> [args...]`. The workload owns stdout and stderr; the
 * wrapper writes its summary line (and with --json the Result, one line) to stderr after the
 * workload exits, and mirrors the workload's exit status.
 */
export function runCommand(rawArgs: readonly string[]): Command {
  return addCgroupOptions(new Command('run'))
    .description('start a workload, govern it, watch it until it exits, record one Result')
    .usage('[options] -- <command> [args...]')
    .option('--job-id <id>', 'job id (generated when absent)')
    .option('--intent <intent>', 'label for the job, e.g. production or test')
    .option('--workdir <dir>', 'directory the workload starts in')
    .option('--json', 'also print the Result as one JSON line on stderr, after the summary line')
    .option('--result-file <path>', 'write the Result as JSON to this file (atomically)')
    .addOption(stateDirOption())
    .addOption(logFormatOption())
    .argument('[command...]', 'the workload, after --')
    .passThroughOptions()
    .action(async (command: string[], opts: RunOptions) => {
      if (!rawArgs.includes('--')) {
        throw new UsageError('put -- before the workload: `ffrtmp run [options] -- <command> [args...]`');
      }
      const [file, ...args] = command;
      if (file === undefined) throw new UsageError('no command given after --');
      if (opts.resultFile !== undefined) checkWritableTarget(opts.resultFile);
      const governance = governanceFromFlags(opts);

      const journal = openJournal(opts.stateDir);
      const recorder = journal.recorder();
      const detach = onDetachSignals();
      try {
        const result = await run({
          command: file, args, jobId: opts.jobId, intent: opts.intent, workdir: opts.workdir, signal: detach.signal,
          governance, recorder,
        });
        process.stderr.write(`${formatSummary(result, opts.logFormat)}\n`);
        for (const line of notPersistedLines(recorder, journal, [result.job_id])) process.stderr.write(`${line}\n`);
        if (opts.json) process.stderr.write(`${resultJson(result)}\n`);
        if (result.spawn_error) process.stderr.write(`ffrtmp: cannot start ${file}: ${result.spawn_error.message}\n`);
        if (opts.resultFile !== undefined) {
          try {
            writeResultFile(opts.resultFile, result);
          } catch (err) {
            process.stderr.write(`ffrtmp: the Result was not written to ${opts.resultFile}: ${(err as Error).message}\n`);
          }
        }
        process.exitCode = runExitCode(result, detach.received());
      } finally {
        detach.dispose();
      }
    });
}

/** --result-file must be creatable before the workload starts: nothing runs if it can't be written. */
function checkWritableTarget(path: string): void {
  try {
    if (statSync(path).isDirectory()) throw new UsageError(`--result-file ${path}: is a directory`);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new UsageError(`--result-file ${path}: ${(err as Error).message}`);
  }
  try {
    accessSync(dirname(path), constants.W_OK);
  } catch (err) {
    throw new UsageError(`--result-file ${path}: directory not writable (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}
