import { selectObserver } from '../../observer/select';
import { recover, scanOrphans, type AdoptionOutcome } from '../../recover/recover';
import type { SweepReport } from '../../recover/sweep';
import { recoverExitCode } from '../exit-codes';
import { openJournal } from '../journal';
import type { LogFormat } from '../options';
import { formatEvent, formatSummary } from '../output';
import { onDetachSignals } from '../signals';
import { stderr, stdout } from '../stdio';

/** One stderr line per settled orphan (the summary line when a Result was written). */
export function renderOutcome(o: AdoptionOutcome, format: LogFormat): string {
  switch (o.kind) {
    case 'observed':
      return formatSummary(o.result, format);
    case 'unobserved':
      return formatSummary(o.result, format);
    case 'not_persisted':
      return [
        formatSummary(o.result, format),
        formatEvent(format, 'not_persisted', `the Result of job ${o.orphan.job_id} was NOT persisted: ${o.error.code ?? o.error.op}: ${o.error.message}`, {
          job_id: o.orphan.job_id,
        }),
      ].join('\n');
    case 'skipped':
      return formatEvent(format, 'adoption_skipped', `job ${o.orphan.job_id} not adopted: ${o.why}${o.detail ? ` (${o.detail})` : ''}`, {
        job_id: o.orphan.job_id,
        why: o.why,
      });
  }
}

/** What a sweep removed or could not remove, as one line (null when there was nothing to do). */
export function sweptLine(swept: SweepReport | null, format: LogFormat): string | null {
  if (swept === null || (swept.leavesRemoved === 0 && swept.leavesLeft.length === 0)) return null;
  const left = swept.leavesLeft.length > 0 ? `; ${swept.leavesLeft.length} still hold processes: ${swept.leavesLeft.slice(0, 3).map((l) => l.dir).join(', ')}${swept.leavesLeft.length > 3 ? ', ...' : ''}` : '';
  return formatEvent(format, 'swept', `removed ${swept.leavesRemoved} empty cgroup leaves of ended jobs${left}`, { removed: swept.leavesRemoved, left: swept.leavesLeft });
}

export async function action(opts: { stateDir?: string; dryRun?: boolean; logFormat: LogFormat }): Promise<number> {
  const journal = openJournal(opts.stateDir, opts.dryRun ? 'read' : 'write');
  const fmt = opts.logFormat;
  if (opts.dryRun) {
    const { inFlight, orphans, problems } = scanOrphans(journal.dir);
    for (const p of problems) stderr.write(`${formatEvent(fmt, 'journal_problem', `journal ${p.file}:${p.line}: ${p.reason}`, { ...p })}\n`);
    for (const o of orphans) stdout.write(`orphan   ${o.job_id} pid=${o.pid} mode=${o.mode} started=${o.start_time}\n`);
    for (const o of inFlight) stdout.write(`running  ${o.job_id} pid=${o.pid} mode=${o.mode} wrapper=${o.wrapper.pid}\n`);
    if (orphans.length === 0 && inFlight.length === 0) stdout.write('no unfinished jobs\n');
    return 0;
  }
  const detach = onDetachSignals();
  try {
    const report = await recover({
      stateDir: journal.dir,
      observer: selectObserver(),
      signal: detach.signal,
      onAdopted: (o) =>
        stderr.write(`${formatEvent(fmt, 'adopted', `adopted job ${o.job_id} (pid ${o.pid}); watching until it exits`, { job_id: o.job_id, pid: o.pid })}\n`),
      onOutcome: (o) => stderr.write(`${renderOutcome(o, fmt)}\n`),
    });
    for (const p of report.problems) {
      stderr.write(`${formatEvent(fmt, 'journal_problem', `journal ${p.file}:${p.line}: ${p.reason}`, { ...p })}\n`);
    }
    const swept = sweptLine(report.swept, fmt);
    if (swept !== null) stderr.write(`${swept}\n`);
    if (report.outcomes.length === 0) {
      stderr.write(`${formatEvent(fmt, 'recover_done', `no orphaned jobs in ${journal.dir}${report.inFlight.length ? ` (${report.inFlight.length} running under a live wrapper)` : ''}`)}\n`);
    }
    return recoverExitCode(report, detach.received());
  } finally {
    detach.dispose();
  }
}
