import { hostname } from 'node:os';
import type { AgentEvent } from '../../agent/agent';
import { legacyLine, isLegacy } from '../../agent/outcome';
import { redactUrl, validateQueueName, validateRedisUrl } from '../../agent/redis';
import { validateJobId } from '../../model/job-id';
import { UsageError } from '../../model/errors';
import { quote } from '../../model/quote';
import { summaryLine } from '../../model/summary';
import { agentExitCode } from '../exit-codes';
import { openJournal } from '../journal';
import type { LogFormat } from '../options';
import { formatEvent } from '../output';
import { onDetachSignals } from '../signals';
import { stderr } from '../stdio';

export interface AgentCliOptions {
  redis?: string;
  queue?: string[];
  concurrency: number;
  workerId?: string;
  /** `h264,nvenc`: each adds `<queue>-<capability>` for every queue. */
  capabilities?: string;
  stateDir?: string;
  lockDuration: number;
  stalledInterval: number;
  /** undefined: neither --wrapper nor --no-wrapper (then WRAPPER_ENABLED, default true). */
  wrapper?: boolean;
  cgroupRoot?: string;
  /** `--listen HOST:PORT`, or false (`--no-listen`). */
  listen: string | false;
  logFormat: LogFormat;
}

/** WRAPPER_ENABLED as a systemd EnvironmentFile writes it. Throws UsageError. */
export function envSwitch(name: string, value: string | undefined): boolean | undefined {
  if (value === undefined || value === '') return undefined;
  if (/^(1|true|yes|on)$/i.test(value)) return true;
  if (/^(0|false|no|off)$/i.test(value)) return false;
  throw new UsageError(`${name}=${quote(value)}: expected true or false`);
}

/**
 * `--capabilities h264,nvenc` → `[h264, nvenc]`. Routing is by queue (docs/agent.md
 * "Capabilities"): each capability adds `<queue>-<capability>` for every `--queue`, so a job that
 * needs NVENC is put on `transcode-nvenc` and only nodes that said `nvenc` ever fetch it. Throws UsageError.
 */
export function parseCapabilities(value: string | undefined): string[] {
  const caps = [...new Set((value ?? '').split(',').map((c) => c.trim()).filter((c) => c !== ''))];
  for (const c of caps) {
    if (!/^[A-Za-z0-9._+]{1,64}$/.test(c)) throw new UsageError(`--capabilities (CAPABILITIES): ${quote(c)} is not a capability name: letters, digits and . _ +`);
  }
  return caps;
}

/** The queues an agent consumes: each --queue, then `<queue>-<capability>` for each capability. */
export function capabilityQueues(queues: readonly string[], caps: readonly string[]): string[] {
  return [...new Set([...queues, ...queues.flatMap((q) => caps.map((c) => `${q}-${c}`))])];
}

function settings(opts: AgentCliOptions): { redis: string; queues: string[]; capabilities: string[]; workerId: string; wrapperAllowed: boolean } {
  if (opts.redis === undefined || opts.redis === '') throw new UsageError('give the Redis URL: --redis redis://host:port (or REDIS_URL)');
  const redis = validateRedisUrl(opts.redis, '--redis (REDIS_URL)');
  const queues = [...new Set((opts.queue ?? []).filter((q) => q !== ''))];
  if (queues.length === 0) throw new UsageError('give at least one queue: --queue NAME (or QUEUES=a,b)');
  for (const q of queues) validateQueueName(q, '--queue (QUEUES)');
  const capabilities = parseCapabilities(opts.capabilities);
  const all = capabilityQueues(queues, capabilities);
  for (const q of all) validateQueueName(q, '--queue with --capabilities');
  const workerId = opts.workerId ?? hostname();
  try {
    validateJobId(workerId); // the same boring alphabet: it lands in tokens, logs and dashboards
  } catch {
    throw new UsageError(`--worker-id (WORKER_ID) ${quote(workerId)} is not allowed: use letters, digits and . _ - : @ +`);
  }
  const wrapperAllowed = opts.wrapper ?? envSwitch('WRAPPER_ENABLED', process.env.WRAPPER_ENABLED) ?? true;
  return { redis, queues: all, capabilities, workerId, wrapperAllowed };
}

