/**
 * The watch daemon's HTTP endpoint: `/health` (JSON, health.ts; 503 when unhealthy so a probe
 * can use the status alone) and `/metrics` (Prometheus text, metrics.ts). Read-only: a request
 * never changes what the daemon does.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseListen } from '../model/listen';
import type { WatchHealth } from './health';
import type { WatchMetrics } from './metrics';

export interface WatchServer {
  readonly url: string;
  close(): Promise<void>;
}

const JSON_TYPE = 'application/json; charset=utf-8';

function send(res: http.ServerResponse, req: http.IncomingMessage, status: number, type: string, body: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store', ...extra });
  res.end(req.method === 'HEAD' ? undefined : body);
}

export async function startWatchServer(listen: string, health: () => WatchHealth, metrics: WatchMetrics): Promise<WatchServer> {
  const addr = parseListen(listen);
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/health' && path !== '/metrics') {
      send(res, req, 404, JSON_TYPE, JSON.stringify({ error: 'not found', endpoints: ['/health', '/metrics'] }));
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, req, 405, JSON_TYPE, JSON.stringify({ error: 'method not allowed' }), { Allow: 'GET, HEAD' });
      return;
    }
    if (path === '/health') {
      try {
        const h = health();
        send(res, req, h.status === 'unhealthy' ? 503 : 200, JSON_TYPE, JSON.stringify(h));
      } catch (err) {
        send(res, req, 500, JSON_TYPE, JSON.stringify({ status: 'unhealthy', reasons: [`health check failed: ${String(err)}`] }));
      }
      return;
    }
    metrics.text().then(
      (text) => send(res, req, 200, metrics.contentType, text),
      (err: unknown) => send(res, req, 500, 'text/plain; charset=utf-8', `metrics error: ${String(err)}\n`),
    );
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(addr.port, addr.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  const url = `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  let closing: Promise<void> | null = null;
  return {
    url,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
