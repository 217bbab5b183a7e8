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
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
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

function send(res: http.ServerResponse, req: http.IncomingMessage, status: number, type: string, body: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store', ...extra });
  res.end(req.method === 'HEAD' ? undefined : body);
}

const JSON_TYPE = 'application/json; charset=utf-8';
const ROUTES = new Set(['/metrics', '/violations', '/health', '/jobs']);

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

  const handle = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      send(res, req, 400, JSON_TYPE, JSON.stringify({ error: 'bad request target' }));
      return;
    }
    if (!ROUTES.has(url.pathname)) {
      send(res, req, 404, JSON_TYPE, JSON.stringify({ error: 'not found', endpoints: [...ROUTES] }));
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, req, 405, JSON_TYPE, JSON.stringify({ error: 'method not allowed' }), { Allow: 'GET, HEAD' });
      return;
    }
    follower.sync();
    switch (url.pathname) {
      case '/metrics':
        state.metrics.text().then(
          (text) => send(res, req, 200, state.metrics.contentType, text),
          (err: unknown) => send(res, req, 500, 'text/plain; charset=utf-8', `metrics error: ${String(err)}\n`),
        );
        return;
      case '/violations':
        send(res, req, 200, JSON_TYPE, state.violations.json());
        return;
      case '/jobs': {
        const raw = url.searchParams.get('limit');
        let limit = DEFAULT_JOBS_LIMIT;
        if (raw !== null) {
          limit = /^\d{1,9}$/.test(raw) ? Number(raw) : NaN;
          if (!(limit >= 1 && limit <= recentKept)) {
            send(res, req, 400, JSON_TYPE, JSON.stringify({ error: `limit must be an integer from 1 to ${recentKept}` }));
            return;
          }
        }
        send(res, req, 200, JSON_TYPE, JSON.stringify(state.recentResults(limit)));
        return;
      }
      case '/health': {
        const w = journal.checkWritable();
        const body = {
          status: w.writable ? 'ok' : 'degraded',
          observer_backend: opts.observerBackend,
          journal: {
            dir: journal.dir,
            writable: w.writable,
            ...(w.writable ? {} : { error: `${w.error.code ?? w.error.op}: ${w.error.message}` }),
          },
          follower: follower.getStats(),
        };
        send(res, req, 200, JSON_TYPE, JSON.stringify(body));
        return;
      }
    }
  };

  const server = http.createServer((req, res) => {
    try {
      handle(req, res);
    } catch (err) {
      if (!res.headersSent) send(res, req, 500, 'text/plain; charset=utf-8', 'internal error\n');
      emitter.emit('problem', { file: '', line: 0, reason: `request handler error: ${String(err)}` });
    }
  });
  server.on('clientError', (_err, socket) => socket.destroy());

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(listen.port, listen.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    follower.close();
    throw err;
  }
  const addr = server.address() as AddressInfo;
  const address = { host: addr.address, port: addr.port };
  const url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;

  let closing: Promise<void> | null = null;
  return Object.assign(emitter, {
    address,
    url,
    metrics: state.metrics,
    violations: state.violations,
    sync: () => follower.sync(),
    followerStats: () => follower.getStats(),
    close(): Promise<void> {
      if (closing) return closing;
      follower.close();
      closing = new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  });
}
