/**
 * The agent's HTTP endpoint (`--listen`, default 127.0.0.1:9092): `/metrics`, `/health`, `/ready`.
 * GET and HEAD only (405 otherwise), anything else 404. Read-only: a request never changes what
 * the agent does. The CLI composes it (src/cli/actions/agent.ts): the journal's job counters (the
 * ones `ffrtmp serve` exports, src/visibility) come in as text, this file adds the agent's own.
 *
 * Agent metrics (own prom-client Registry, every series present from the start):
 * - `ffrtmp_agent_jobs_total{path="wrapper"|"legacy"|"none",outcome="received"|"completed"|"failed"|"refused"}`:
 *   received = taken and started on that path; completed / failed = what the queue was told (a
 *   job adopted after a restart counts here too, not in received); refused = failed before
 *   anything started (bad data, a job started before), `path="none"`: no path was chosen.
 * - `ffrtmp_agent_jobs_active`: queue jobs held now (running, or taken back after a restart).
 * - `ffrtmp_agent_concurrency`: the most it holds at once.
 * - `ffrtmp_agent_adopted_total`: jobs taken back from an earlier agent on the same state dir.
 * - `ffrtmp_agent_lock_renewals_failed_total`: queue locks found lost at renewal.
 * - `ffrtmp_agent_redis_up`: 1 while Redis answers, 0 while it is out of reach.
 *
 * `/health` (JSON, 503 when unhealthy):
 * - unhealthy: Redis out of reach for longer than the lock duration (the jobs held are being
 *   failed as stalled by the queue meanwhile; their Results will only be attached).
 * - degraded: Redis out of reach for less than that (the agent retries; running jobs continue);
 *   the journal or the ledger cannot be written (a restart could not take jobs back, Results are
 *   not persisted).
 * `/ready`: 200 only when Redis answers and the jobs an earlier agent held have had their locks
 * looked at (re-taken or found lost): then the agent takes new jobs. 503 otherwise, with reasons.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import { json, startEndpoint, text, type Endpoint } from '../http/endpoint';
import { parseListen } from '../model/listen';
import type { AgentStats, AgentStatus } from './agent';

export type HealthStatus = 'healthy' | 'degraded' | 'unhealthy';

export interface AgentHealth {
  readonly status: HealthStatus;
  readonly reasons: readonly string[];
  readonly redis: { readonly up: boolean; readonly down_for_s: number | null; readonly last_error: string | null };
  readonly adoption: { readonly jobs: number; readonly done: boolean };
  readonly jobs: { readonly active: number; readonly concurrency: number };
  readonly journal: AgentStatus['journal'];
  readonly ledger: AgentStatus['ledger'];
}

export function agentHealth(s: AgentStatus, lockDurationMs: number, now: number = Date.now()): AgentHealth {
  const bad: string[] = [];
  const meh: string[] = [];
  const downMs = s.redisUp || s.redisDownSinceMs === null ? null : Math.max(0, now - s.redisDownSinceMs);
  if (downMs !== null) {
    const what = `Redis ${s.lastConnectionError === null ? 'not reached yet' : `out of reach (${s.lastConnectionError})`} for ${Math.round(downMs / 1000)} s`;
    if (downMs > lockDurationMs) bad.push(`${what}, longer than the lock duration (${lockDurationMs / 1000} s): the queue fails the jobs held as stalled; their Results will be attached`);
    else meh.push(`${what}: retrying with backoff; running jobs continue`);
  }
  if (!s.journal.writable) meh.push(`the journal ${s.journal.dir} cannot be written (${s.journal.error ?? 'unknown'}): Results are not persisted`);
  if (!s.ledger.writable) meh.push(`the ledger ${s.ledger.dir} cannot be written (${s.ledger.error ?? 'unknown'}): new jobs are refused, a restart could not take jobs back`);
  return {
    status: bad.length > 0 ? 'unhealthy' : meh.length > 0 ? 'degraded' : 'healthy',
    reasons: [...bad, ...meh],
    redis: { up: s.redisUp, down_for_s: downMs === null ? null : Math.round(downMs / 100) / 10, last_error: s.lastConnectionError },
    adoption: { jobs: s.adopting, done: s.adoptionDone },
    jobs: { active: s.held, concurrency: s.concurrency },
    journal: s.journal,
    ledger: s.ledger,
  };
}

export function agentReady(s: AgentStatus): { ready: boolean; reasons: string[] } {
  const reasons: string[] = [];
  if (!s.redisUp) reasons.push(`Redis ${s.lastConnectionError === null ? 'not reached yet' : `out of reach (${s.lastConnectionError})`}`);
  if (!s.adoptionDone) reasons.push(`taking back ${s.adopting} job(s) an earlier agent held: their queue locks are not looked at yet`);
  return { ready: reasons.length === 0, reasons };
}

/** The agent counters, read from the Agent at scrape time. */
export class AgentMetrics {
  readonly registry = new Registry();

