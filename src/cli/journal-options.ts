import { Option } from 'commander';
import type { Result } from '../model/result';
import { summaryLine } from '../model/summary';
import { Journal, type JournalRecorder } from '../journal/journal';
import { resolveStateDir } from '../journal/state-dir';

/**
 * Options and output shared by the commands that read or write the journal: `--state-dir` and
 * `--log-format`. Pure helpers (no printing, no exiting): the commands print what these return.
 */

export function stateDirOption(): Option {
  return new Option(
    '--state-dir <dir>',
    'journal directory (default: $FFRTMP_STATE_DIR; /var/lib/ffrtmp as root; else $XDG_STATE_HOME/ffrtmp or ~/.local/state/ffrtmp)',
  );
}

/** The journal for a `--state-dir` value (or the default chain). Creates nothing yet. */
export function openJournal(flag?: string): Journal {
  return new Journal({ dir: resolveStateDir(flag !== undefined ? { explicit: flag } : {}).dir });
}

/**
 * The stderr lines saying plainly which Results were not persisted (empty when all were). The
 * summary line has been printed regardless; the workload and the exit status are unaffected.
 */
export function notPersistedLines(recorder: JournalRecorder, journal: Journal, jobIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const id of jobIds) {
    const p = recorder.persistence(id);
    if (p.result) continue;
    const why = p.error ? p.error.message : 'not written';
    out.push(`ffrtmp: the Result of job ${id} was NOT persisted to the journal in ${journal.dir} (${why})`);
  }
  return out;
}

export type LogFormat = 'text' | 'json';

export function logFormatOption(): Option {
  return new Option('--log-format <format>', 'summary line format: text (the seed line) or json (one object per job, for log shippers)')
    .choices(['text', 'json'])
    .default('text');
}

/**
 * The per-job summary: the seed's text line, or with `json` one JSON object on one line:
 * `{"event":"job_result", ...Result, "summary": "<the text line>"}`.
 */
export function formatSummary(result: Result, format: LogFormat): string {
  if (format === 'text') return summaryLine(result);
  return JSON.stringify({ event: 'job_result', ...result, summary: summaryLine(result) });
}

/** A non-job message (`serve` lifecycle, recover notes) in the chosen format. */
export function formatEvent(format: LogFormat, event: string, text: string, fields: Record<string, unknown> = {}): string {
  if (format === 'text') return `ffrtmp: ${text}`;
  return JSON.stringify({ event, message: text, ...fields });
}
