import { Command, InvalidArgumentError } from 'commander';
import { selectObserver } from '../../observer/select';
import { recover } from '../../recover/recover';
import { DEFAULT_LISTEN, parseListen, startServer, type ServerHandle } from '../../visibility/server';
import { DEFAULT_VIOLATIONS_SIZE } from '../../visibility/violations';
import { EXIT } from '../exit-codes';
import { formatEvent, logFormatOption, openJournal, stateDirOption, type LogFormat } from '../journal-options';
import { onDetachSignals } from '../signals';
import { renderOutcome } from './recover';

function parseListenOption(value: string): string {
  try {
    parseListen(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
  return value;
}

function parseSize(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 100_000) {
    throw new InvalidArgumentError(`"${value}" is not a size (expected a whole number from 1 to 100000)`);
  }
  return Number(value);
}

/**
 * `ffrtmp serve`: the node's visibility endpoint (docs/visibility.md §4). Rebuilds the counters
 * from the journal, follows it, and at start adopts orphaned jobs (like `ffrtmp recover`) unless
 * --no-recover. SIGINT/SIGTERM/SIGHUP stop it cleanly (exit 0); adopted workloads continue and
 * stay orphans for the next recover. Lifecycle messages go to stderr.
 */
export function serveCommand(): Command {
  return new Command('serve')
    .description('serve /metrics, /violations, /health and /jobs from the journal; adopt orphaned jobs at start')
    .option('--listen <host:port>', `address to listen on (default ${DEFAULT_LISTEN})`, parseListenOption, DEFAULT_LISTEN)
    .addOption(stateDirOption())
    .option('--violations <n>', `violation samples kept (default ${DEFAULT_VIOLATIONS_SIZE})`, parseSize, DEFAULT_VIOLATIONS_SIZE)
    .option('--no-recover', 'do not adopt orphaned jobs at start')
    .addOption(logFormatOption())
    .action(async (opts: { listen: string; stateDir?: string; violations: number; recover: boolean; logFormat: LogFormat }) => {
      const fmt = opts.logFormat;
      const say = (event: string, text: string, fields: Record<string, unknown> = {}): void => {
        process.stderr.write(`${formatEvent(fmt, event, text, fields)}\n`);
      };
      const journal = openJournal(opts.stateDir);
      const observer = selectObserver();
      const detach = onDetachSignals();
      let handle: ServerHandle;
      try {
        handle = await startServer({
          stateDir: journal.dir,
          listen: opts.listen,
          observerBackend: observer.backend,
          violationsSize: opts.violations,
        });
      } catch (err) {
        detach.dispose();
        const e = err as NodeJS.ErrnoException;
        say('serve_failed', `cannot listen on ${opts.listen}: ${e.code ?? e.message}`, { listen: opts.listen, code: e.code });
        process.exitCode = EXIT.PLATFORM;
        return;
      }
      handle.on('problem', (p: { file: string; line: number; reason: string }) =>
        say('journal_problem', `journal ${p.file}:${p.line}: ${p.reason}`, { ...p }),
      );
      const writable = journal.checkWritable();
      say('serve_listening', `serve listening on ${handle.url} (journal ${journal.dir}, observer ${observer.backend})`, {
        url: handle.url,
        state_dir: journal.dir,
        observer: observer.backend,
      });
      if (!writable.writable) {
        say('journal_not_writable', `journal ${journal.dir} is not writable (${writable.error.code ?? writable.error.message}): /health says degraded`);
      }

      const recovering = opts.recover
        ? recover({
            stateDir: journal.dir,
            observer,
            signal: detach.signal,
            onAdopted: (o) => say('adopted', `adopted job ${o.job_id} (pid ${o.pid}); watching until it exits`, { job_id: o.job_id, pid: o.pid }),
            onOutcome: (o) => process.stderr.write(`${renderOutcome(o, fmt)}\n`),
          }).catch((err: unknown) => say('recover_failed', `recover failed: ${String(err)}`))
        : Promise.resolve();

      await new Promise<void>((resolve) => {
        if (detach.signal.aborted) resolve();
        else detach.signal.addEventListener('abort', () => resolve(), { once: true });
      });
      say('serve_stopping', `serve stopping (${detach.received() ?? 'signal'}); attached workloads continue`, { signal: detach.received() });
      await handle.close();
      await recovering;
      detach.dispose();
      process.exitCode = EXIT.OK;
    });
}
