/**
 * The visibility commands through the built CLI (`dist/cli/main.js`): jobs, recover, serve.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readStartTimeTicks } from '../../src/journal/identity';
import { Journal } from '../../src/journal/journal';
import { readJournal } from '../../src/journal/reader';
import { exited, ffrtmp, isAlive, killQuietly, startFfrtmp, SUMMARY_LINE, summary, waitFor, stopAll } from '../helpers';
import type { Result } from '../../src/model/result';
import { aResult as result, runIdOf } from '../support/fixtures';
import { FAKE_WRAPPER_JS, useJournalChildren } from '../support/transpile-journal';

const kids = useJournalChildren('vcli', { fake: FAKE_WRAPPER_JS });
const children: ChildProcess[] = [];
const pids: number[] = [];

afterEach(async () => {
  await stopAll(children, 'SIGKILL');
  for (const p of pids.splice(0)) killQuietly(p);
});
const newDir = (): string => kids.stateDir();

/** A fake wrapper that records `started`, then is killed -9: its workload becomes an orphan. */
async function orphanedWorkload(dir: string, jobId: string, cmd: string): Promise<number> {
  const w = spawn(process.execPath, [kids.scripts.fake, kids.moduleDir, dir, jobId, cmd], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(w);
  let out = '';
  w.stdout!.on('data', (d) => (out += d));
  await waitFor(() => out.includes('\n'));
  const { pid } = JSON.parse(out) as { pid: number };
  pids.push(pid);
  w.kill('SIGKILL');
  await exited(w);
  return pid;
}

describe('ffrtmp jobs', () => {
  it('lists newest first as a table or JSON, validates --limit, shows one job', async () => {
    const dir = newDir();
    const j = new Journal({ dir });
    j.recorder().finished(result('first'), runIdOf('first'));
    j.recorder().finished(result('second', { exit_code: 2, reason: 'workload_failed_platform_ok' }), runIdOf('second, run 1'));
    j.recorder().finished(result('second', { exit_code: 0 }), runIdOf('second, run 2'));
    const table = await ffrtmp(['jobs', '--state-dir', dir]);
    expect(table.code).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^JOB\s+MODE\s+INTENT\s+SLA\s+REASON\s+EXIT\s+RUNTIME\s+CPU\s+MEM\s+OOM\s+PID\s+ENDED \(UTC\)$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/)[0])).toEqual(['second', 'second', 'first']);
    const json = await ffrtmp(['jobs', '--limit', '2', '--json', '--state-dir', dir]);
    const arr = JSON.parse(json.stdout) as Result[];
    expect(arr.map((r) => [r.job_id, r.exit_code])).toEqual([['second', 0], ['second', 2]]);
    expect((await ffrtmp(['jobs', 'list', '--limit', '1', '--json', '--state-dir', dir])).stdout).toContain('"second"');
    for (const bad of ['0', 'x', '-1']) {
      const r = await ffrtmp(['jobs', '--limit', bad, '--state-dir', dir]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/is not a limit/);
    }
    const show = await ffrtmp(['jobs', 'show', 'second', '--state-dir', dir]);
    expect(show.code).toBe(0);
    expect(JSON.parse(show.stdout)).toMatchObject({ job_id: 'second', exit_code: 0 });
    expect(show.stderr).toMatch(/has 2 Results; showing the latest/);
    const missing = await ffrtmp(['jobs', 'show', 'nope', '--state-dir', dir]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no job nope/);
    const empty = await ffrtmp(['jobs', '--state-dir', path.join(dir, 'none')]);
    expect(empty.code).toBe(0);
    expect(empty.stdout).toMatch(/^no jobs in /);
  });

  it('reports a torn line on stderr and still lists the rest; FFRTMP_STATE_DIR is honoured', async () => {
    const dir = newDir();
    new Journal({ dir }).recorder().finished(result('ok-1'), runIdOf('ok-1'));
    fs.appendFileSync(path.join(dir, 'journal.jsonl'), '{"type":"result","v":1,"run_id":"x","job_id":"torn');
    const r = await ffrtmp(['jobs', '--json'], { env: { FFRTMP_STATE_DIR: dir } });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).map((x: Result) => x.job_id)).toEqual(['ok-1']);
    expect(r.stderr).toMatch(/journal\.jsonl:2: incomplete last line/);
  });
});

