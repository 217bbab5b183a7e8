import { Command } from 'commander';
import { lazy } from '../lazy';

/** `ffrtmp doctor`: one screen; the exit status says whether the node is fully capable. */
export function doctorCommand(): Command {
  return new Command('doctor')
    .description('show what this host and build can do, and what each missing piece costs')
    .option('--json', 'print the diagnosis as JSON')
    .action(lazy(() => import('../actions/doctor')));
}
