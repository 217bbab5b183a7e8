/**
 * `ffrtmp watch` end to end, with real processes: copies of `sleep` under a name of the test's own
 * (so that the watch of this file never touches another file's processes), started by shells that
 * are not children of the daemon. Every daemon is stopped and every target ended, pass or fail.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { CLI, exited, ffrtmp, isAlive, killQuietly, parseJsonLines, startFfrtmp, testTempDir, waitFor } from '../helpers';

const dir = testTempDir('watch');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const daemons: ChildProcess[] = [];
const targets: number[] = [];
afterEach(async () => {
  for (const d of daemons.splice(0)) {
    if (d.exitCode === null && d.signalCode === null) {
      d.kill('SIGTERM');
      await exited(d);
    }
  }
  for (const pid of targets.splice(0)) killQuietly(pid);
});

let seq = 0;
/** A fresh target name (≤ 15 bytes: the connector matches `comm`) and its binary, a copy of sleep. */
function newTarget(): { name: string; bin: string; home: string } {
  const name = `wt${randomBytes(3).toString('hex')}${seq++}`;
  const home = join(dir, name);
  mkdirSync(home, { recursive: true });
  const bin = join(home, name);
  copyFileSync('/bin/sleep', bin);
  return { name, bin, home };
}

/** Starts `bin seconds` from a shell that is not the daemon's child, in `cwd`; returns its pid. */
function startTarget(bin: string, seconds: number, cwd: string): number {
  const sh = spawn('sh', ['-c', `exec "${bin}" ${seconds}`], { cwd, stdio: 'ignore', detached: true });
  sh.unref();
  targets.push(sh.pid!);
  return sh.pid!;
}

interface Daemon {
  child: ChildProcess;
  lines(): Record<string, unknown>[];
  url: string | null;
  stateDir: string;
}

/** `ffrtmp watch` with JSON logs, until its start line (or its exit). */
async function startWatch(args: string[], stateDir = join(dir, `state-${seq++}`)): Promise<Daemon> {
  const child = startFfrtmp(['watch', '--log-format', 'json', '--listen', '127.0.0.1:0', '--state-dir', stateDir, ...args]);
  daemons.push(child);
  const lines = (): Record<string, unknown>[] => parseJsonLines(child.output().stderr);
  const started = await waitFor(() => lines().find((l) => l.event === 'watch_started') ?? (child.exitCode !== null ? { event: 'exited' } : undefined), 30_000);
  if (started.event !== 'watch_started') throw new Error(`watch did not start: ${child.output().stderr}`);
  return { child, lines, url: (started.url as string | null) ?? null, stateDir };
}

function governedLine(d: Daemon, pid: number): Record<string, unknown> | undefined {
  return d.lines().find((l) => l.event === 'governed' && l.pid === pid);
}

function journal(stateDir: string): Record<string, unknown>[] {
  try {
    return parseJsonLines(readFileSync(join(stateDir, 'journal.jsonl'), 'utf8'));
  } catch {
    return [];
  }
}

/** The v1 (or v2) memory limit of a job cgroup directory as the kernel reports it. */
function memoryLimit(cgroup: string): number {
  for (const f of ['memory.limit_in_bytes', 'memory.max']) {
    try {
      return Number(readFileSync(join(cgroup, f), 'utf8').trim());
    } catch {
      /* the other version */
    }
  }
  throw new Error(`no memory limit file in ${cgroup}`);
}

async function stop(d: Daemon): Promise<{ code: number | null }> {
  d.child.kill('SIGTERM');
  const r = await exited(d.child);
  return { code: r.code };
}