describe('ffrtmp recover', () => {
  it('adopts an orphan whose wrapper was killed -9 and records its real exit once', async () => {
    const dir = newDir();
    // Long enough for two CLI starts on a loaded machine: the workload must still run when
    // recover looks, or it is (rightly) `exit_unobserved`.
    const pid = await orphanedWorkload(dir, 'cli-orphan', 'sleep 4; exit 5');
    const dry = await ffrtmp(['recover', '--dry-run', '--state-dir', dir]);
    expect(dry.stdout).toMatch(new RegExp(`^orphan +cli-orphan pid=${pid} `, 'm'));
    const r = await ffrtmp(['recover', '--state-dir', dir]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/adopted job cli-orphan/);
    const m = summary(r.stderr);
    expect(m).not.toBeNull();
    expect(m).toMatchObject({ job: 'cli-orphan', reason: 'observed_to_completion' });
    expect(['5', 'unknown']).toContain(m.exit); // 5 where the kernel has PIDFD_INFO_EXIT
    const results = readJournal(dir).records.filter((x) => x.type === 'result');
    expect(results).toHaveLength(1);
    const again = await ffrtmp(['recover', '--state-dir', dir, '--log-format', 'json']);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stderr.trim())).toMatchObject({ event: 'recover_done' });
  }, 20_000);

  it('--log-format json: one JSON object per settled job', async () => {
    const dir = newDir();
    const pid = await orphanedWorkload(dir, 'gone-job', 'exit 0');
    await waitFor(() => readStartTimeTicks(pid) === null);
    const r = await ffrtmp(['recover', '--state-dir', dir, '--log-format', 'json']);
    expect(r.code).toBe(0);
    const obj = JSON.parse(r.stderr.trim());
    expect(obj).toMatchObject({ event: 'job_result', job_id: 'gone-job', platform_sla_reason: 'exit_unobserved', exit_code: null });
    expect(obj.summary).toMatch(SUMMARY_LINE);
  });
});

