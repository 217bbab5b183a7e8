import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Journal } from '../../src/journal/journal';
import type { JournalProblem } from '../../src/journal/reader';
import { parseListen, startServer, type ServerHandle } from '../../src/visibility/server';
import type { Result } from '../../src/model/result';
import { aResult, type ResultOver, runIdOf } from '../support/fixtures';
import { useJournalChildren, WRITER_JS } from '../support/transpile-journal';

const result = (id: string, over: ResultOver = {}): Result => aResult(id, { seconds: 12.5, ...over });

let dir: string;
let server: ServerHandle | null = null;

const kids = useJournalChildren('serve', { writer: WRITER_JS });
afterEach(async () => {
  await server?.close();
  server = null;
});

function freshDir(): string {
  dir = kids.stateDir();
  return dir;
}

function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

function runWriter(args: string[]): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [kids.scripts.writer, kids.moduleDir, ...args], { stdio: 'ignore' });
    c.on('error', reject);
    c.on('close', resolve);
  });
}

describe('parseListen', () => {
  it('accepts host:port, [v6]:port, :port and rejects the rest', () => {
    expect(parseListen('127.0.0.1:9090')).toEqual({ host: '127.0.0.1', port: 9090 });
    expect(parseListen('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(parseListen(':9100')).toEqual({ host: '0.0.0.0', port: 9100 });
    expect(parseListen('localhost:80')).toEqual({ host: 'localhost', port: 80 });
    for (const bad of ['9090', '1.2.3.4:', '1.2.3.4:70000', 'a b:1', '::1:80', '']) expect(() => parseListen(bad)).toThrow(/HOST:PORT/);
  });
});

describe('ffrtmp serve endpoints', () => {
  it('rebuilds from the journal and serves /metrics, /violations, /jobs, /health with the right types', async () => {
    const j = new Journal({ dir: freshDir() });
    const a = j.recorder();
    a.started({ type: 'started', run_id: runIdOf('a'), job_id: 'a', pid: 1, mode: 'run', identity: { pid: 1, start_time_ticks: '9' }, cgroup: null, start_time: '2026-01-06T10:00:00.000Z' });
    a.finished(result('a'), runIdOf('a'));
    j.recorder().finished(result('v"1', { reason: 'observer_unavailable', exit_code: null, mode: 'attach' }), runIdOf('v"1'));
    j.recorder().finished(result('c', { exit_code: 3, reason: 'workload_failed_platform_ok' }), runIdOf('c'));
    server = await startServer({ stateDir: dir, listen: '127.0.0.1:0', observerBackend: 'pidfd' });
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    const m = await fetch(`${server.url}/metrics`);
    expect(m.status).toBe(200);
    expect(m.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = await m.text();
    expect(sample(text, 'ffrtmp_jobs_total{state="started"}')).toBe(1);
    expect(sample(text, 'ffrtmp_jobs_total{state="completed"}')).toBe(3);
    expect(sample(text, 'ffrtmp_platform_sla_total{compliant="false"}')).toBe(1);
    expect(sample(text, 'ffrtmp_jobs_by_mode_total{mode="attach"}')).toBe(1);
    expect(sample(text, 'ffrtmp_jobs_by_exit_total{exit="non_zero"}')).toBe(1);
    expect(sample(text, 'ffrtmp_jobs_by_exit_total{exit="signal"}')).toBe(0);
    expect(sample(text, 'ffrtmp_jobs_by_exit_total{exit="unknown"}')).toBe(1);
    expect(sample(text, 'ffrtmp_violations_total{reason="observer_unavailable"}')).toBe(1);
    expect(sample(text, 'ffrtmp_violations_total{reason="exit_unobserved"}')).toBe(0);
    expect(sample(text, 'ffrtmp_jobs_running')).toBe(0);
    expect(sample(text, 'ffrtmp_platform_sla_rate')).toBeCloseTo(2 / 3, 12);

    const v = await fetch(`${server.url}/violations`);
    expect(v.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await v.json()).toEqual([{
      job_id: 'v"1', reason: 'observer_unavailable', duration: 12.5, exit_code: null, pid: 4242, time: '2026-01-06T10:00:12.500Z',
      detail: 'the exit watcher could not be installed for a live process (pidfd_open or epoll_ctl failed): its end was not watched',
    }]);

    const jobs = (await (await fetch(`${server.url}/jobs`)).json()) as Result[];
    expect(jobs.map((r) => r.job_id)).toEqual(['c', 'v"1', 'a']);
    expect(jobs[0]).not.toHaveProperty('type');
    expect(jobs[0]).toHaveProperty('run_id');
    expect(((await (await fetch(`${server.url}/jobs?limit=1`)).json()) as Result[]).map((r) => r.job_id)).toEqual(['c']);
    for (const bad of ['0', '-1', 'abc', '1.5', '1001', '', '99999999999']) {
      const r = await fetch(`${server.url}/jobs?limit=${bad}`);
      expect(r.status, `limit=${bad}`).toBe(400);
      expect(((await r.json()) as { error: string }).error).toMatch(/limit must be an integer from 1 to 1000/);
    }

    const h = await fetch(`${server.url}/health`);
    expect(h.status).toBe(200);
    const health = (await h.json()) as { follower: { records: number } };
    expect(health).toMatchObject({ status: 'ok', observer_backend: 'pidfd', journal: { dir, writable: true } });
    expect(health.follower.records).toBe(4);
  });

  it('404 for unknown paths, 405 with Allow for other methods, HEAD without a body', async () => {
    server = await startServer({ stateDir: freshDir(), listen: '127.0.0.1:0', observerBackend: 'polling' });
    expect((await fetch(`${server.url}/`)).status).toBe(404);
    expect((await fetch(`${server.url}/metricsx`)).status).toBe(404);
    expect((await fetch(`${server.url}/nope`, { method: 'POST' })).status).toBe(404);
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      const r = await fetch(`${server.url}/metrics`, { method });
      expect(r.status).toBe(405);
      expect(r.headers.get('allow')).toBe('GET, HEAD');
    }
    const head = await fetch(`${server.url}/metrics`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    expect(Number(head.headers.get('content-length'))).toBeGreaterThan(100);
    // an empty journal: series at 0, no rate
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(sample(text, 'ffrtmp_jobs_total{state="completed"}')).toBe(0);
    expect(text).not.toContain('ffrtmp_platform_sla_rate');
    expect(await (await fetch(`${server.url}/violations`)).text()).toBe('[]');
  });

  it('follows appends made by other processes, through rotations, counting each record once', async () => {
    freshDir();
    server = await startServer({ stateDir: dir, listen: '127.0.0.1:0', observerBackend: 'pidfd', pollIntervalMs: 200 });
    const seen: string[] = [];
    server.on('record', (r) => seen.push(`${r.type}:${r.job_id}`));
    const problems: JournalProblem[] = [];
    server.on('problem', (p) => problems.push(p));
    // 4 writer processes, 25 jobs each, rotating every 8 KiB
    const codes = await Promise.all([0, 1, 2, 3].map((w) => runWriter([dir, String(w), '25', '8192', '0', String(Date.now() + 500)])));
    expect(codes).toEqual([0, 0, 0, 0]);
    // without any HTTP request: the watcher/poller picks everything up
    const deadline = Date.now() + 5000;
    while (seen.length < 200 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(seen).toHaveLength(200);
    expect(new Set(seen).size).toBe(200);
    expect(problems).toEqual([]);
    expect(fs.readdirSync(dir).length).toBeGreaterThan(3);
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(sample(text, 'ffrtmp_jobs_total{state="started"}')).toBe(100);
    expect(sample(text, 'ffrtmp_jobs_total{state="completed"}')).toBe(100);
  });

  it('consumes a partial last line only once it is complete', async () => {
    const j = new Journal({ dir: freshDir() });
    j.recorder().finished(result('first'), runIdOf('first'));
    server = await startServer({ stateDir: dir, listen: '127.0.0.1:0', observerBackend: 'pidfd', pollIntervalMs: 60_000 });
    const problems: JournalProblem[] = [];
    server.on('problem', (p) => problems.push(p));
    const line = JSON.stringify({ type: 'result', v: 1, run_id: 'r2', ...result('second') }) + '\n';
    fs.appendFileSync(j.file, line.slice(0, 50));
    expect(server.sync()).toBe(0);
    expect(server.metrics.snapshot().completed).toBe(1);
    fs.appendFileSync(j.file, line.slice(50));
    expect(server.sync()).toBe(1);
    expect(server.sync()).toBe(0);
    expect(server.metrics.snapshot().completed).toBe(2);
    expect(problems).toEqual([]);
  });

  it('rejects when the port is taken; close() is idempotent', async () => {
    server = await startServer({ stateDir: freshDir(), listen: '127.0.0.1:0', observerBackend: 'pidfd' });
    await expect(startServer({ stateDir: dir, listen: `127.0.0.1:${server.address.port}`, observerBackend: 'pidfd' })).rejects.toMatchObject({ code: 'EADDRINUSE' });
    await server.close();
    await server.close();
    server = null;
  });
});