describe.each([['events'], ['scan']])('ffrtmp watch --discovery %s', (mode) => {
  it('discovers a target started by a shell, limits it (read back), journals it and records its end', async () => {
    const t = newTarget();
    const d = await startWatch(['--discovery', mode, '--scan-interval', '200ms', '--target', t.name, '--memory-max', '64M']);
    const pid = startTarget(t.bin, 1, t.home);
    const g = await waitFor(() => governedLine(d, pid), 20_000);
    expect(g).toMatchObject({ command: t.name, job_id: `auto-${t.name}-${pid}`, path: mode === 'events' ? 'event' : 'scan' });
    expect(memoryLimit(g.cgroup as string)).toBe(64 * 1024 * 1024);
    // Its end: one Result with the real exit status.
    const res = await waitFor(() => journal(d.stateDir).find((r) => r.type === 'result' && r.pid === pid), 20_000);
    expect(res).toMatchObject({ job_id: `auto-${t.name}-${pid}`, mode: 'attach', exit_code: 0, platform_sla_reason: 'observed_to_completion' });
    await waitFor(() => d.lines().some((l) => l.job_id === `auto-${t.name}-${pid}` && l.platform_sla_reason === 'observed_to_completion'), 10_000);
    expect(journal(d.stateDir).filter((r) => r.type === 'started' && r.pid === pid)).toHaveLength(1);
    expect((await stop(d)).code).toBe(0);
  });
});

