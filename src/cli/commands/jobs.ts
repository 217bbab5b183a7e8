import { Command } from 'commander';
import { UsageError } from '../../model/errors';
import { quote } from '../../model/quote';
import { lazy } from '../lazy';
import { stateDirOption, wholeNumber } from '../options';

export const JOBS_DEFAULT_LIMIT = 20;
const JOBS_MAX_LIMIT = 100_000;

/** `--since`: an ISO 8601 time, or a duration back from now (`90s`, `30m`, `6h`, `2d`). */
export function parseSince(value: string, now: number = Date.now()): number {
  const rel = /^(\d+)([smhd])$/.exec(value);
  if (rel) return now - Number(rel[1]) * { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 }[rel[2] as 's' | 'm' | 'h' | 'd'];
  const t = /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : NaN;
  if (Number.isNaN(t)) throw new UsageError(`--since ${quote(value)} is not a time (expected ISO 8601 like 2026-11-22T01:00Z, or 90s, 30m, 6h, 2d)`);
  return t;
}

/**
 * `ffrtmp jobs [--limit N] [--json] [filters]` and `ffrtmp jobs show <job-id>`: read the journal.
 * A missing journal is an empty one. Journal problems (torn lines) are reported on stderr.
 */
/** The listing's options: on `jobs` itself (so `ffrtmp jobs --help` shows them) and its old `list` alias. */
function listing(cmd: Command): Command {
  return cmd
    .addOption(stateDirOption())
    .option('--limit <n>', 'how many Results', wholeNumber('--limit', 'a limit', 1, JOBS_MAX_LIMIT), JOBS_DEFAULT_LIMIT)
    .option('--violations', 'only Results that are platform violations')
    .option('--intent <intent>', 'only jobs with this intent')
    .option('--since <time>', 'only jobs that ended (or started, while open) since: ISO 8601, or 90s / 30m / 6h / 2d ago', (v: string) => parseSince(v))
    .option('--json', 'print a JSON array of the Results (open jobs are not Results: not included)')
    .action(lazy(async () => ({ action: (await import('../actions/jobs')).listAction })));
}

export function jobsCommand(): Command {
  const jobs = listing(
    new Command('jobs').description('jobs still open (running, detached, orphaned), then recent Results, newest first; `jobs show <id>` for one job'),
  ).enablePositionalOptions(); // `jobs list --limit 1`: the option is the subcommand's
  jobs.addCommand(listing(new Command('list').description('the same as `ffrtmp jobs`')), { hidden: true });
  jobs
    .command('show')
    .description('one job: its Result as JSON (the latest, if the id was reused), or how it stands while open')
    .argument('<job-id>')
    .addOption(stateDirOption())
    .action(lazy(async () => ({ action: (await import('../actions/jobs')).showAction })));
  return jobs;
}
