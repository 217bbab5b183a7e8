import { Command } from 'commander';
import { lazy } from '../lazy';
import { logFormatOption, stateDirOption } from '../options';

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
    .action(lazy(() => import('../actions/recover')));
}