describe('ffrtmp watch', () => {
  it('a process already running at start is governed by the first scan; a process of another name is not touched', async () => {
    const t = newTarget();
    const other = newTarget();
    const before = startTarget(t.bin, 30, t.home);
    const stranger = startTarget(other.bin, 30, other.home);
    await waitFor(() => readFileSync(`/proc/${before}/cmdline`, 'latin1').includes(t.name));
    const d = await startWatch(['--target', t.name]);
    expect(await waitFor(() => governedLine(d, before), 10_000)).toMatchObject({ path: 'scan' });
    await new Promise((r) => setTimeout(r, 300));
    expect(governedLine(d, stranger)).toBeUndefined();
    // No limits: observed only, nothing moved.
    expect(governedLine(d, before)!.cgroup ?? null).toBeNull();
    expect((await stop(d)).code).toBe(0);
    // Stopping leaves the workload running, detached (its job open for the next watch or recover).
    expect(isAlive(before)).toBe(true);
    expect(journal(d.stateDir).filter((r) => r.type === 'detached')).toHaveLength(1);
    killQuietly(before);
    killQuietly(stranger);
  });

  it('a run job is never attached twice: `ffrtmp run -- <target>` beside the daemon', async () => {
    const t = newTarget();
    const d = await startWatch(['--target', t.name, '--log-level', 'debug']);
    const r = await ffrtmp(['run', '--state-dir', d.stateDir, '--job-id', 'by-run', '--', t.bin, '0.5'], { timeoutMs: 30_000 });
    expect(r.code).toBe(0);
    await new Promise((res) => setTimeout(res, 300));
    expect(d.lines().filter((l) => l.event === 'governed')).toEqual([]);
    const results = journal(d.stateDir).filter((x) => x.type === 'result');
    expect(results.map((x) => x.job_id)).toEqual(['by-run']);
    expect(d.lines().some((l) => l.event === 'skipped' && l.why === 'governed')).toBe(true);
    expect((await stop(d)).code).toBe(0);
  });

  it('stop and restart with 20 governed targets: none attached twice, each ends with one Result', async () => {
    const t = newTarget();
    const d1 = await startWatch(['--target', t.name]);
    const pids = Array.from({ length: 20 }, () => startTarget(t.bin, 30, t.home));
    await waitFor(() => pids.every((p) => governedLine(d1, p)), 30_000);
    expect((await stop(d1)).code).toBe(0);
    expect(pids.every(isAlive)).toBe(true);
    const d2 = await startWatch(['--target', t.name], d1.stateDir);
    await waitFor(() => d2.lines().filter((l) => l.event === 'adopted').length === 20, 30_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(d2.lines().filter((l) => l.event === 'governed')).toEqual([]);
    for (const p of pids) killQuietly(p);
    await waitFor(() => journal(d2.stateDir).filter((r) => r.type === 'result').length === 20, 30_000);
    const results = journal(d2.stateDir).filter((r) => r.type === 'result');
    expect(new Set(results.map((r) => r.pid))).toEqual(new Set(pids));
    expect(journal(d2.stateDir).filter((r) => r.type === 'started')).toHaveLength(20);
    expect((await stop(d2)).code).toBe(0);
  });

  it('kill -9 of the daemon, then a new one: it adopts the 5 it was governing (never attaches them again), each ends with one Result', async () => {
    const t = newTarget();
    const d1 = await startWatch(['--target', t.name, '--memory-max', '64M']);
    const pids = Array.from({ length: 5 }, () => startTarget(t.bin, 30, t.home));
    await waitFor(() => pids.every((p) => governedLine(d1, p)), 30_000);
    d1.child.kill('SIGKILL');
    await exited(d1.child);
    expect(pids.every(isAlive)).toBe(true);
    const d2 = await startWatch(['--target', t.name, '--memory-max', '64M'], d1.stateDir);
    await waitFor(() => d2.lines().filter((l) => l.event === 'adopted').length === 5, 30_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(d2.lines().filter((l) => l.event === 'governed')).toEqual([]);
    for (const p of pids) killQuietly(p);
    await waitFor(() => journal(d2.stateDir).filter((r) => r.type === 'result').length === 5, 30_000);
    const results = journal(d2.stateDir).filter((r) => r.type === 'result');
    expect(new Set(results.map((r) => r.pid))).toEqual(new Set(pids));
    // Their leaves were removed by the adopter, with the usage read first.
    for (const r of results) expect((r.cgroup as { removal: unknown }).removal).toEqual({ removed: true, left: [] });
    expect((await stop(d2)).code).toBe(0);
  });

  it('/health and /metrics say what runs', async () => {
    const t = newTarget();
    const d = await startWatch(['--target', t.name]);
    const pid = startTarget(t.bin, 30, t.home);
    await waitFor(() => governedLine(d, pid), 20_000);
    const health = (await (await fetch(`${d.url}/health`)).json()) as Record<string, unknown>;
    expect(health).toMatchObject({ status: 'healthy', reasons: [], governed_now: 1, discovery: { mode: 'events', requested: 'auto' } });
    const metrics = await (await fetch(`${d.url}/metrics`)).text();
    expect(metrics).toMatch(/^ffrtmp_watch_governed 1$/m);
    expect(metrics).toMatch(/^ffrtmp_watch_discovered_total\{path="event"\} 1$/m);
    expect(metrics).toMatch(/^ffrtmp_watch_discovery_latency_seconds_count\{path="event"\} 1$/m);
    expect(metrics).toMatch(/^ffrtmp_watch_discovery_mode\{mode="events"\} 1$/m);
    // Non-targets are dropped in C and counted there, even when no target follows them.
    const filteredBefore = Number(/^ffrtmp_watch_exec_events_total\{where="filtered_in_c"\} (\d+)$/m.exec(metrics)?.[1]);
    spawnSync('sh', ['-c', 'i=0; while [ $i -lt 50 ]; do /bin/true; i=$((i+1)); done']);
    let after = '';
    for (let i = 0; i < 100; i++) {
      after = await (await fetch(`${d.url}/metrics`)).text();
      if (Number(/^ffrtmp_watch_exec_events_total\{where="filtered_in_c"\} (\d+)$/m.exec(after)?.[1]) >= filteredBefore + 50) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(Number(/^ffrtmp_watch_exec_events_total\{where="filtered_in_c"\} (\d+)$/m.exec(after)?.[1])).toBeGreaterThanOrEqual(filteredBefore + 50);
    expect(after).toMatch(/^ffrtmp_watch_exec_events_total\{where="crossed"\} 1$/m);
    expect(after).toMatch(/^ffrtmp_watch_connector_wakeups_total [1-9]\d*$/m);
    killQuietly(pid);
    await waitFor(() => journal(d.stateDir).some((r) => r.type === 'result'), 20_000);
    expect((await stop(d)).code).toBe(0);
  });
});

describe('ffrtmp watch: overruns', () => {
  it('a stalled daemon with a tiny buffer misses events: the overrun is counted and a rescan finds every target (50 among 5000 execs)', async () => {
    const t = newTarget();
    const d = await startWatch(['--target', t.name, '--event-buffer', '1', '--discovery', 'events']);
    // Stop the daemon (its connector thread too) while the burst runs: the kernel queue overflows.
    d.child.kill('SIGSTOP');
    const burst = spawn('sh', ['-c', `i=0; while [ $i -lt 5000 ]; do /bin/true; if [ $((i % 100)) -eq 0 ]; then "${t.bin}" 60 & fi; i=$((i+1)); done`], { cwd: t.home, stdio: 'ignore' });
    await exited(burst);
    const started = await waitFor(() => {
      const pids = spawnSync('pgrep', ['-x', t.name], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number);
      return pids.length === 50 ? pids : undefined;
    }, 20_000);
    targets.push(...started);
    d.child.kill('SIGCONT');
    await waitFor(() => started.every((p) => governedLine(d, p)), 30_000);
    const lines = d.lines();
    expect(lines.filter((l) => l.event === 'governed')).toHaveLength(50);
    const overruns = lines.filter((l) => l.event === 'overrun').reduce((n, l) => n + (l.count as number), 0);
    expect(overruns).toBeGreaterThanOrEqual(1);
    // Found by the rescan the overrun triggered (events were lost), some perhaps by the events that got through.
    expect(lines.filter((l) => l.event === 'governed' && l.path === 'reconcile').length).toBeGreaterThan(0);
    const metrics = await (await fetch(`${d.url}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`^ffrtmp_watch_overruns_total ${overruns}$`, 'm'));
    const health = (await (await fetch(`${d.url}/health`)).json()) as { status: string; reasons: string[] };
    expect(health.status).toBe('degraded');
    expect(health.reasons.join(' ')).toMatch(/overran/);
    for (const p of started) killQuietly(p);
    await waitFor(() => journal(d.stateDir).filter((r) => r.type === 'result').length === 50, 30_000);
    expect((await stop(d)).code).toBe(0);
  }, 120_000); // its own waits add up beyond the default 30 s on a loaded machine
});

describe('ffrtmp watch: settings', () => {
  it('filters by working directory prefix, per-command limits, and a too-young process is governed once old enough', async () => {
    const a = newTarget();
    const b = newTarget();
    const live = join(dir, `live-${seq++}`);
    mkdirSync(join(live, 'cam1'), { recursive: true });
    const cfg = join(dir, `cfg-${seq++}.yaml`);
    writeFileSync(cfg, [
      `target_commands: [${a.name}, ${b.name}]`,
      'default_limits: { memory_max: 64M }',
      `filters: { allowed_dirs: ["${live}"] }`,
      'commands:',
      `  ${b.name}:`,
      '    limits: { memory_max: 32M }',
      '    filters: { min_runtime: 700ms }',
      '',
    ].join('\n'));
    const d = await startWatch(['--watch-config', cfg, '--log-level', 'debug']);
    const outside = startTarget(a.bin, 30, a.home); // not under allowed_dirs
    const inA = startTarget(a.bin, 30, join(live, 'cam1')); // below it: prefix, not equality
    const t0 = Date.now();
    const inB = startTarget(b.bin, 30, live);
    const ga = await waitFor(() => governedLine(d, inA), 20_000);
    expect(memoryLimit(ga.cgroup as string)).toBe(64 << 20);
    const gb = await waitFor(() => governedLine(d, inB), 20_000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(700);
    expect(memoryLimit(gb.cgroup as string)).toBe(32 << 20);
    await new Promise((r) => setTimeout(r, 500));
    expect(governedLine(d, outside)).toBeUndefined();
    // Left alone once, logged once (at debug level), not at every look.
    const filtered = d.lines().filter((l) => l.event === 'skipped' && l.pid === outside);
    expect(filtered).toHaveLength(1);
    expect(filtered[0]).toMatchObject({ why: 'filtered' });
    expect(String(filtered[0]!.detail)).toContain('allowed_dirs');
    for (const p of [outside, inA, inB]) killQuietly(p);
    await waitFor(() => journal(d.stateDir).filter((r) => r.type === 'result').length === 2, 20_000);
    expect((await stop(d)).code).toBe(0);
  });

  it('SIGHUP reloads: new limits apply to new processes and the change is reported; a bad file keeps the settings', async () => {
    const t = newTarget();
    const cfg = join(dir, `cfg-${seq++}.yaml`);
    writeFileSync(cfg, `target_commands: [${t.name}]\ndefault_limits: { memory_max: 64M }\n`);
    const d = await startWatch(['--watch-config', cfg]);
    const first = startTarget(t.bin, 30, t.home);
    expect(memoryLimit((await waitFor(() => governedLine(d, first), 20_000)).cgroup as string)).toBe(64 << 20);
    writeFileSync(cfg, `target_commands: [${t.name}]\ndefault_limits: { memory_max: 96M }\n`);
    d.child.kill('SIGHUP');
    const reloaded = await waitFor(() => d.lines().find((l) => l.event === 'reloaded'), 10_000);
    expect(reloaded.changes).toEqual(['default limits: memory_max 64M → 96M']);
    const second = startTarget(t.bin, 30, t.home);
    expect(memoryLimit((await waitFor(() => governedLine(d, second), 20_000)).cgroup as string)).toBe(96 << 20);
    expect(memoryLimit(governedLine(d, first)!.cgroup as string)).toBe(64 << 20); // the running one keeps its limit
    writeFileSync(cfg, `target_commands: [${t.name}]\ndefault_limits: { memory_max: lots }\n`);
    d.child.kill('SIGHUP');
    const refused = await waitFor(() => d.lines().find((l) => l.event === 'reload_failed'), 10_000);
    expect(refused.message).toBe(`reload refused, settings unchanged: ${cfg}:2: default_limits.memory_max: expected a size like 512M, 2G or max; got "lots"`);
    const third = startTarget(t.bin, 30, t.home);
    expect(memoryLimit((await waitFor(() => governedLine(d, third), 20_000)).cgroup as string)).toBe(96 << 20);
    for (const p of [first, second, third]) killQuietly(p);
    await waitFor(() => journal(d.stateDir).filter((r) => r.type === 'result').length === 3, 20_000);
    expect((await stop(d)).code).toBe(0);
  });

  it('a bad config file: one line naming file, line and key; exit 2; nothing started', async () => {
    const cfg = join(dir, `cfg-${seq++}.yaml`);
    writeFileSync(cfg, 'target_commands: [ffmpeg]\ndefault_limits:\n  memory_mx: 1G\n');
    const stateDir = join(dir, `state-${seq++}`);
    for (const args of [['--watch-config', cfg], ['--check-config', cfg]]) {
      const r = await ffrtmp(['watch', ...args, '--state-dir', stateDir, '--listen', '127.0.0.1:0']);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(`ffrtmp: ${cfg}:3: default_limits.memory_mx: unknown key; did you mean memory_max?\n`);
    }
    const bad = await ffrtmp(['watch', '--scan-interval', 'soon', '--state-dir', stateDir]);
    expect(bad.code).toBe(2);
    expect(bad.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    expect(() => readFileSync(join(stateDir, 'journal.jsonl'))).toThrow();
  });

  it('--check-config says what a valid file means (the shipped example)', async () => {
    const r = await ffrtmp(['watch', '--check-config', join(__dirname, '../../deployment/watch.yaml')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/watch\.yaml: valid\n/);
    expect(r.stdout).toContain('gst-launch-1.0');
  });
});

describe('ffrtmp watch: where the process connector cannot be used (a user namespace)', () => {
  const inUserNs = (args: string[]): ChildProcess =>
    spawn('unshare', ['--user', '--map-root-user', process.execPath, CLI, 'watch', '--log-format', 'json', '--listen', '127.0.0.1:0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });

  it('--discovery events refuses to start (exit 125, one line); auto falls back to the scan and says so', async () => {
    const stateDir = join(dir, `state-${seq++}`);
    const strict = inUserNs(['--discovery', 'events', '--state-dir', stateDir]);
    let err = '';
    strict.stderr!.on('data', (c) => (err += c));
    daemons.push(strict);
    const r = await exited(strict);
    expect(r.code).toBe(125);
    expect(parseJsonLines(err).map((l) => l.event)).toEqual(['watch_failed']);
    const t = newTarget();
    const auto = inUserNs(['--target', t.name, '--scan-interval', '200ms', '--state-dir', stateDir]);
    daemons.push(auto);
    let out = '';
    auto.stderr!.on('data', (c) => (out += c));
    const started = await waitFor(() => parseJsonLines(out).find((l) => l.event === 'watch_started'), 20_000);
    expect(started).toMatchObject({ discovery: 'scan', requested: 'auto' });
    expect(String(started.fallback_reason)).not.toBe('');
    const health = (await (await fetch(`${started.url as string}/health`)).json()) as { status: string; reasons: string[] };
    expect(health.status).toBe('degraded');
    expect(health.reasons[0]).toMatch(/^discovery falls back to a \/proc scan every 0\.2 s: /);
    const pid = startTarget(t.bin, 30, t.home);
    await waitFor(() => parseJsonLines(out).find((l) => l.event === 'governed' && l.pid === pid), 20_000);
    auto.kill('SIGTERM');
    expect((await exited(auto)).code).toBe(0);
    killQuietly(pid);
    const rec = await ffrtmp(['recover', '--state-dir', stateDir]);
    expect(rec.code).toBe(0);
  });
});

describe('ffrtmp watch: races and privileges', () => {
  it('targets that exit at once are skipped cleanly: no attach failure, every one governed has its Result', async () => {
    const t = newTarget();
    const d = await startWatch(['--target', t.name, '--memory-max', '64M']);
    const burst = spawn('sh', ['-c', `i=0; while [ $i -lt 40 ]; do "${t.bin}" 0; i=$((i+1)); done`], { cwd: t.home, stdio: 'ignore' });
    await exited(burst);
    const marker = startTarget(t.bin, 1, t.home); // the last one lives: once it is governed, the burst has been seen
    await waitFor(() => governedLine(d, marker), 20_000);
    await waitFor(() => journal(d.stateDir).some((r) => r.type === 'result' && r.pid === marker), 20_000);
    const lines = d.lines();
    expect(lines.filter((l) => l.event === 'attach_failed')).toEqual([]);
    const governed = lines.filter((l) => l.event === 'governed').map((l) => l.pid);
    const results = journal(d.stateDir).filter((r) => r.type === 'result');
    expect(new Set(results.map((r) => r.pid))).toEqual(new Set(governed));
    expect(results).toHaveLength(governed.length);
    const health = (await (await fetch(`${d.url}/health`)).json()) as { status: string };
    expect(health.status).toBe('healthy');
    expect((await stop(d)).code).toBe(0);
  });

  it.skipIf(process.geteuid?.() !== 0)('an unprivileged daemon on 6.6+: events with the kernel filter, a target of its own user observed', async () => {
    const [maj, min] = (readFileSync('/proc/sys/kernel/osrelease', 'latin1').match(/^(\d+)\.(\d+)/) ?? []).slice(1).map(Number);
    if (!(maj! > 6 || (maj === 6 && min! >= 6))) return;
    const home = join(dir, `nobody-${seq++}`);
    mkdirSync(home);
    chmodSync(dir, 0o755);
    chmodSync(home, 0o777);
    const name = `wn${randomBytes(3).toString('hex')}`;
    const bin = join(home, name);
    copyFileSync('/bin/sleep', bin);
    chmodSync(bin, 0o755);
    const asNobody = ['--reuid=65534', '--regid=65534', '--clear-groups'];
    const child = spawn('setpriv', [...asNobody, process.execPath, CLI, 'watch', '--log-format', 'json', '--listen', '127.0.0.1:0', '--state-dir', join(home, 'state'), '--target', name, '--discovery', 'events'], {
      stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HOME: '/nonexistent' },
    });
    daemons.push(child);
    let err = '';
    child.stderr!.on('data', (c) => (err += c));
    const started = await waitFor(() => parseJsonLines(err).find((l) => l.event === 'watch_started') ?? (child.exitCode !== null ? { event: 'exited' } : undefined), 20_000);
    expect(started, err).toMatchObject({ event: 'watch_started', discovery: 'events', kernel_filter: true });
    const t = spawn('setpriv', [...asNobody, bin, '1'], { cwd: home, stdio: 'ignore' });
    const g = await waitFor(() => parseJsonLines(err).find((l) => l.event === 'governed'), 20_000);
    expect(g).toMatchObject({ pid: t.pid, path: 'event', cgroup: null });
    await exited(t);
    const res = await waitFor(() => parseJsonLines(err).find((l) => l.job_id === g.job_id && l.platform_sla_reason !== undefined), 20_000);
    expect(res).toMatchObject({ platform_sla_reason: 'observed_to_completion' });
    child.kill('SIGTERM');
    expect((await exited(child)).code).toBe(0);
  });
});
