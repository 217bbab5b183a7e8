/**
 * Real clients: `promtool check metrics` on the /metrics text, `promtool check/test rules` on the
 * alerts, and a real Prometheus server that scrapes `ffrtmp serve` on loopback, loads the alert
 * rules and answers every series and every dashboard query. Needs the Debian package `prometheus`
 * (promtool + prometheus); skipped LOUDLY when absent.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Journal } from '../../src/journal/journal';
import type { StartedRecord } from '../../src/journal/types';
import { exited, killQuietly, startFfrtmp, waitFor, freePort } from '../helpers';
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

/**
 * `n` jobs, each with its started record; the first `violations` are exit_unobserved violations,
 * every 5th job dies by SIGKILL, the others exit with `i % 4`; the last `open` jobs have no Result
 * yet (still running).
 */
function recordJobs(dir: string, n: number, violations: number, open = 0): void {
  const j = new Journal({ dir });
  for (let i = 0; i < n; i++) {
    const rec = j.recorder();
    const now = new Date().toISOString();
    const job_id = `prom-${i}`;
    const s: StartedRecord = { type: 'started', run_id: runIdOf(job_id), job_id, pid: 1000 + i, mode: i % 3 === 0 ? 'attach' : 'run', identity: { pid: 1000 + i, start_time_ticks: '1' }, cgroup: null, start_time: now };
    rec.started(s);
    if (i >= n - open) continue;
    const bad = i < violations;
    const killed = !bad && i % 5 === 4;
    rec.finished(aResult(job_id, {
      pid: 1000 + i, mode: s.mode, startedAtMs: Date.parse(now), seconds: 0.25,
      exit_code: bad || killed ? null : i % 4, signal: killed ? 'SIGKILL' : null,
      reason: bad ? 'exit_unobserved' : !killed && i % 4 === 0 ? 'completed_successfully' : 'workload_failed_platform_ok',
    }), runIdOf(job_id));
  }
}

async function startServe(dir: string): Promise<string> {
  const serve = startFfrtmp(['serve', '--listen', '127.0.0.1:0', '--state-dir', dir, '--no-recover']);
  children.push(serve);
  const m = await waitFor(() => /listening on (http:\/\/\S+)/.exec(serve.output().stderr), 10_000);
  return m[1]!;
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

  it('the alerts and the dashboard use only metric names that /metrics exposes', async () => {
    const dir = fs.mkdtempSync(path.join(work, 'state-'));
    const text = await (await fetch(`${await startServe(dir)}/metrics`)).text();
    const exposed = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
    exposed.add('ffrtmp_platform_sla_rate'); // exposed from the first Result on
    const deployment = path.join(__dirname, '../../deployment');
    for (const file of ['prometheus/alerts.yml', 'prometheus/alerts.test.yml', 'grafana/ffrtmp-dashboard.json']) {
      const used = new Set(fs.readFileSync(path.join(deployment, file), 'utf8').match(/\bffrtmp_[a-z_]+/g));
      expect([...used].filter((name) => !exposed.has(name)), file).toEqual([]);
    }
    expect(exposed).toContain('ffrtmp_violations_total');
    expect(exposed).toContain('ffrtmp_jobs_running');
  });
});

describe.skipIf(!HAVE_PROMETHEUS)('a real Prometheus server scraping ffrtmp serve', () => {
  it('answers every series with the journal\'s numbers, follows new jobs and fires the per-reason alert', async () => {
    const dir = fs.mkdtempSync(path.join(work, 'state-'));
    recordJobs(dir, 18, 2, 1);
    const url = await startServe(dir);
    const target = url.replace('http://', '');
    const port = await freePort();
    const cfg = path.join(work, 'prometheus.yml');
    const rules = path.join(__dirname, '../../deployment/prometheus/alerts.yml');
    fs.writeFileSync(cfg, `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: ['${rules}']\nscrape_configs:\n  - job_name: ffrtmp\n    static_configs:\n      - targets: ['${target}']\n`);
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
      expect(await valueOf('ffrtmp_jobs_total{state="started"}')).toBe(18);
      expect(await valueOf('ffrtmp_jobs_running')).toBe(1);
      expect(await valueOf('ffrtmp_platform_sla_total{compliant="false"}')).toBe(2);
      expect(await valueOf('ffrtmp_violations_total{reason="exit_unobserved"}')).toBe(2);
      expect(await valueOf('sum(ffrtmp_violations_total)')).toBe(2);
      // prom-2..16: SIGKILL for 4, 9, 14; exit 0 for 8, 12, 16; the other 9 exit 1..3
      expect(await valueOf('ffrtmp_jobs_by_exit_total{exit="signal"}')).toBe(3);
      expect(await valueOf('ffrtmp_jobs_by_exit_total{exit="0"}')).toBe(3);
      expect(await valueOf('ffrtmp_jobs_by_exit_total{exit="non_zero"}')).toBe(9);
      expect(await valueOf('ffrtmp_jobs_by_exit_total{exit="unknown"}')).toBe(2);
      expect(await valueOf('ffrtmp_platform_sla_rate')).toBeCloseTo(15 / 17, 6);
      expect(await valueOf('up{job="ffrtmp"}')).toBe(1);

      // 5 more jobs appended by another process, one of them a violation: the next scrapes see
      // them, and the per-reason alert fires for that reason only
      const j = new Journal({ dir });
      for (let i = 0; i < 5; i++) {
        j.recorder().finished(aResult(`late-${i}`, { startedAtMs: Date.now(), seconds: 0, ...(i === 0 ? { reason: 'cgroup_placement_failed' } : {}) }), runIdOf(`late-${i}`));
      }
      const later = Date.now() + 15_000;
      while (Date.now() < later && completed !== 22) {
        completed = await valueOf('ffrtmp_jobs_total{state="completed"}');
        if (completed !== 22) await new Promise((r) => setTimeout(r, 250));
      }
      expect(completed).toBe(22);
      expect(await valueOf('ffrtmp_violations_total{reason="cgroup_placement_failed"}')).toBe(1);
      const firing = async (): Promise<string[]> =>
        (await query('ALERTS{alertname="FfrtmpNewPlatformViolations",alertstate="firing"}')).map((a) => a.metric.reason!);
      let alerts: string[] = [];
      const alertBy = Date.now() + 15_000;
      while (Date.now() < alertBy && alerts.length === 0) {
        alerts = await firing();
        if (alerts.length === 0) await new Promise((r) => setTimeout(r, 250));
      }
      expect(alerts).toEqual(['cgroup_placement_failed']);
      const rules = (await (await fetch(`${api}/api/v1/rules`)).json()) as { data: { groups: Array<{ rules: Array<{ name: string; health: string; lastError?: string }> }> } };
      expect(rules.data.groups.flatMap((g) => g.rules.map((r) => `${r.name}: ${r.health}${r.lastError ?? ''}`))).toEqual([
        'FfrtmpNewPlatformViolations: ok',
        'FfrtmpPlatformSlaRateDropping: ok',
      ]);

      // every query of the Grafana dashboard is valid PromQL and returns data (the alert rules: above)
      const dash = JSON.parse(fs.readFileSync(path.join(__dirname, '../../deployment/grafana/ffrtmp-dashboard.json'), 'utf8')) as {
        panels: Array<{ title: string; targets?: Array<{ expr: string }> }>;
      };
      const exprs = dash.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ title: p.title, expr: t.expr })));
      expect(exprs.length).toBeGreaterThanOrEqual(7);
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
