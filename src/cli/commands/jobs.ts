import { Command } from 'commander';
import { lazy } from '../lazy';
import { stateDirOption, wholeNumber } from '../options';

export const JOBS_DEFAULT_LIMIT = 20;
const JOBS_MAX_LIMIT = 100_000;

/**
 * `ffrtmp jobs [--limit N] [--json]` and `ffrtmp jobs show <job-id>`: read the journal. A
 * missing journal is an empty one. Journal problems (torn lines) are reported on stderr.
 */
export function jobsCommand(): Command {
  const jobs = new Command('jobs').description('list recent job Results from the journal; `jobs show <id>` for one job');

  jobs
    .command('list', { isDefault: true })
    .description('recent Results, newest first (the default: `ffrtmp jobs --limit 5`)')
    .addOption(stateDirOption())
    .option('--limit <n>', 'how many', wholeNumber('--limit', 'a limit', 1, JOBS_MAX_LIMIT), JOBS_DEFAULT_LIMIT)
    .option('--json', 'print a JSON array of Results')
    .action(lazy(async () => ({ action: (await import('../actions/jobs')).listAction })));

  jobs
    .command('show')
    .description('the Result of one job (the latest, if the id was reused), as JSON')
    .argument('<job-id>')
    .addOption(stateDirOption())
    .action(lazy(async () => ({ action: (await import('../actions/jobs')).showAction })));

  return jobs;
}