  constructor(source: { stats: AgentStats; load(): { held: number; concurrency: number } }) {
    const registers = [this.registry];
    new Counter({
      name: 'ffrtmp_agent_jobs_total',
      help: 'Queue jobs by path and outcome (received: started on that path; completed/failed: what the queue was told; refused: failed before anything started)',
      labelNames: ['path', 'outcome'],
      registers,
      collect() {
        this.reset();
        const st = source.stats;
        for (const path of ['wrapper', 'legacy'] as const) {
          this.inc({ path, outcome: 'received' }, st.received[path]);
          this.inc({ path, outcome: 'completed' }, st.completed[path]);
          this.inc({ path, outcome: 'failed' }, st.failed[path]);
        }
        this.inc({ path: 'none', outcome: 'refused' }, st.refused);
      },
    });
    new Gauge({
      name: 'ffrtmp_agent_jobs_active',
      help: 'Queue jobs held now (running, or taken back after a restart)',
      registers,
      collect() {
        this.set(source.load().held);
      },
    });
    new Gauge({
      name: 'ffrtmp_agent_concurrency',
      help: 'The most queue jobs held at once (--concurrency)',
      registers,
      collect() {
        this.set(source.load().concurrency);
      },
    });
    new Counter({
      name: 'ffrtmp_agent_adopted_total',
      help: 'Queue jobs taken back from an earlier agent on the same state dir',
      registers,
      collect() {
        this.reset();
        this.inc(source.stats.adopted);
      },
    });
    new Counter({
      name: 'ffrtmp_agent_lock_renewals_failed_total',
      help: 'Queue locks found lost at renewal (the queue fails the job as stalled; its Result is attached)',
      registers,
      collect() {
        this.reset();
        this.inc(source.stats.lockRenewalsFailed);
      },
    });
    new Gauge({
      name: 'ffrtmp_agent_redis_up',
      help: '1 while Redis answers, 0 while it is out of reach',
      registers,
      collect() {
        this.set(source.stats.redisUp ? 1 : 0);
      },
    });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

export type AgentServer = Pick<Endpoint, 'url' | 'close'>;

export interface AgentEndpoint {
  health(): AgentHealth;
  ready(): { ready: boolean; reasons: string[] };
  /** The Prometheus text (journal counters and agent counters). */
  metrics(): Promise<string>;
  contentType: string;
}

/** Listens; rejects on a listen error (EADDRINUSE, ...). */
export function startAgentServer(listen: string, ep: AgentEndpoint): Promise<AgentServer> {
  const checkFailed = (err: unknown) => json(500, { status: 'unhealthy', reasons: [`check failed: ${String(err)}`] });
  return startEndpoint({
    listen: parseListen(listen),
    routes: {
      '/metrics': {
        reply: async () => text(200, await ep.metrics(), ep.contentType),
        failed: (err) => text(500, `metrics error: ${String(err)}\n`),
      },
      '/health': {
        reply() {
          const h = ep.health();
          return json(h.status === 'unhealthy' ? 503 : 200, h);
        },
        failed: checkFailed,
      },
      '/ready': {
        reply() {
          const r = ep.ready();
          return json(r.ready ? 200 : 503, r);
        },
        failed: checkFailed,
      },
    },
  });
}
