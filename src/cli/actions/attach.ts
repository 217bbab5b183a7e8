import { attach, validateAttachSpec } from '../../core/attach';
import { attachExitCode } from '../exit-codes';
import { notPersistedLines, openJournal } from '../journal';
import { governanceFromFlags, limitWarningLines } from '../limits';
import type { CgroupFlagValues, LogFormat } from '../options';
import type { StartedRecord } from '../../journal/types';
import { detachNote, formatSummary, movedNote, resultJson } from '../output';
import { onDetachSignals } from '../signals';
import { stderr, stdout } from '../stdio';

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
  for (const line of limitWarningLines(governance)) stderr.write(`${line}\n`);
  const recorder = journal.recorder();
  const detach = onDetachSignals();
  const started: StartedRecord[] = [];
  let detached = 0;
  try {
    const results = await attach({
      pids: opts.pid,
      jobIds: opts.jobId,
      intent: opts.intent,
      signal: detach.signal,
      governance,
      recorder,
      onStarted: (s) => {
        started.push(s);
        if (started.length !== opts.pid.length) return;
        const note = movedNote(started);
        if (note !== null) stderr.write(`${note}\n`);
      },
      onResult: (r) => {
        stderr.write(`${formatSummary(r, opts.logFormat)}\n`);
        for (const line of notPersistedLines(recorder, journal, [r.job_id])) stderr.write(`${line}\n`);
        if (opts.json) stdout.write(`${resultJson(r)}\n`);
      },
      // The detach line of each job; no JSON Result: the job is not over (docs/results.md).
      onDetached: (r) => {
        detached++;
        stderr.write(`${formatSummary(r, opts.logFormat)}\n`);
      },
    });
    if (detached > 0) stderr.write(`${detachNote(detached)}\n`);
    return attachExitCode(results, detach.received());
  } finally {
    detach.dispose();
  }
}
