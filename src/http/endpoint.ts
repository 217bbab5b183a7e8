/**
 * A read-only HTTP endpoint: the one piece of plumbing under `ffrtmp serve`, `watch` and `agent`.
 *
 * - A fixed set of paths; anything else is 404 with the list. GET and HEAD only: 405 with
 *   `Allow: GET, HEAD` otherwise. A request target that does not parse is 400.
 * - Every reply carries Content-Length and `Cache-Control: no-store`; a HEAD gets the headers only.
 * - Routes return replies (data), synchronously or not. A route that throws or rejects gets its
 *   own `failed` reply, or a plain 500 `internal error`, and `onError` hears of it: a request never
 *   crashes the process, and never changes what the process does.
 * - Listen errors (EADDRINUSE, EACCES) reject; `close()` is idempotent and drops keep-alive
 *   connections, so a daemon stops at once.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ListenAddress } from '../model/listen';

export interface Reply {
  readonly status: number;
  readonly type: string;
  readonly body: string;
  readonly headers?: Readonly<Record<string, string>>;
}

export const JSON_TYPE = 'application/json; charset=utf-8';
export const TEXT_TYPE = 'text/plain; charset=utf-8';

/** A JSON reply; `body` is a value to serialise, or JSON text already serialised. */
export function json(status: number, body: unknown): Reply {
  return { status, type: JSON_TYPE, body: typeof body === 'string' ? body : JSON.stringify(body) };
}

export function text(status: number, body: string, type: string = TEXT_TYPE): Reply {
  return { status, type, body };
}

export interface Route {
  reply(url: URL): Reply | Promise<Reply>;
  /** The reply when `reply` throws or rejects (default: 500 `internal error`). */
  failed?(err: unknown): Reply;
}

export interface EndpointOptions {
  listen: ListenAddress;
  routes: Readonly<Record<string, Route>>;
  /** Runs before a routed GET/HEAD is answered (e.g. catch up with the journal). */
  before?(): void;
  /** Hears of a route that failed (its reply was sent already). */
  onError?(err: unknown, path: string): void;
}

export interface Endpoint {
  readonly url: string;
  readonly address: { readonly host: string; readonly port: number };
  close(): Promise<void>;
}

const INTERNAL_ERROR = text(500, 'internal error\n');

function send(req: http.IncomingMessage, res: http.ServerResponse, r: Reply): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(r.status, { 'Content-Type': r.type, 'Content-Length': Buffer.byteLength(r.body), 'Cache-Control': 'no-store', ...r.headers });
  res.end(req.method === 'HEAD' ? undefined : r.body);
}

export async function startEndpoint(opts: EndpointOptions): Promise<Endpoint> {
  const paths = Object.keys(opts.routes);
  const server = http.createServer((req, res) => {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      send(req, res, json(400, { error: 'bad request target' }));
      return;
    }
    const route = Object.hasOwn(opts.routes, url.pathname) ? opts.routes[url.pathname] : undefined;
    if (route === undefined) {
      send(req, res, json(404, { error: 'not found', endpoints: paths }));
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(req, res, { ...json(405, { error: 'method not allowed' }), headers: { Allow: 'GET, HEAD' } });
      return;
    }
    const fail = (err: unknown): void => {
      let r = INTERNAL_ERROR;
      try {
        if (route.failed) r = route.failed(err);
      } catch {
        /* keep the plain 500 */
      }
      send(req, res, r);
      opts.onError?.(err, url.pathname);
    };
    try {
      opts.before?.();
      const r = route.reply(url);
      if (r instanceof Promise) r.then((v) => send(req, res, v), fail);
      else send(req, res, r);
    } catch (err) {
      fail(err);
    }
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.listen.port, opts.listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  let closing: Promise<void> | null = null;
  return {
    url: `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`,
    address: { host: a.address, port: a.port },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