describe('ffrtmp serve', () => {
  it('adopts orphans at start, serves them, and on SIGTERM stops cleanly while the workload continues', async () => {
    const dir = newDir();
    const pid = await orphanedWorkload(dir, 'served-orphan', 'sleep 30');
    const serve = startFfrtmp(['serve', '--listen', '127.0.0.1:0', '--state-dir', dir]);
    children.push(serve);
    const url = (await waitFor(() => /listening on (http:\/\/\S+)/.exec(serve.output().stderr)))[1]!;
    await waitFor(() => /adopted job served-orphan/.test(serve.output().stderr));
    const health = (await (await fetch(`${url}/health`)).json()) as { observer_backend: string };
    expect(health).toMatchObject({ status: 'ok', journal: { writable: true } });
    expect(['pidfd', 'polling']).toContain(health.observer_backend);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/^ffrtmp_jobs_total\{state="started"\} 1$/m);
    expect(metrics).toMatch(/^ffrtmp_jobs_total\{state="completed"\} 0$/m);
    expect(metrics).toMatch(/^ffrtmp_jobs_running 1$/m); // adopted, still running

    serve.kill('SIGTERM');
    const end = await exited(serve);
    expect(end).toEqual({ code: 0, signal: null });
    expect(serve.output().stderr).toMatch(/serve stopping \(SIGTERM\); attached workloads continue/);
    expect(isAlive(pid)).toBe(true);
    // no Result was made up for the job still running: it is still an orphan
    expect(readJournal(dir).records.filter((r) => r.type === 'result')).toEqual([]);
  }, 20_000);

  it('real jobs: deaths by signal apart from non-zero exits, violations by reason, /violations with time and detail', async () => {
    const dir = newDir();
    const runs = await Promise.all([
      ffrtmp(['run', '--state-dir', dir, '--job-id', 'ok', '--', 'true']),
      ffrtmp(['run', '--state-dir', dir, '--job-id', 'failed', '--', 'sh', '-c', 'exit 3']),
      ffrtmp(['run', '--state-dir', dir, '--job-id', 'signalled', '--', 'sh', '-c', 'kill -KILL $$']),
      ffrtmp(['run', '--state-dir', dir, '--job-id', 'ungoverned', '--cgroup-root', '/tmp', '--memory-max', '64M', '--', 'true']),
    ]);
    expect(runs.map((r) => r.code)).toEqual([0, 3, 137, 0]);
    // an orphan whose process is gone before anyone adopts it: serve records exit_unobserved
    const pid = await orphanedWorkload(dir, 'vanished', 'exit 0');
    await waitFor(() => readStartTimeTicks(pid) === null);
    const serve = startFfrtmp(['serve', '--listen', '127.0.0.1:0', '--state-dir', dir]);
    children.push(serve);
    const url = (await waitFor(() => /listening on (http:\/\/\S+)/.exec(serve.output().stderr)))[1]!;
    await waitFor(() => readJournal(dir).records.some((r) => r.type === 'result' && r.job_id === 'vanished'));

    const metrics = await (await fetch(`${url}/metrics`)).text();
    const value = (series: string): string | undefined => metrics.split('\n').find((l) => l.startsWith(`${series} `))?.slice(series.length + 1);
    expect(['0', 'non_zero', 'signal', 'unknown'].map((e) => value(`ffrtmp_jobs_by_exit_total{exit="${e}"}`))).toEqual(['2', '1', '1', '1']);
    expect(value('ffrtmp_violations_total{reason="cgroup_unavailable"}')).toBe('1');
    expect(value('ffrtmp_violations_total{reason="exit_unobserved"}')).toBe('1');
    expect(value('ffrtmp_violations_total{reason="limit_not_applied"}')).toBe('0');
    expect(value('ffrtmp_platform_sla_total{compliant="false"}')).toBe('2');
    expect(value('ffrtmp_jobs_running')).toBe('0');

    const end = (job: string) => readJournal(dir).records.find((r) => r.type === 'result' && r.job_id === job) as Result;
    expect(await (await fetch(`${url}/violations`)).json()).toEqual([
      {
        job_id: 'vanished', reason: 'exit_unobserved', duration: end('vanished').processing_seconds, exit_code: null, pid,
        time: end('vanished').end_time,
        detail: 'the wrapper died and the process was already gone when it was adopted: nobody observed its end',
      },
      {
        job_id: 'ungoverned', reason: 'cgroup_unavailable', duration: end('ungoverned').processing_seconds, exit_code: 0, pid: end('ungoverned').pid,
        time: end('ungoverned').end_time, detail: '--cgroup-root /tmp is not inside a cgroup mount',
      },
    ]);
  }, 20_000);

  it('rejects a bad --listen (exit 2) and reports a taken port (exit 125)', async () => {
    const bad = await ffrtmp(['serve', '--listen', 'nonsense', '--state-dir', newDir()]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/HOST:PORT/);
    const dir = newDir();
    const first = startFfrtmp(['serve', '--listen', '127.0.0.1:0', '--state-dir', dir, '--no-recover']);
    children.push(first);
    const url = (await waitFor(() => /listening on (http:\/\/\S+)/.exec(first.output().stderr)))[1]!;
    const taken = await ffrtmp(['serve', '--listen', url.replace('http://', ''), '--state-dir', dir, '--no-recover']);
    expect(taken.code).toBe(125);
    expect(taken.stderr).toMatch(/cannot listen on .*EADDRINUSE/);
  });
});
