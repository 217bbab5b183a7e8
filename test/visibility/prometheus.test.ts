/**
 * Real clients: `promtool check metrics` on the /metrics text, and a real Prometheus server that
 * scrapes `ffrtmp serve` on loopback and answers a query for ffrtmp_jobs_total. Needs the Debian
 * package `prometheus` (promtool + prometheus); skipped LOUDLY when absent.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Journal } from '../../src/journal/journal';
import type { StartedRecord } from '../../src/journal/types';
import { exited, killQuietly, startFfrtmp, waitFor } from '../helpers';
import { aResult, runIdOf } from '../support/fixtures';

const has = (bin: string): boolean => spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
const HAVE_PROMTOOL = has('promtool');
const HAVE_PROMETHEUS = has('prometheus');
if (!HAVE_PROMTOOL || !HAVE_PROMETHEUS) {
  console.warn(
    `\n*** SKIPPING real-Prometheus tests: ${[!HAVE_PROMTOOL && 'promtool', !HAVE_PROMETHEUS && 'prometheus'].filter(Boolean).join(' and ')} not installed ` +
      '(apt-get install -y prometheus) ***\n',
  );
}

let work: string;
const children: ChildProcess[] = [];
beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'ffrtmp-prom-'));
});
afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGTERM');
      const t = setTimeout(() => killQuietly(c.pid), 5000);
      await exited(c);
      clearTimeout(t);
    }
  }
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

function recordJobs(dir: string, n: number, violations: number): void {
  const j = new Journal({ dir });
  for (let i = 0; i < n; i++) {
    const rec = j.recorder();
    const now = new Date().toISOString();
    const job_id = `prom-${i}`;
    const s: StartedRecord = { type: 'started', run_id: runIdOf(job_id), job_id, pid: 1000 + i, mode: i % 3 === 0 ? 'attach' : 'run', identity: { pid: 1000 + i, start_time_ticks: '1' }, cgroup: null, start_time: now };
    rec.started(s);
    const bad = i < violations;
    rec.finished(aResult(job_id, {
      pid: 1000 + i, mode: s.mode, startedAtMs: Date.parse(now), seconds: 0.25,
      exit_code: bad ? null : i % 4, reason: bad ? 'exit_unobserved' : i % 4 === 0 ? 'completed_successfully' : 'workload_failed_platform_ok',
    }), runIdOf(job_id));
  }
}

async function startServe(dir: string): Promise<string> {
  const serve = startFfrtmp(['serve', '--listen', '127.0.0.1:0', '--state-dir', dir, '--no-recover']);
  children.push(serve);
  const m = await waitFor(() => /listening on (http:\/\/\S+)/.exec(serve.output().stderr), 10_000);
  return m[1]!;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

describe.skipIf(!HAVE_PROMTOOL)('promtool', () => {
  it('`promtool check metrics` accepts /metrics (empty journal and with data)', async () => {
    for (const n of [0, 25]) {
      const dir = fs.mkdtempSync(path.join(work, 'state-'));
      if (n > 0) recordJobs(dir, n, 3);
      const url = await startServe(dir);
      const text = await (await fetch(`${url}/metrics`)).text();
      const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      expect(`${check.stdout}${check.stderr}`).toBe('');
      expect(check.status).toBe(0);
    }
  });
});

describe.skipIf(!HAVE_PROMTOOL)('deployment/prometheus/alerts.yml', () => {
  it('passes `promtool check rules` and its unit tests (`promtool test rules`)', () => {
    const cwd = path.join(__dirname, '../../deployment/prometheus');
    const check = spawnSync('promtool', ['check', 'rules', 'alerts.yml'], { cwd, encoding: 'utf8' });
    expect(check.status, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).toMatch(/SUCCESS: 2 rules found/);
    const unit = spawnSync('promtool', ['test', 'rules', 'alerts.test.yml'], { cwd, encoding: 'utf8' });
    expect(unit.status, unit.stdout + unit.stderr).toBe(0);
  });
});

describe.skipIf(!HAVE_PROMETHEUS)('a real Prometheus server scraping ffrtmp serve', () => {
  it('answers ffrtmp_jobs_total with the number of jobs, and follows new ones', async () => {
    const dir = fs.mkdtempSync(path.join(work, 'state-'));
    recordJobs(dir, 17, 2);
    const url = await startServe(dir);
    const target = url.replace('http://', '');
    const port = await freePort();
    const cfg = path.join(work, 'prometheus.yml');
    fs.writeFileSync(cfg, `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: ffrtmp\n    static_configs:\n      - targets: ['${target}']\n`);
    const prom = spawn('prometheus', [
      `--config.file=${cfg}`, `--storage.tsdb.path=${path.join(work, 'tsdb')}`, `--web.listen-address=127.0.0.1:${port}`,
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(prom);
    let promLog = '';
    prom.stderr!.on('data', (d) => (promLog += d));
    const api = `http://127.0.0.1:${port}`;
    const query = async (q: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> => {
      const r = await fetch(`${api}/api/v1/query?query=${encodeURIComponent(q)}`);
      const body = (await r.json()) as { status: string; data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
      return body.status === 'success' ? body.data.result : [];
    };
    const valueOf = async (q: string): Promise<number | null> => {
      try {
        const res = await query(q);
        return res.length === 1 ? Number(res[0]!.value[1]) : null;
      } catch {
        return null; // not up yet
      }
    };
    try {
      const deadline = Date.now() + 30_000;
      let completed: number | null = null;
      while (Date.now() < deadline && completed !== 17) {
        completed = await valueOf('ffrtmp_jobs_total{state="completed"}');
        if (completed !== 17) await new Promise((r) => setTimeout(r, 250));
      }
      expect(completed, promLog.slice(-2000)).toBe(17);
      expect(await valueOf('ffrtmp_jobs_total{state="started"}')).toBe(17);
      expect(await valueOf('ffrtmp_platform_sla_total{compliant="false"}')).toBe(2);
      expect(await valueOf('ffrtmp_platform_sla_rate')).toBeCloseTo(15 / 17, 6);
      expect(await valueOf('up{job="ffrtmp"}')).toBe(1);

      // 5 more jobs appended by another process: the next scrapes see them
      const j = new Journal({ dir });
      for (let i = 0; i < 5; i++) {
        j.recorder().finished({
          job_id: `late-${i}`, pid: 1, mode: 'run', start_time: new Date().toISOString(), end_time: new Date().toISOString(),
          processing_seconds: 0, exit_code: 0, signal: null, exit_source: 'waitid', platform_sla_compliant: true, platform_sla_reason: 'completed_successfully',
        }, runIdOf(`late-${i}`));
      }
      const later = Date.now() + 15_000;
      while (Date.now() < later && completed !== 22) {
        completed = await valueOf('ffrtmp_jobs_total{state="completed"}');
        if (completed !== 22) await new Promise((r) => setTimeout(r, 250));
      }
      expect(completed).toBe(22);

      // every query of the Grafana dashboard and of the alert rules is valid PromQL and returns data
      const dash = JSON.parse(fs.readFileSync(path.join(__dirname, '../../deployment/grafana/ffrtmp-dashboard.json'), 'utf8')) as {
        panels: Array<{ title: string; targets?: Array<{ expr: string }> }>;
      };
      const exprs = dash.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ title: p.title, expr: t.expr })));
      expect(exprs.length).toBeGreaterThanOrEqual(5);
      for (const { title, expr } of exprs) {
        const r = (await (await fetch(`${api}/api/v1/query?query=${encodeURIComponent(expr)}`)).json()) as { status: string; data?: { result: unknown[] }; error?: string };
        expect(r.status, `${title}: ${expr}: ${r.error ?? ''}`).toBe('success');
        expect(r.data!.result.length, `${title}: ${expr}`).toBeGreaterThan(0);
      }
    } finally {
      prom.kill('SIGTERM');
    }
  }, 60_000);
});
