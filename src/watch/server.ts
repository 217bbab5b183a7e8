/**
 * The watch daemon's HTTP endpoint: `/health` (JSON, health.ts; 503 when unhealthy so a probe
 * can use the status alone) and `/metrics` (Prometheus text, metrics.ts). Read-only: a request
 * never changes what the daemon does.
 */
import { json, startEndpoint, text, type Endpoint } from '../http/endpoint';
import { parseListen } from '../model/listen';
import type { WatchHealth } from './health';
import type { WatchMetrics } from './metrics';

export type WatchServer = Pick<Endpoint, 'url' | 'close'>;

export function startWatchServer(listen: string, health: () => WatchHealth, metrics: WatchMetrics): Promise<WatchServer> {
  return startEndpoint({
    listen: parseListen(listen),
    routes: {
      '/health': {
        reply() {
          const h = health();
          return json(h.status === 'unhealthy' ? 503 : 200, h);
        },
        failed: (err) => json(500, { status: 'unhealthy', reasons: [`health check failed: ${String(err)}`] }),
      },
      '/metrics': {
        reply: async () => text(200, await metrics.text(), metrics.contentType),
        failed: (err) => text(500, `metrics error: ${String(err)}\n`),
      },
    },
  });
}
