/** The journal a command works with (loaded by the actions, not by the definitions). */
import { Journal, type JournalRecorder } from '../journal/journal';
import { resolveStateDir } from '../journal/state-dir';

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
