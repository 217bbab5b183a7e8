/**
 * What ended jobs may still have left on the node, removed: the empty cgroup leaves of jobs the
 * journal says have ended (their wrapper could not remove a leaf while a process, say a
 * daemonised grandchild, was still inside it), and open-job entries that no longer stand for an
 * open job (the run has its Result, or never started and its wrapper is gone), and the keepers'
 * exit files of runs whose Result is written.
 *
 * Only what the journal names is touched: a leaf directory listed in an ended run's `started`
 * record (and named like that run's leaves), never a directory found by scanning. rmdir removes
 * only empty cgroups; one that still holds a process stays and is reported.
 */
import * as fs from 'node:fs';
import { JobCgroup } from '../cgroup/job';
import { listExitFiles, removeExitFile, exitFilePath } from '../journal/exits';
import { isOpen, OpenJobs } from '../journal/open-jobs';
import { readJournal } from '../journal/reader';
import type { JournalRecord, StartedJournalRecord } from '../journal/types';

export interface SweepReport {
  /** Leaf directories removed. */
  readonly leavesRemoved: number;
  /** Leaves of ended jobs that could not be removed, with why (processes remain in them). */
  readonly leavesLeft: readonly { readonly dir: string; readonly reason: string }[];
  /** Open-job entries removed because their job is not open any more. */
  readonly entriesRemoved: number;
  /**
   * Keepers' exit files removed: of runs whose Result is in the journal (a crash came between the
   * two), and of runs never recorded whose workload never started.
   */
  readonly exitFilesRemoved: number;
}

/** Sweeps `stateDir`'s ended jobs. `records`: the journal, when the caller has just read it. */
function neverStarted(file: string): boolean {
  try {
    return (JSON.parse(fs.readFileSync(file, 'utf8')) as { started?: unknown }).started === false;
  } catch {
    return false;
  }
}

export async function sweep(stateDir: string, records: readonly JournalRecord[] = readJournal(stateDir).records): Promise<SweepReport> {
  const ended = new Set<string>();
  const started = new Map<string, StartedJournalRecord>();
  for (const r of records) {
    if (r.type === 'result') ended.add(r.run_id);
    else if (r.type === 'started') started.set(r.run_id, r);
  }

  let leavesRemoved = 0;
  const leavesLeft: { dir: string; reason: string }[] = [];
  for (const [runId, s] of started) {
    if (!ended.has(runId)) continue;
    const dirs = s.leaves ?? (s.cgroup !== null ? [s.cgroup] : []);
    if (dirs.length === 0) continue;
    const job = JobCgroup.adopt({ jobId: s.job_id, runId, mode: s.mode, dirs });
    if (job.leaves.length === 0) continue; // all gone already: the usual case
    const removal = await job.remove({ attempts: 1 });
    leavesRemoved += job.leaves.length - removal.left.length;
    leavesLeft.push(...removal.left.map((l) => ({ dir: l.dir, reason: l.reason })));
  }

  let entriesRemoved = 0;
  const open = new OpenJobs(stateDir);
  for (const e of open.list()) {
    if (isOpen(e)) continue;
    if (ended.has(e.run_id) || !started.has(e.run_id)) {
      // A run whose wrapper died after creating its leaves and before its started record: the
      // claim is the only record of them.
      if (!started.has(e.run_id) && (e.leaves?.length ?? 0) > 0) {
        const removal = await JobCgroup.adopt({ jobId: e.job_id, runId: e.run_id, mode: e.mode, dirs: e.leaves! }).remove({ attempts: 1 });
        leavesRemoved += e.leaves!.length - removal.left.length;
        leavesLeft.push(...removal.left.map((l) => ({ dir: l.dir, reason: l.reason })));
        if (removal.left.length > 0) continue; // keep the entry: its leaves are still to be removed
      }
      open.release(e.run_id, e.job_id);
      entriesRemoved++;
    }
  }
  let exitFilesRemoved = 0;
  let exitFiles: Map<string, string[]>;
  try {
    exitFiles = listExitFiles(stateDir);
  } catch {
    exitFiles = new Map(); // unreadable: nothing to do now; the next sweep tries again
  }
  for (const [runId] of exitFiles) {
    // Kept while its Result is still to be written from it. One that says the workload never
    // started, of a run that was never recorded (its wrapper died before its started record), has
    // nothing to tell anyone.
    if (!ended.has(runId) && !(started.has(runId) === false && neverStarted(exitFilePath(stateDir, runId)))) continue;
    removeExitFile(exitFilePath(stateDir, runId));
    exitFilesRemoved++;
  }
  return { leavesRemoved, leavesLeft, entriesRemoved, exitFilesRemoved };
}
