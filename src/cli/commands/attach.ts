import { Command } from 'commander';
import { attach } from '../../core/attach';
import { addCgroupOptions, governanceFromFlags, type CgroupFlagValues } from '../cgroup-options';
import { attachExitCode } from '../exit-codes';
import { collect, parsePid } from '../options';
import { formatSummary, logFormatOption, notPersistedLines, openJournal, stateDirOption, type LogFormat } from '../journal-options';
import { resultJson } from '../render';
import { onDetachSignals } from '../signals';

interface AttachOptions extends CgroupFlagValues {
  pid: number[];
  jobId?: string[];
  intent?: string;
  json?: boolean;
  stateDir?: string;
  logFormat: LogFormat;
}

/**
 * `ffrtmp attach --pid <pid> [--pid <pid> ...]`: adopt running processes in one wrapper process
 * (an edge node attaches hundreds of streams). One summary line on stderr per PID as it exits
 * (and with --json one JSON line per Result on stdout); the command ends when all have.
 */
export function attachCommand(): Command {
  return addCgroupOptions(new Command('attach'))
    .description('adopt running processes, watch each until it exits, record one Result per process')
    .requiredOption('--pid <pid>', 'process to adopt (repeat for many)', parsePid)
    .option('--job-id <id>', 'job id, one per --pid in the same order (generated when absent)', collect)
    .option('--intent <intent>', 'label for the jobs, e.g. production or test')
    .option('--json', 'print each Result as one JSON line on stdout')
    .addOption(stateDirOption())
    .addOption(logFormatOption())
    .action(async (opts: AttachOptions) => {
      const governance = governanceFromFlags(opts);
      const journal = openJournal(opts.stateDir);
      const recorder = journal.recorder();
      const detach = onDetachSignals();
      try {
        const results = await attach({
          pids: opts.pid,
          jobIds: opts.jobId,
          intent: opts.intent,
          signal: detach.signal,
          governance,
          recorder,
          onResult: (r) => {
            process.stderr.write(`${formatSummary(r, opts.logFormat)}\n`);
            for (const line of notPersistedLines(recorder, journal, [r.job_id])) process.stderr.write(`${line}\n`);
            if (opts.json) process.stdout.write(`${resultJson(r)}\n`);
          },
        });
        process.exitCode = attachExitCode(results, detach.received());
      } finally {
        detach.dispose();
      }
    });
}
