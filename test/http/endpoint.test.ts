/**
 * The read-only endpoint under serve, watch and agent, on a real socket (127.0.0.1, port 0).
 */
import * as net from 'node:net';
import * as http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { json, startEndpoint, text, type Endpoint } from '../../src/http/endpoint';

const open: Endpoint[] = [];
afterEach(async () => {
  for (const e of open.splice(0)) await e.close();
});

async function start(opts: Omit<Parameters<typeof startEndpoint>[0], 'listen'>): Promise<Endpoint> {
  const e = await startEndpoint({ listen: { host: '127.0.0.1', port: 0 }, ...opts });
  open.push(e);
  return e;
}

/** One raw request line over a socket: the status line and headers as the server wrote them. */
function raw(e: Endpoint, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(e.address.port, e.address.host, () => s.end(request));
    let out = '';
    s.on('data', (d) => (out += d));
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
}

describe('read-only HTTP endpoint', () => {
  it('answers its routes, 404 (with the list) elsewhere, 405 with Allow for other methods, 400 for a bad target', async () => {
    const e = await start({ routes: { '/a': { reply: () => json(200, { a: 1 }) }, '/b': { reply: async () => text(503, 'no\n') } } });
    const a = await fetch(`${e.url}/a?x=1`);
    expect(a.status).toBe(200);
    expect(a.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(a.headers.get('cache-control')).toBe('no-store');
    expect(await a.json()).toEqual({ a: 1 });
    const b = await fetch(`${e.url}/b`);
    expect([b.status, await b.text()]).toEqual([503, 'no\n']);
    const nf = await fetch(`${e.url}/c`);
    expect([nf.status, await nf.json()]).toEqual([404, { error: 'not found', endpoints: ['/a', '/b'] }]);
    const post = await fetch(`${e.url}/a`, { method: 'POST', body: 'x' });
    expect([post.status, post.headers.get('allow')]).toEqual([405, 'GET, HEAD']);
    expect(await raw(e, 'GET http://[bad HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).toMatch(/^HTTP\/1\.1 400 /);
    // An own property only: a route named like an Object.prototype key does not exist.
    expect((await fetch(`${e.url}/constructor`)).status).toBe(404);
  });

  it('HEAD: the headers with the body length, no body', async () => {
    const e = await start({ routes: { '/m': { reply: () => text(200, 'héllo\n') } } });
    const out = await raw(e, 'HEAD /m HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(out).toMatch(/^HTTP\/1\.1 200 /);
    expect(out).toMatch(/content-length: 7\r\n/i);
    expect(out.endsWith('\r\n\r\n')).toBe(true);
  });

  it('a route that throws or rejects gets its own failure reply (or a plain 500) and is reported; the server goes on', async () => {
    const errors: string[] = [];
    const e = await start({
      onError: (err, path) => errors.push(`${path}: ${(err as Error).message}`),
      routes: {
        '/sync': { reply: () => { throw new Error('boom'); }, failed: (err) => json(500, { why: String(err) }) },
        '/async': { reply: async () => { throw new Error('later'); } },
        '/ok': { reply: () => text(200, 'ok') },
      },
    });
    const s = await fetch(`${e.url}/sync`);
    expect([s.status, await s.json()]).toEqual([500, { why: 'Error: boom' }]);
    const a = await fetch(`${e.url}/async`);
    expect([a.status, await a.text()]).toEqual([500, 'internal error\n']);
    expect((await fetch(`${e.url}/ok`)).status).toBe(200);
    expect(errors).toEqual(['/sync: boom', '/async: later']);
  });

  it('runs `before` ahead of every routed request only', async () => {
    let n = 0;
    const e = await start({ before: () => n++, routes: { '/x': { reply: () => text(200, String(n)) } } });
    expect(await (await fetch(`${e.url}/x`)).text()).toBe('1');
    await fetch(`${e.url}/nope`);
    expect(await (await fetch(`${e.url}/x`)).text()).toBe('2');
  });

  it('a port in use rejects; close() is idempotent and drops a keep-alive connection at once', async () => {
    const e = await start({ routes: { '/x': { reply: () => text(200, 'x') } } });
    await expect(startEndpoint({ listen: { host: '127.0.0.1', port: e.address.port }, routes: {} })).rejects.toMatchObject({ code: 'EADDRINUSE' });
    const agent = new http.Agent({ keepAlive: true });
    await new Promise<void>((resolve, reject) => http.get(`${e.url}/x`, { agent }, (res) => res.resume().on('end', resolve)).on('error', reject));
    const t0 = Date.now();
    const first = e.close();
    expect(e.close()).toBe(first);
    await first;
    expect(Date.now() - t0).toBeLessThan(2_000); // not the keep-alive timeout
    agent.destroy();
    await expect(fetch(`${e.url}/x`)).rejects.toThrow();
  });
});
