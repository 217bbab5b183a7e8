import { Command } from 'commander';
import { selectObserver } from '../../observer/select';
import { recover, scanOrphans, type AdoptionOutcome } from '../../recover/recover';
import { EXIT, signalExit } from '../exit-codes';
import { formatEvent, formatSummary, logFormatOption, openJournal, stateDirOption, type LogFormat } from '../journal-options';
import { onDetachSignals } from '../signals';

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

/**
 * `ffrtmp recover`: adopt the orphans in the journal (jobs whose wrapper died). Re-attaches to
 * those still running and watches them to completion; records `exit_unobserved` for those gone.
 * SIGINT/SIGTERM/SIGHUP detach (the workloads continue, and stay orphans for the next recover).
 * Exit 0 when every orphan was settled or left to its live adopter; 125 when a Result could not
 * be persisted; 128 + signal when detached.
 */
export function recoverCommand(): Command {
  return new Command('recover')
    .description('adopt orphaned jobs (wrapper crashed): re-attach if still running, else record exit_unobserved')
    .addOption(stateDirOption())
    .option('--dry-run', 'list the orphans and in-flight jobs, adopt nothing')
    .addOption(logFormatOption())
    .action(async (opts: { stateDir?: string; dryRun?: boolean; logFormat: LogFormat }) => {
      const journal = openJournal(opts.stateDir);
      const fmt = opts.logFormat;
      if (opts.dryRun) {
        const { inFlight, orphans, problems } = scanOrphans(journal.dir);
        for (const p of problems) process.stderr.write(`${formatEvent(fmt, 'journal_problem', `journal ${p.file}:${p.line}: ${p.reason}`, { ...p })}\n`);
        for (const o of orphans) process.stdout.write(`orphan   ${o.job_id} pid=${o.pid} mode=${o.mode} started=${o.start_time}\n`);
        for (const o of inFlight) process.stdout.write(`running  ${o.job_id} pid=${o.pid} mode=${o.mode} wrapper=${o.wrapper.pid}\n`);
        if (orphans.length === 0 && inFlight.length === 0) process.stdout.write('no unfinished jobs\n');
        return;
      }
      const detach = onDetachSignals();
      try {
        const report = await recover({
          stateDir: journal.dir,
          observer: selectObserver(),
          signal: detach.signal,
          onAdopted: (o) =>
            process.stderr.write(`${formatEvent(fmt, 'adopted', `adopted job ${o.job_id} (pid ${o.pid}); watching until it exits`, { job_id: o.job_id, pid: o.pid })}\n`),
          onOutcome: (o) => process.stderr.write(`${renderOutcome(o, fmt)}\n`),
        });
        for (const p of report.problems) {
          process.stderr.write(`${formatEvent(fmt, 'journal_problem', `journal ${p.file}:${p.line}: ${p.reason}`, { ...p })}\n`);
        }
        if (report.outcomes.length === 0) {
          process.stderr.write(`${formatEvent(fmt, 'recover_done', `no orphaned jobs in ${journal.dir}${report.inFlight.length ? ` (${report.inFlight.length} running under a live wrapper)` : ''}`)}\n`);
        }
        const received = detach.received();
        if (received !== undefined) process.exitCode = signalExit(received);
        else if (report.outcomes.some((o) => o.kind === 'not_persisted')) process.exitCode = EXIT.PLATFORM;
        else process.exitCode = EXIT.OK;
      } finally {
        detach.dispose();
      }
    });
}
