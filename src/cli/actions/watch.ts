import { availableParallelism } from 'node:os';
import { limitWarnings } from '../../cgroup/limits';
import { describeConfigChange, formatDuration, loadWatchConfig, mergeFlags, parseIntervalFlag, type WatchFlags } from '../../watch/config';
import type { OpenEvents, WatchEvent } from '../../watch/daemon';
import type { WatchServer } from '../../watch/server';
import { DEFAULT_WATCH_CONFIG, type WatchConfig } from '../../watch/types';
import { watchExitCode } from '../exit-codes';
import { governanceFromFlags } from '../limits';
import type { CgroupFlagValues, LogFormat } from '../options';
import { formatEvent, formatSummary } from '../output';
import { onDetachSignals } from '../signals';
import { stderr, stdout } from '../stdio';

export interface WatchOptions extends CgroupFlagValues {
  watchConfig?: string;
  checkConfig?: string;
  target?: string[];
  discovery?: 'auto' | 'events' | 'scan';
  scanInterval?: string;
  reconcileInterval?: string;
  eventBuffer: number;
  intent?: string;
  listen: string | false;
  stateDir?: string;
  logFormat: LogFormat;
  logLevel: 'info' | 'debug';
}

/** The flags as settings (validated: UsageError). */
function flagsOf(opts: WatchOptions): WatchFlags {
  const limitFlags = opts.cpuMax !== undefined || opts.cpuQuota !== undefined || opts.cpuWeight !== undefined || opts.memoryMax !== undefined || (opts.ioMax?.length ?? 0) > 0;
  return {
    ...(opts.target !== undefined ? { targets: opts.target } : {}),
    ...(opts.discovery !== undefined ? { discovery: opts.discovery } : {}),
    ...(opts.scanInterval !== undefined ? { scanIntervalMs: parseIntervalFlag('--scan-interval', opts.scanInterval) } : {}),
    ...(opts.reconcileInterval !== undefined ? { reconcileIntervalMs: parseIntervalFlag('--reconcile-interval', opts.reconcileInterval) } : {}),
    ...(limitFlags ? { defaultLimits: governanceFromFlags(opts).limits ?? {} } : {}),
  };
}

function settingsOf(opts: WatchOptions, flags: WatchFlags): WatchConfig {
  const base = opts.watchConfig !== undefined ? loadWatchConfig(opts.watchConfig) : DEFAULT_WATCH_CONFIG;
  return mergeFlags(base, flags);
}

/** One line per setting, for --check-config and the start line. */
function settingsLines(c: WatchConfig): string[] {
  return describeConfigChange(DEFAULT_WATCH_CONFIG, c);
}

