/**
 * The core of `ffrtmp serve`: the node's visibility endpoint.
 *
 * Everything served is derived from the journal: at start the whole journal is replayed through
 * `applyRecord` (counters, violation samples, recent results), then the follower feeds every new
 * record appended by any `ffrtmp run`/`attach` process on the node. Scrape-time requests also
 * sync first, so an answer never lags the journal.
 *
 * Endpoints (GET and HEAD; any other method is 405 with `Allow: GET, HEAD`; unknown paths 404):
 * - `/metrics`: Prometheus text format 0.0.4.
 * - `/violations`: JSON array of the last violation samples, newest first.
 * - `/health`: JSON `{status, observer_backend, journal: {dir, writable, error?}, follower}`.
 * - `/jobs?limit=N`: JSON array of the N most recent Results, newest first (1 ≤ N ≤ the number
 *   kept, default 20; anything else is 400).
 *
 * The library never prints and never exits: problems are emitted as `problem` events, and
 * `close()` stops everything. It never touches a workload.
 */
import { EventEmitter } from 'node:events';
import { json, startEndpoint, text, type Endpoint } from '../http/endpoint';
import { makeDirs } from '../journal/files';
import { JournalFollower, type FollowerStats } from '../journal/follower';
import { Journal } from '../journal/journal';
import type { JournalProblem } from '../journal/reader';
import type { JournalRecord, ResultJournalRecord } from '../journal/types';
import { DEFAULT_LISTEN, parseListen, type ListenAddress } from '../model/listen';
import { JobMetrics } from './metrics';
import { DEFAULT_VIOLATIONS_SIZE, ViolationLog } from './violations';

export { DEFAULT_LISTEN, parseListen, type ListenAddress };
export const DEFAULT_JOBS_LIMIT = 20;
export const DEFAULT_RECENT_JOBS_KEPT = 1000;

export interface ServeOptions {
  /** The state directory holding the journal. */
  stateDir: string;
  /** `host:port`; default `127.0.0.1:9090`. Port 0 picks a free port (tests). */
  listen?: string;
  /** Which exit-observer backend this node uses (`pidfd`, `polling`, ...), shown on /health. */
  observerBackend: string;
  /** Violation samples kept (default 50). */
  violationsSize?: number;
  /** Recent Results kept for /jobs (default 1000; also the largest accepted limit). */
  recentJobsKept?: number;
  /** Follower safety-net poll interval (default 1000 ms). */
  pollIntervalMs?: number;
}

/** A Result as served by /jobs: the journal line without its `type`/`v` envelope. */
export type ServedResult = Omit<ResultJournalRecord, 'type' | 'v'>;

export interface ServerHandle extends EventEmitter {
  readonly address: ListenAddress;
  /** `http://host:port` (IPv6 hosts bracketed). */
  readonly url: string;
  readonly metrics: JobMetrics;
  readonly violations: ViolationLog;
  /** Reads whatever was appended since the last sync. Returns the number of new records. */
  sync(): number;
  followerStats(): FollowerStats;
  /** Stops listening and following. Idempotent. */
  close(): Promise<void>;
}

/**
 * The derived state: the one place a journal record turns into counters, samples and the recent
 * list. `ffrtmp serve` feeds it from the follower; tests feed it directly.
 */
export class VisibilityState {
  readonly metrics = new JobMetrics();
  readonly violations: ViolationLog;
  private readonly recent: ServedResult[] = [];

  constructor(
    violationsSize = DEFAULT_VIOLATIONS_SIZE,
    readonly recentKept = DEFAULT_RECENT_JOBS_KEPT,
  ) {
    this.violations = new ViolationLog(violationsSize);
  }

  applyRecord(record: JournalRecord): void {
    this.metrics.applyRecord(record);
    if (record.type !== 'result') return;
    this.violations.record(record);
    const { type: _t, v: _v, ...served } = record;
    this.recent.push(served);
    if (this.recent.length > this.recentKept) this.recent.splice(0, this.recent.length - this.recentKept);
  }

  /** Newest first. */
  recentResults(n: number): ServedResult[] {
    return this.recent.slice(-n).reverse();
  }
}

/** Starts following the journal and listening. Rejects on a bad --listen or a listen error. */
export async function startServer(opts: ServeOptions): Promise<ServerHandle> {
  const listen = parseListen(opts.listen ?? DEFAULT_LISTEN);
  const recentKept = opts.recentJobsKept ?? DEFAULT_RECENT_JOBS_KEPT;
  const state = new VisibilityState(opts.violationsSize ?? DEFAULT_VIOLATIONS_SIZE, recentKept);
  const journal = new Journal({ dir: opts.stateDir });
  const emitter = new EventEmitter();
  // An 'error' event with no listener would throw; problems are data, not crashes.
  const emitProblem = (p: JournalProblem): void => {
    emitter.emit('problem', p);
  };
  try {
    makeDirs(journal.dir, 0o750);
  } catch {
    /* read-only or missing parent: follow by polling; /health says not writable */
  }
  const follower = new JournalFollower({
    dir: journal.dir,
    onRecord: (r) => {
      state.applyRecord(r);
      emitter.emit('record', r);
    },
    onProblem: emitProblem,
    ...(opts.pollIntervalMs !== undefined ? { pollIntervalMs: opts.pollIntervalMs } : {}),
  });
  follower.start();

  let endpoint: Endpoint;
  try {
    endpoint = await startEndpoint({
      listen,
      before: () => follower.sync(),
      onError: (err, path) => emitter.emit('problem', { file: '', line: 0, reason: `request handler error (${path}): ${String(err)}` }),
      routes: {
        '/metrics': {
          reply: async () => text(200, await state.metrics.text(), state.metrics.contentType),
          failed: (err) => text(500, `metrics error: ${String(err)}\n`),
        },
        '/violations': { reply: () => json(200, state.violations.json()) },
        '/health': {
          reply() {
            const w = journal.checkWritable();
            return json(200, {
              status: w.writable ? 'ok' : 'degraded',
              observer_backend: opts.observerBackend,
              journal: {
                dir: journal.dir,
                writable: w.writable,
                ...(w.writable ? {} : { error: `${w.error.code ?? w.error.op}: ${w.error.message}` }),
              },
              follower: follower.getStats(),
            });
          },
        },
        '/jobs': {
          reply(url) {
            const raw = url.searchParams.get('limit');
            let limit = DEFAULT_JOBS_LIMIT;
            if (raw !== null) {
              limit = /^\d{1,9}$/.test(raw) ? Number(raw) : NaN;
              if (!(limit >= 1 && limit <= recentKept)) return json(400, { error: `limit must be an integer from 1 to ${recentKept}` });
            }
            return json(200, state.recentResults(limit));
          },
        },
      },
    });
  } catch (err) {
    follower.close();
    throw err;
  }

  return Object.assign(emitter, {
    address: endpoint.address,
    url: endpoint.url,
    metrics: state.metrics,
    violations: state.violations,
    sync: () => follower.sync(),
    followerStats: () => follower.getStats(),
    close(): Promise<void> {
      follower.close();
      return endpoint.close();
    },
  });
}