export async function action(opts: AgentCliOptions): Promise<number> {
  const fmt = opts.logFormat;
  const say = (event: string, text: string, fields: Record<string, unknown> = {}): void => {
    stderr.write(`${formatEvent(fmt, event, text, fields)}\n`);
  };
  const s = settings(opts);
  const journal = openJournal(opts.stateDir, 'write');
  // The queue client and the daemon's code are loaded only now.
  const [{ Agent }, { selectObserver }, { recover }, { renderOutcome, sweptLine }, endpoint, { VisibilityState }, { JournalFollower }] = await Promise.all([
    import('../../agent/agent'),
    import('../../observer/select'),
    import('../../recover/recover'),
    import('./recover'),
    import('../../agent/endpoint'),
    import('../../visibility/server'),
    import('../../journal/follower'),
  ]);
  const observer = selectObserver();
  const where = (e: { queue: string; queue_job_id: string }): string => `queue ${e.queue} #${e.queue_job_id}`;

  const onEvent = (e: AgentEvent): void => {
    switch (e.kind) {
      case 'taken':
        return;
      case 'finished': {
        const line = isLegacy(e.outcome) ? legacyLine(e.outcome) : summaryLine(e.outcome);
        if (fmt === 'json') {
          stderr.write(`${JSON.stringify({ event: 'job_result', ...e.outcome, summary: line, queue: e.queue, queue_job_id: e.queue_job_id, queue_state: e.queue_state, adopted: e.adopted })}\n`);
        } else {
          stderr.write(`${line}\n`);
        }
        if (e.queue_state === 'attached') {
          say('result_attached', `job ${e.job_id} (${where(e)}): the queue had failed it meanwhile (its lock was lost); its Result is attached to the job's logs`, { job_id: e.job_id, queue: e.queue, queue_job_id: e.queue_job_id });
        } else if (e.queue_state === 'gone') {
          say('queue_job_gone', `job ${e.job_id} (${where(e)}): the queue job no longer exists; its end is in the journal only`, { job_id: e.job_id, queue: e.queue, queue_job_id: e.queue_job_id });
        }
        return;
      }
      case 'refused':
        say('job_refused', `${where(e)} failed, nothing started: ${e.reason}`, { queue: e.queue, queue_job_id: e.queue_job_id, reason: e.reason });
        return;
      case 'failed_unstarted':
        say('job_failed', `job ${e.job_id} (${where(e)}) failed: ${e.reason}`, { job_id: e.job_id, queue: e.queue, queue_job_id: e.queue_job_id, reason: e.reason, queue_state: e.queue_state });
        return;
      case 'detached':
        return; // counted in the stopping line
      case 'adopted': {
        const lock =
          e.lock === 'retaken'
            ? 'its queue lock re-taken'
            : e.lock === 'lost'
              ? 'its queue lock had expired (the queue fails it as stalled; its Result will be attached to it)'
              : 'the queue job no longer exists';
        const what = e.path === 'wrapper' ? (e.run_id !== null ? `run ${e.run_id}` : 'its run') : e.pid !== null ? `pid ${e.pid}` : 'not started';
        say('job_taken_back', `took back job ${e.job_id} (${where(e)}, ${e.path} path, ${what}) from an earlier agent: ${lock}`, { job_id: e.job_id, queue: e.queue, queue_job_id: e.queue_job_id, path: e.path, lock: e.lock, run_id: e.run_id, pid: e.pid });
        return;
      }
      case 'lock_lost':
        say('lock_lost', `job ${e.job_id} (${where(e)}): the queue lock could not be renewed; the queue will fail it as stalled, the workload continues and its Result will be attached`, { job_id: e.job_id, queue: e.queue, queue_job_id: e.queue_job_id });
        return;
      case 'redis':
        say(e.state === 'up' ? 'redis_up' : 'redis_down', e.detail, { state: e.state });
        return;
      case 'problem':
        say('agent_problem', e.message);
        return;
    }
  };

  const agent = new Agent({
    redisUrl: s.redis,
    queues: s.queues,
    concurrency: opts.concurrency,
    workerId: s.workerId,
    stateDir: journal.dir,
    lockDurationMs: opts.lockDuration,
    stalledIntervalMs: opts.stalledInterval,
    wrapperAllowed: s.wrapperAllowed,
    observer,
    ...(opts.cgroupRoot !== undefined ? { cgroupRoot: opts.cgroupRoot } : {}),
    onEvent,
  });

  // The state dir first (a second agent on it is told so, not that the port is taken), then the
  // endpoint: the journal's job counters as `serve` derives them, plus the agent's own.
  agent.claim();
  let server: Awaited<ReturnType<typeof endpoint.startAgentServer>> | null = null;
  let follower: InstanceType<typeof JournalFollower> | null = null;
  if (opts.listen !== false) {
    const visibility = new VisibilityState();
    const f = new JournalFollower({
      dir: journal.dir,
      onRecord: (r) => visibility.applyRecord(r),
      onProblem: (p) => say('journal_problem', `journal ${p.file}:${p.line}: ${p.reason}`, { ...p }),
    });
    const agentMetrics = new endpoint.AgentMetrics(agent);
    try {
      server = await endpoint.startAgentServer(opts.listen, {
        health: () => endpoint.agentHealth(agent.status(), opts.lockDuration),
        ready: () => endpoint.agentReady(agent.status()),
        metrics: async () => {
          f.sync();
          return (await visibility.metrics.text()) + (await agentMetrics.text());
        },
        contentType: agentMetrics.contentType,
      });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      say('agent_failed', `cannot listen on ${opts.listen}: ${e.code ?? e.message} (choose another --listen, or --no-listen)`, { listen: opts.listen, code: e.code });
      await agent.stop('listen_failed'); // gives the state dir back; nothing was taken
      return agentExitCode('listen_failed');
    }
    f.sync();
    f.start();
    follower = f;
  }

  const detach = onDetachSignals();
  let started: ReturnType<typeof agent.start>;
  try {
    started = agent.start();
  } catch (err) {
    await agent.stop('start_failed'); // closes whatever it had opened
    follower?.close();
    await server?.close();
    detach.dispose();
    throw err;
  }
  for (const p of started.problems) say('ledger_problem', `ledger ${p.file}: ${p.reason} (left in place)`, { ...p });
  const mode = s.wrapperAllowed ? 'per job (wrapper_enabled; default legacy)' : 'off (kill switch: every job takes the legacy path)';
  say(
    'agent_started',
    `agent ${s.workerId} taking jobs from queue${s.queues.length > 1 ? 's' : ''} ${s.queues.join(', ')} on ${redactUrl(s.redis)}${s.capabilities.length > 0 ? ` (capabilities ${s.capabilities.join(', ')})` : ''}: concurrency ${opts.concurrency}, wrapper ${mode}, lock duration ${opts.lockDuration / 1000}s, journal ${journal.dir}, observer ${observer.backend}, ${server !== null ? `endpoint ${server.url} (/metrics /health /ready)` : 'no endpoint'}` +
      (started.adopting > 0 ? `; taking back ${started.adopting} job(s) an earlier agent held` : ''),
    { worker_id: s.workerId, queues: s.queues, capabilities: s.capabilities, redis: redactUrl(s.redis), concurrency: opts.concurrency, wrapper: s.wrapperAllowed ? 'per_job' : 'off', lock_duration_ms: opts.lockDuration, state_dir: journal.dir, observer: observer.backend, adopting: started.adopting, listen: server?.url ?? null },
  );

  // Workloads an earlier agent (or any wrapper on this node) left running are adopted as
  // `recover` does; their Results go to the journal, and the agent tells the queue.
  const adoption = recover({
    stateDir: journal.dir,
    observer,
    signal: detach.signal,
    onOutcome: (o) => {
      if (o.kind !== 'skipped' && agent.resultRecorded(o.orphan.run_id, o.result)) return; // the agent prints it
      stderr.write(`${renderOutcome(o, fmt)}\n`);
    },
  }).then(
    (report) => {
      const line = report.swept === null ? null : sweptLine(report.swept, fmt);
      if (line !== null) stderr.write(`${line}\n`);
    },
    (err: unknown) => say('recover_failed', `adopting earlier workloads failed: ${String(err)}`),
  );

  await new Promise<void>((resolve) => {
    if (detach.signal.aborted) resolve();
    else detach.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  const why = detach.received() ?? 'signal';
  const { left } = await agent.stop(why);
  await adoption;
  follower?.close();
  await server?.close();
  detach.dispose();
  say(
    'agent_stopped',
    `agent stopped (${why})${left > 0 ? `: ${left} job(s) continue, detached; the next agent on ${journal.dir} takes them back within the lock duration (${opts.lockDuration / 1000}s)` : ''}`,
    { signal: why, left },
  );
  // A daemon that was told to stop exits, whatever a library left open.
  setTimeout(() => process.exit(agentExitCode('stopped')), 3000).unref();
  return agentExitCode('stopped');
}
