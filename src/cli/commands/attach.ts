import { Command } from 'commander';
import { lazy } from '../lazy';
import { addCgroupOptions, collect, logFormatOption, parsePid, stateDirOption } from '../options';

/**
 * `ffrtmp attach --pid <pid> [--pid <pid> ...]`: adopt running processes in one wrapper process
 * (an edge node attaches hundreds of streams). One summary line on stderr per PID as it exits
 * (and with --json one JSON line per Result on stdout); the command ends when all have.
 */
export function attachCommand(): Command {
  return addCgroupOptions(new Command('attach'))
    .description('adopt running processes, watch each until it exits, record one Result per process')
    .requiredOption('--pid <pid>', 'process to adopt (repeat for many)', parsePid)
    .option('--job-id <id>', 'job id, one per --pid in the same order (generated when absent)', collect)
    .option('--intent <intent>', 'label for the jobs, e.g. production or test')
    .option('--json', 'print each Result as one JSON line on stdout')
    .addOption(stateDirOption())
    .addOption(logFormatOption())
    .action(lazy(() => import('../actions/attach')));
}