export async function action(opts: WatchOptions): Promise<number> {
  const fmt = opts.logFormat;
  const say = (event: string, text: string, fields: Record<string, unknown> = {}): void => {
    stderr.write(`${formatEvent(fmt, event, text, fields)}\n`);
  };
  if (opts.checkConfig !== undefined) {
    const c = loadWatchConfig(opts.checkConfig);
    const lines = settingsLines(c);
    stdout.write(`${opts.checkConfig}: valid${lines.length === 0 ? ' (every setting at its default)' : ''}\n${lines.map((l) => `  ${l}\n`).join('')}`);
    return 0;
  }
  const flags = flagsOf(opts);
  let config = settingsOf(opts, flags);
  // The daemon's code is loaded only now (--check-config loads the settings loader alone).
  const [{ selectObserver }, { openProcEvents }, { recover }, { WatchDaemon }, { watchHealth }, { WatchMetrics }, { startWatchServer }, { openJournal }, { renderOutcome, sweptLine }] = await Promise.all([
    import('../../observer/select'),
    import('../../native/proc-events'),
    import('../../recover/recover'),
    import('../../watch/daemon'),
    import('../../watch/health'),
    import('../../watch/metrics'),
    import('../../watch/server'),
    import('../journal'),
    import('./recover'),
  ]);
  const cgroupRoot = opts.cgroupRoot;
  const journal = openJournal(opts.stateDir, 'write');
  const recorder = journal.recorder();
  const observer = selectObserver();
  for (const w of [config.defaultLimits, ...Object.values(config.commands).map((c) => c.limits ?? {})].flatMap((l) => limitWarnings(l, availableParallelism()))) {
    say('limit_warning', `warning: ${w}`);
  }

  const debug = opts.logLevel === 'debug';
  const onEvent = (e: WatchEvent): void => {
    switch (e.kind) {
      case 'governed': {
        const where = e.started.cgroup ? ` in ${e.started.cgroup}` : ' (observed only: no limits)';
        say('governed', `governing pid ${e.pid} (${e.command}) as job ${e.started.job_id}${where}; found by ${e.path} in ${e.latencyMs.toFixed(1)} ms`, {
          pid: e.pid, command: e.command, job_id: e.started.job_id, path: e.path, latency_ms: Number(e.latencyMs.toFixed(3)), cgroup: e.started.cgroup,
        });
        return;
      }
      case 'ended':
      case 'detached':
        stderr.write(`${formatSummary(e.result, fmt)}\n`);
        return;
      case 'skipped':
        if (debug) say('skipped', `left pid ${e.pid}${e.command ? ` (${e.command})` : ''} alone: ${e.why}: ${e.detail}`, { pid: e.pid, command: e.command, why: e.why, detail: e.detail });
        return;
      case 'attach_failed':
        say('attach_failed', `could not govern pid ${e.pid} (${e.command}): ${e.message}`, { pid: e.pid, command: e.command, reason: e.reason });
        return;
      case 'overrun':
        say('overrun', `the process connector overran (${e.count}): exec events were lost; rescanning /proc`, { count: e.count });
        return;
      case 'scanned':
        if (e.path === 'reconcile' && e.found > 0) say('reconciled', `a /proc scan found ${e.found} process(es) the events missed`, { found: e.found });
        else if (debug) say('scanned', `${e.path} of /proc: ${e.found} new, ${e.durationMs.toFixed(1)} ms`, { path: e.path, found: e.found, duration_ms: e.durationMs });
        return;
      case 'discovery_failed':
        say('discovery_failed', e.message);
        return;
    }
  };

  const openEvents: OpenEvents = (targets, onBatch) =>
    openProcEvents({ targets, rcvbufBytes: opts.eventBuffer, kernelFilter: true }, (b) =>
      onBatch({
        execs: b.execs,
        overruns: b.overruns,
        received: b.received,
        filtered: b.filtered,
        ...(b.error !== undefined ? { error: { code: b.error.code, message: b.error.message } } : {}),
      }),
    );
  const daemon = new WatchDaemon({
    config,
    observer,
    recorder,
    governance: cgroupRoot !== undefined ? { cgroupRoot } : {},
    ...(opts.intent !== undefined ? { intent: opts.intent } : {}),
    openEvents,
    onEvent,
  });
  const metrics = new WatchMetrics(daemon);
  const detach = onDetachSignals(['SIGINT', 'SIGTERM']);

  // What a previous watch (or a dead wrapper) left open is adopted first: those processes are
  // governed again, and the daemon, seeing them open in the journal, never attaches them twice.
  const adoption = recover({
    stateDir: journal.dir,
    observer,
    signal: detach.signal,
    onAdopted: (o) => {
      daemon.adopted(1);
      say('adopted', `adopted job ${o.job_id} (pid ${o.pid}) left open by an earlier wrapper; watching until it exits`, { job_id: o.job_id, pid: o.pid });
    },
    onOutcome: (o) => {
      if (o.kind === 'observed') daemon.adopted(-1);
      stderr.write(`${renderOutcome(o, fmt)}\n`);
    },
  }).then(
    (report) => {
      const line = report.swept === null ? null : sweptLine(report.swept, fmt);
      if (line !== null) stderr.write(`${line}\n`);
    },
    (err: unknown) => say('recover_failed', `adopting earlier jobs failed: ${String(err)}`),
  );

  let server: WatchServer | null = null;
  try {
    const d = await daemon.start();
    if (opts.listen !== false) {
      server = await startWatchServer(
        opts.listen,
        () => {
          const w = journal.checkWritable();
          return watchHealth(daemon.stats, daemon.discoveryState, daemon.currentConfig, w.writable ? { writable: true } : { writable: false, error: `${w.error.code ?? w.error.op}: ${w.error.message}` });
        },
        metrics,
      );
    }
    const how = d.mode === 'events'
      ? `events (process connector${d.kernelFilter ? ', filtered in the kernel' : ''}, ${d.rcvbufBytes} B buffer; reconciliation every ${formatDuration(config.reconcileIntervalMs)})`
      : `a /proc scan every ${formatDuration(config.scanIntervalMs)}${d.fallbackWhy !== null ? ` (the process connector cannot be used: ${d.fallbackWhy})` : ''}`;
    say('watch_started', `watch started: targets ${config.targets.join(', ')}; discovery by ${how}${server ? `; /health and /metrics on ${server.url}` : ''}; journal ${journal.dir}`, {
      targets: config.targets, discovery: d.mode, requested: d.requested, fallback_reason: d.fallbackWhy, kernel_filter: d.kernelFilter, url: server?.url ?? null, state_dir: journal.dir,
    });
  } catch (err) {
    await daemon.stop('start_failed');
    detach.dispose();
    await adoption;
    const e = err as NodeJS.ErrnoException;
    if (e.syscall === 'listen') {
      say('watch_failed', `cannot listen on ${opts.listen}: ${e.code ?? e.message}`);
    } else {
      say('watch_failed', `watch cannot start: ${e.message}${config.discovery === 'events' ? ' (--discovery events requires the process connector; auto falls back to a /proc scan)' : ''}`);
    }
    return watchExitCode('start_failed');
  }

  // SIGHUP: read the settings again; a bad file keeps the current settings (said once).
  const onHup = (): void => {
    let next: WatchConfig;
    try {
      next = settingsOf(opts, flags);
    } catch (err) {
      say('reload_failed', `reload refused, settings unchanged: ${(err as Error).message}`);
      return;
    }
    const changes = describeConfigChange(config, next);
    config = next;
    daemon.reload(next);
    say('reloaded', changes.length === 0 ? 'settings reloaded: nothing changed' : `settings reloaded: ${changes.join('; ')}`, { changes });
  };
  process.on('SIGHUP', onHup);

  await new Promise<void>((resolve) => {
    if (detach.signal.aborted) resolve();
    else detach.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  process.off('SIGHUP', onHup);
  const governed = daemon.stats.governedNow;
  say('watch_stopping', `watch stopping (${detach.received() ?? 'signal'}): ${governed} governed workload(s) continue, detached for the next watch or recover`, { signal: detach.received(), governed });
  await daemon.stop(detach.received() ?? 'stop');
  await adoption;
  await server?.close();
  detach.dispose();
  return watchExitCode('stopped');
}
