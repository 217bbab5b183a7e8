import { attach, validateAttachSpec } from '../../core/attach';
import { attachExitCode } from '../exit-codes';
import { notPersistedLines, openJournal } from '../journal';
import { governanceFromFlags, limitWarningLines } from '../limits';
import type { CgroupFlagValues, LogFormat } from '../options';
import { formatSummary, resultJson } from '../output';
import { onDetachSignals } from '../signals';

export interface AttachOptions extends CgroupFlagValues {
  pid: number[];
  jobId?: string[];
  intent?: string;
  json?: boolean;
  stateDir?: string;
  logFormat: LogFormat;
}

export async function action(opts: AttachOptions): Promise<number> {
  const governance = governanceFromFlags(opts);
  // Everything the user typed is checked before the state dir is probed or a warning printed
  // (attach() checks again; nothing is opened before it).
  validateAttachSpec({ pids: opts.pid, jobIds: opts.jobId, intent: opts.intent, governance });
  const journal = openJournal(opts.stateDir, 'write');
  for (const line of limitWarningLines(governance)) process.stderr.write(`${line}\n`);
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
    return attachExitCode(results, detach.received());
  } finally {
    detach.dispose();
  }
}
