import { selectObserver } from '../../observer/select';
import { Custodian } from '../../recover/custodian';
import { startServer, type ServerHandle } from '../../visibility/server';
import { serveExitCode } from '../exit-codes';
import { openJournal } from '../journal';
import type { LogFormat } from '../options';
import { formatEvent } from '../output';
import { onDetachSignals } from '../signals';
import type { JournalRecord } from '../../journal/types';
import { renderOutcome, sweptLine } from './recover';
import { stderr } from '../stdio';

export async function action(opts: { listen: string; stateDir?: string; violations: number; recover: boolean; logFormat: LogFormat }): Promise<number> {
  const fmt = opts.logFormat;
  const say = (event: string, text: string, fields: Record<string, unknown> = {}): void => {
    stderr.write(`${formatEvent(fmt, event, text, fields)}\n`);
  };
  const journal = openJournal(opts.stateDir, 'read'); // an unwritable one is served as "degraded"
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
    return serveExitCode('listen_failed');
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

  // Adoption, continuously: orphans now, and every job whose wrapper ends or lets go later.
  const custodian = opts.recover
    ? new Custodian({
        stateDir: journal.dir,
        observer,
        syncJournal: () => handle.sync(),
        onAdopted: (o) => say('adopted', `adopted job ${o.job_id} (pid ${o.pid}); watching until it exits`, { job_id: o.job_id, pid: o.pid }),
        onOutcome: (o) => stderr.write(`${renderOutcome(o, fmt)}\n`),
        onSwept: (report) => {
          const line = sweptLine(report, fmt);
          if (line !== null) stderr.write(`${line}\n`);
        },
        onError: (err: unknown) => say('recover_failed', `adoption failed: ${String(err)}`),
      })
    : null;
  if (custodian !== null) {
    handle.on('record', (r: JournalRecord) => custodian.onRecord(r));
    void custodian.start();
  }

  await new Promise<void>((resolve) => {
    if (detach.signal.aborted) resolve();
    else detach.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  say('serve_stopping', `serve stopping (${detach.received() ?? 'signal'}); attached workloads continue`, { signal: detach.received() });
  await handle.close();
  await custodian?.close();
  detach.dispose();
  return serveExitCode('stopped');
}
