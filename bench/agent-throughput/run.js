'use strict';
/**
 * Agent throughput: jobs per second of `true` through a real BullMQ queue on a real redis-server,
 * in one run, side by side (a benchmark: it prints PASS/FAIL against the issue's goal; anything
 * the agent does that does not add up (a job not completed, completed twice, a Result missing or
 * doubled in the journal, a ledger entry left, a `problem` line) is reported as an anomaly and
 * makes the exit status 1). Needs redis-server, root and cgroups (the wrapper path), and the
 * built package (`npm run build`; the keeper/addon from `npm run build:native` if present).
 *
 *   node bench/agent-throughput/run.js [--quick] [--n 200] [--concurrency 1,4]
 *        [--paths bare,legacy,wrapper,wrapper-tmpfs] [--no-save]
 *
 *   --quick: 50 jobs per cell.
 *
 * Paths, each on its own queue, same Redis, same concurrency, same N:
 *  - bare: a BullMQ Worker in this process with a processor function that spawns `true` with
 *    child_process and returns its exit code (what a worker without ffrtmp does; the baseline).
 *  - legacy: `ffrtmp agent` (the real CLI, from a snapshot of dist/), jobs without wrapper_enabled.
 *  - wrapper: the same agent, jobs with `wrapper_enabled: true` (governed: cgroup leaf under a
 *    private root, keeper, journal), the journal on the disk of the temp dir (as in production).
 *  - wrapper-tmpfs: the same with the state dir (journal + ledger) on /dev/shm: the difference to
 *    `wrapper` is what their fsyncs cost.
 * Load is closed-loop: the producer keeps exactly `concurrency` jobs in the queue-or-running (a new
 * one is added when one completes, seen through QueueEvents), so enqueue -> completed is the time
 * of one job through the path, not a wait behind a backlog. Per job, from the queue's own
 * timestamps: e2e = finishedOn - timestamp, wait = processedOn - timestamp (the fetch), service =
 * finishedOn - processedOn. Throughput = N / (last finishedOn - first timestamp). Overhead of a
 * path = its e2e p50 - bare's e2e p50 (and the ratio). The wrapper path's service time is split
 * with the Result it returns (start_time / end_time, ms): take -> workload started (ledger
 * create + fsync, cgroup leaf, keeper, spawn, journal `started`), workload life as the core saw it,
 * ended -> queue told (journal `result` + fsync, ledger update, moveToCompleted).
 * CPU: the agent's utime + stime (every thread, not its children) per job; the bench process's
 * (producer + QueueEvents, and in the bare cell the worker too) per job. "worker CPU" in the
 * table is the agent's, or for bare (in parentheses) the whole bench process's.
 *
 * Everything is removed at the end, pass or fail, and on SIGINT/SIGTERM: agents SIGTERMed,
 * `recover` on every state dir, the private cgroup root (FFRTMP_CGROUP_ROOT=<memory mount>/
 * ffrtmp-bench-agent-throughput-<pid>, every leaf then the root, in every hierarchy), Redis
 * stopped, temp dirs removed. Output: a table on stdout, progress on stderr, everything in
 * bench/results/agent-throughput-latest.json.
 */
const { execFileSync, spawn, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');
const DIST = path.join(ROOT, 'dist');
const RESULTS_DIR = path.join(ROOT, 'bench', 'results');
const GOAL_OVERHEAD_MS = 20;
const ALL_PATHS = ['bare', 'legacy', 'wrapper', 'wrapper-tmpfs'];

const USAGE = 'usage: node bench/agent-throughput/run.js [--quick] [--n 200] [--concurrency 1,4] [--paths bare,legacy,wrapper,wrapper-tmpfs] [--no-save]\n';

function parseArgs(argv) {
  const o = { quick: false, n: 200, concurrency: [1, 4], paths: ALL_PATHS.slice(), save: true };
  let nGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') o.quick = true;
    else if (a === '--n') (o.n = Number(argv[++i])), (nGiven = true);
    else if (a === '--concurrency') o.concurrency = argv[++i].split(',').map(Number);
    else if (a === '--paths') o.paths = argv[++i].split(',');
    else if (a === '--no-save') o.save = false;
    else (process.stderr.write(USAGE), process.exit(2));
  }
  if (o.quick && !nGiven) o.n = 50;
  if (!Number.isInteger(o.n) || o.n < 1 || o.concurrency.some((c) => !Number.isInteger(c) || c < 1)) (process.stderr.write(USAGE), process.exit(2));
  for (const p of o.paths) if (!ALL_PATHS.includes(p)) (process.stderr.write(`unknown path ${p}\n${USAGE}`), process.exit(2));
  if (!o.paths.includes('bare')) o.paths.unshift('bare'); // the baseline of every ratio
  return o;
}

// ---------------------------------------------------------------------------------------------
// helpers

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (s) => process.stderr.write(`${s}\n`);

function pct(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Nearest-rank percentiles. */
function stats(values) {
  const s = values.filter((v) => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b);
  const r = (x) => (x === null ? null : +x.toFixed(3));
  const mean = s.length ? s.reduce((a, b) => a + b, 0) / s.length : null;
  return { n: s.length, min: r(s[0] ?? null), p50: r(pct(s, 50)), p90: r(pct(s, 90)), p99: r(pct(s, 99)), max: r(s[s.length - 1] ?? null), mean: r(mean) };
}

function fmt(x, digits = 1) {
  if (x === null || x === undefined || Number.isNaN(x)) return '-';
  if (Math.abs(x) >= 100) return x.toFixed(0);
  return x.toFixed(digits);
}

function table(headers, rows) {
  const w = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => `| ${cells.map((c, i) => String(c).padStart(w[i])).join(' | ')} |`;
  return [line(headers), `|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitFor(pred, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

function exited(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => child.once('exit', () => r()));
}

function killQuietly(pid, sig = 'SIGKILL') {
  try {
    process.kill(pid, sig);
  } catch {
    /* gone */
  }
}

/** The cgroup v1 memory mount (or the v2 mount) from /proc/self/mountinfo, and every cgroup mount. */
function cgroupMounts() {
  const mounts = [];
  let memory = null;
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'latin1').split('\n')) {
    const parts = line.split(' ');
    const sep = parts.indexOf('-');
    if (sep < 0) continue;
    const fstype = parts[sep + 1];
    const mp = parts[4];
    const superOpts = (parts[sep + 3] ?? '').split(',');
    if (fstype === 'cgroup') {
      mounts.push({ mountPoint: mp, v2: false });
      if (superOpts.includes('memory')) memory = { mountPoint: mp, v2: false };
    } else if (fstype === 'cgroup2') {
      mounts.push({ mountPoint: mp, v2: true });
    }
  }
  if (memory === null) {
    const v2 = mounts.find((m) => m.v2);
    if (v2) memory = { mountPoint: v2.mountPoint, v2: true };
  }
  return { mounts, memory };
}

/** rmdir every cgroup under `top`, deepest first, then `top` (retrying while tasks leave). */
async function removeTree(top) {
  if (!fs.existsSync(top)) return { existed: false };
  const dirs = [];
  const walk = (d) => {
    dirs.push(d);
    for (const e of fs.readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(path.join(d, e.name));
  };
  try {
    walk(top);
  } catch {
    /* raced */
  }
  dirs.sort((a, b) => b.length - a.length);
  const failed = [];
  for (const d of dirs) {
    let ok = false;
    for (let i = 0; i < 50 && !ok; i++) {
      try {
        fs.rmdirSync(d);
        ok = true;
      } catch (err) {
        if (err.code === 'ENOENT') ok = true;
        else await sleep(100);
      }
    }
    if (!ok) failed.push(d);
  }
  return { existed: true, leaves: dirs.length - 1, removed: failed.length === 0, failed };
}

// ---------------------------------------------------------------------------------------------
// the package snapshot (other work may rebuild dist/ while this runs)

async function snapshotPackage(runDir) {
  const pkg = path.join(runDir, 'pkg');
  for (let waited = 0; ; waited += 5) {
    const missing = ['dist/cli/main.js', 'dist/cli/actions/agent.js', 'dist/agent/agent.js'].filter((f) => !fs.existsSync(path.join(ROOT, f)));
    if (missing.length === 0) break;
    if (waited >= 120) throw new Error(`the build lacks ${missing.join(', ')}: run \`npm run build\` first`);
    if (waited === 0) log(`agent-throughput: the build lacks ${missing.join(', ')}; waiting up to 2 min for \`npm run build\`...`);
    await sleep(5000);
  }
  fs.mkdirSync(pkg);
  fs.cpSync(DIST, path.join(pkg, 'dist'), { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(pkg, 'package.json'));
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(pkg, 'node_modules'));
  let addon = null;
  try {
    const nodeGypBuild = require(path.join(ROOT, 'node_modules', 'node-gyp-build'));
    const addonSrc = nodeGypBuild.path(ROOT);
    const rel = path.relative(ROOT, addonSrc);
    fs.mkdirSync(path.dirname(path.join(pkg, rel)), { recursive: true });
    fs.copyFileSync(addonSrc, path.join(pkg, rel));
    addon = rel;
  } catch {
    /* no addon: the package falls back */
  }
  const keeper = path.join(ROOT, 'build', 'Release', 'ffrtmp-keeper');
  let keeperCopied = false;
  if (fs.existsSync(keeper)) {
    fs.mkdirSync(path.join(pkg, 'build', 'Release'), { recursive: true });
    fs.copyFileSync(keeper, path.join(pkg, 'build', 'Release', 'ffrtmp-keeper'));
    keeperCopied = true;
  }
  let git = null;
  try {
    git = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'native'], { cwd: ROOT, encoding: 'utf8' }).trim();
    if (dirty !== '') git += ` + uncommitted changes in ${dirty.split('\n').length} file(s) of src/ native/`;
  } catch {
    /* not a checkout */
  }
  return { dir: pkg, cli: path.join(pkg, 'dist', 'cli', 'main.js'), addon, keeper: keeperCopied, git };
}

// ---------------------------------------------------------------------------------------------
// Redis

async function startRedis(ctx) {
  const dir = path.join(ctx.runDir, 'redis');
  fs.mkdirSync(dir);
  const port = await freePort();
  const proc = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--daemonize', 'no', '--maxmemory-policy', 'noeviction'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  ctx.redisProc = proc;
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (out += d));
  await waitFor(() => out.includes('Ready to accept connections') || proc.exitCode !== null, 10000, 'redis-server');
  if (proc.exitCode !== null) throw new Error(`redis-server exited ${proc.exitCode}:\n${out}`);
  const version = spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout.trim();
  return { port, url: `redis://127.0.0.1:${port}`, version };
}

// ---------------------------------------------------------------------------------------------
// one cell: a path at a concurrency, N jobs, closed loop

let seq = 0;

async function runCell(ctx, pathName, concurrency) {
  const { Queue, QueueEvents, Worker } = ctx.bullmq;
  const conn = { url: ctx.redis.url, maxRetriesPerRequest: null };
  const tag = `${pathName}-c${concurrency}-${++seq}`;
  const queueName = `atp-${tag}`;
  const n = ctx.opts.n;
  const anomalies = [];
  const queue = new Queue(queueName, { connection: conn });
  const events = new QueueEvents(queueName, { connection: conn });
  queue.on('error', () => {});
  events.on('error', () => {});
  await queue.waitUntilReady();
  await events.waitUntilReady();
  let worker = null;
  let agent = null;
  let stateDir = null;
  const completedSeen = new Map(); // queue job id -> times 'completed' seen
  const failedSeen = [];
  try {
    if (pathName === 'bare') {
      worker = new Worker(
        queueName,
        () =>
          new Promise((resolve, reject) => {
            const c = spawn('true', [], { stdio: 'ignore' });
            c.on('error', reject);
            c.on('exit', (code, signal) => resolve({ exit_code: code, signal }));
          }),
        { connection: conn, concurrency },
      );
      worker.on('error', () => {});
      await worker.waitUntilReady();
    } else {
      const base = pathName === 'wrapper-tmpfs' ? '/dev/shm' : ctx.runDir;
      stateDir = fs.mkdtempSync(path.join(base, `ffrtmp-bench-atp-state-${tag}-`));
      ctx.stateDirs.push(stateDir);
      const args = [
        ctx.pkg.cli, 'agent', '--redis', ctx.redis.url, '--queue', queueName, '--concurrency', String(concurrency),
        '--worker-id', `bench-${tag}`, '--state-dir', stateDir, '--log-format', 'json',
      ];
      agent = spawn(process.execPath, args, {
        env: { ...process.env, FFRTMP_CGROUP_ROOT: ctx.cgroupRoot, FFRTMP_STATE_DIR: stateDir },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      ctx.agents.add(agent);
      agent.out = '';
      agent.err = '';
      agent.stdout.on('data', (d) => (agent.out += d));
      agent.stderr.on('data', (d) => (agent.err += d));
      await waitFor(() => agent.err.includes('agent_started') || agent.err.includes('taking jobs from') || agent.exitCode !== null, 30000, 'the agent banner');
      if (agent.exitCode !== null) throw new Error(`agent exited ${agent.exitCode}:\n${agent.err}`);
    }

    // Closed loop: `concurrency` jobs outstanding at any time.
    let added = 0;
    let done = 0;
    let resolveAll;
    const allDone = new Promise((r) => (resolveAll = r));
    const data = (i) => {
      const id = `${tag}-${i}`;
      if (pathName === 'bare') return { id, command: 'true', args: [] };
      return pathName === 'legacy' ? { id, command: 'true', args: [] } : { id, command: 'true', args: [], wrapper_enabled: true };
    };
    const addOne = () => {
      if (added >= n) return;
      const i = added++;
      queue.add('true', data(i), { jobId: `${tag}-${i}`, attempts: 1, removeOnComplete: false, removeOnFail: false }).catch((err) => anomalies.push({ what: 'add failed', detail: err.message }));
    };
    const onEnd = (id) => {
      done++;
      if (done >= n) resolveAll();
      else addOne();
    };
    events.on('completed', ({ jobId }) => {
      const k = completedSeen.get(jobId) ?? 0;
      completedSeen.set(jobId, k + 1);
      if (k === 0) onEnd(jobId);
    });
    events.on('failed', ({ jobId, failedReason }) => {
      failedSeen.push({ jobId, failedReason });
      onEnd(jobId);
    });
    const t0 = Date.now();
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < concurrency; i++) addOne();
    const timeoutMs = Math.max(60000, n * 1000);
    const timer = setTimeout(() => resolveAll('timeout'), timeoutMs);
    const why = await allDone;
    clearTimeout(timer);
    const wallMs = Date.now() - t0;
    const cpuMs = agent !== null ? agentCpuMs(agent.pid) : null;
    const benchCpu = process.cpuUsage(cpu0);
    const benchCpuMs = (benchCpu.user + benchCpu.system) / 1000;
    if (why === 'timeout') anomalies.push({ what: 'cell timed out', detail: `${done}/${n} jobs ended after ${timeoutMs} ms` });
    await sleep(300); // late duplicates, if any

    // Read every job back from the queue.
    const e2e = [], wait = [], service = [], take = [], life = [], tell = [];
    const byState = {};
    let firstTs = Infinity, lastFin = -Infinity;
    const counts = await queue.getJobCounts('completed', 'failed', 'active', 'wait', 'delayed', 'prioritized');
    for (let i = 0; i < n; i++) {
      const id = `${tag}-${i}`;
      const job = await queue.getJob(id);
      if (!job) {
        byState.missing = (byState.missing ?? 0) + 1;
        continue;
      }
      const state = await job.getState();
      byState[state] = (byState[state] ?? 0) + 1;
      if (state !== 'completed') {
        anomalies.push({ what: `job ${id} ended ${state}`, detail: job.failedReason ?? null });
        continue;
      }
      const rv = job.returnvalue;
      if (!rv || rv.exit_code !== 0) anomalies.push({ what: `job ${id}: return value is not exit 0`, detail: rv });
      if (job.attemptsMade > 1 || (job.attemptsStarted ?? 1) > 1) anomalies.push({ what: `job ${id} started ${job.attemptsStarted} times`, detail: { attemptsMade: job.attemptsMade } });
      firstTs = Math.min(firstTs, job.timestamp);
      lastFin = Math.max(lastFin, job.finishedOn);
      e2e.push(job.finishedOn - job.timestamp);
      wait.push(job.processedOn - job.timestamp);
      service.push(job.finishedOn - job.processedOn);
      if (pathName !== 'bare' && rv && rv.start_time && rv.end_time) {
        const s = Date.parse(rv.start_time), e = Date.parse(rv.end_time);
        take.push(s - job.processedOn);
        life.push(e - s);
        tell.push(job.finishedOn - e);
      }
    }
    for (const [id, k] of completedSeen) if (k > 1) anomalies.push({ what: `job ${id}: 'completed' event seen ${k} times`, detail: null });

    // The agent's side: its lines, its journal, its ledger.
    let agentCheck = null;
    if (agent !== null) {
      const lines = agent.err.split('\n').filter(Boolean).map((l) => {
        try {
          return JSON.parse(l);
        } catch {
          return { unparsed: l };
        }
      });
      const results = lines.filter((l) => l.event === 'job_result');
      const problems = lines.filter((l) => l.unparsed !== undefined || /problem|error|lock_lost|refused|failed/i.test(l.event ?? ''));
      const ids = new Map();
      for (const r of results) ids.set(r.job_id, (ids.get(r.job_id) ?? 0) + 1);
      const dupLines = [...ids].filter(([, k]) => k > 1);
      if (results.length !== n) anomalies.push({ what: `agent printed ${results.length} job_result lines for ${n} jobs`, detail: null });
      if (dupLines.length) anomalies.push({ what: 'agent printed a job_result twice', detail: dupLines.slice(0, 5) });
      for (const p of problems.slice(0, 10)) anomalies.push({ what: 'agent line', detail: p });
      if (problems.length > 10) anomalies.push({ what: `agent lines: ${problems.length - 10} more problems`, detail: null });
      let journal = null;
      if (pathName !== 'legacy') {
        const { readJournal } = require(path.join(ctx.pkg.dir, 'dist', 'journal', 'reader'));
        const recs = readJournal(stateDir).records;
        const res = recs.filter((r) => r.type === 'result');
        const started = recs.filter((r) => r.type === 'started');
        const perJob = new Map();
        for (const r of res) perJob.set(r.job_id, (perJob.get(r.job_id) ?? 0) + 1);
        journal = { records: recs.length, started: started.length, results: res.length, keeperPids: res.filter((r) => r.keeper && r.keeper.pid).length, cgroupProblems: res.filter((r) => r.cgroup && r.cgroup.problem).length };
        if (res.length !== n || started.length !== n) anomalies.push({ what: `journal has ${started.length} started / ${res.length} result records for ${n} jobs`, detail: null });
        const dups = [...perJob].filter(([, k]) => k > 1);
        if (dups.length) anomalies.push({ what: 'journal has two Results for a job', detail: dups.slice(0, 5) });
        const sample = res[0];
        if (sample) journal.sample = { mode: sample.mode, keeper: sample.keeper ?? null, cgroup: sample.cgroup ? { problem: sample.cgroup.problem ?? null, paths: sample.cgroup.paths ?? sample.cgroup.leaves ?? null } : null, exit_source: sample.exit_source };
      }
      let ledgerLeft = [];
      try {
        ledgerLeft = fs.readdirSync(path.join(stateDir, 'agent', 'jobs')).filter((f) => f.endsWith('.json'));
      } catch {
        /* none */
      }
      if (ledgerLeft.length) anomalies.push({ what: `${ledgerLeft.length} ledger entries left after every job completed`, detail: ledgerLeft.slice(0, 5) });
      agentCheck = { jobResultLines: results.length, problemLines: problems.length, journal, ledgerLeft: ledgerLeft.length };
    }
    if (failedSeen.length) anomalies.push({ what: `${failedSeen.length} 'failed' events`, detail: failedSeen.slice(0, 5) });

    const tputWindowMs = lastFin - firstTs;
    return {
      path: pathName, concurrency, n, queue: queueName, byState, counts,
      wallMs, benchCpuMsPerJob: +(benchCpuMs / n).toFixed(2), agentCpuMsPerJob: cpuMs === null ? null : +(cpuMs / n).toFixed(2), agentCpuShareOfWall: cpuMs === null ? null : +(cpuMs / wallMs).toFixed(3), throughput: +(e2e.length / (tputWindowMs / 1000)).toFixed(2),
      e2eMs: stats(e2e), waitMs: stats(wait), serviceMs: stats(service),
      breakdownMs: take.length ? { takeToStarted: stats(take), workloadLife: stats(life), endedToCompleted: stats(tell) } : null,
      agent: agentCheck, anomalies,
    };
  } finally {
    if (worker) await worker.close().catch(() => {});
    if (agent) await stopAgent(ctx, agent);
    await events.close().catch(() => {});
    await queue.close().catch(() => {});
  }
}

/** utime + stime of the agent process (every thread; not its children: keepers, workloads), ms. */
function agentCpuMs(pid) {
  try {
    const t = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    const f = t.slice(t.lastIndexOf(')') + 2).trim().split(' ');
    return (Number(f[11]) + Number(f[12])) * 10; // USER_HZ 100
  } catch {
    return null;
  }
}

async function stopAgent(ctx, agent) {
  if (agent.exitCode === null && agent.signalCode === null) {
    agent.kill('SIGTERM');
    const t = setTimeout(() => killQuietly(agent.pid), 10000);
    await exited(agent);
    clearTimeout(t);
  }
  ctx.agents.delete(agent);
}

// ---------------------------------------------------------------------------------------------
// cleanup

async function cleanup(ctx) {
  const report = {};
  for (const a of [...ctx.agents]) await stopAgent(ctx, a);
  for (const d of ctx.stateDirs) {
    if (!fs.existsSync(d)) continue;
    const r = spawnSync(process.execPath, [ctx.pkg ? ctx.pkg.cli : path.join(DIST, 'cli', 'main.js'), 'recover', '--state-dir', d], {
      env: { ...process.env, FFRTMP_CGROUP_ROOT: ctx.cgroupRoot }, encoding: 'utf8', timeout: 120000,
    });
    if (r.status !== 0) report[`recover ${path.basename(d)}`] = { status: r.status, stderr: (r.stderr ?? '').slice(0, 2000) };
    fs.rmSync(d, { recursive: true, force: true });
  }
  report.cgroups = {};
  for (const m of ctx.mounts) {
    const top = path.join(m.mountPoint, ctx.cgroupRel);
    const r = await removeTree(top);
    if (r.existed) report.cgroups[top] = r;
  }
  if (ctx.redisProc && ctx.redisProc.exitCode === null) {
    ctx.redisProc.kill('SIGTERM');
    const t = setTimeout(() => killQuietly(ctx.redisProc.pid), 10000);
    await exited(ctx.redisProc);
    clearTimeout(t);
  }
  fs.rmSync(ctx.runDir, { recursive: true, force: true });
  report.redisStopped = !ctx.redisProc || ctx.redisProc.exitCode !== null || ctx.redisProc.signalCode !== null;
  report.runDirRemoved = !fs.existsSync(ctx.runDir);
  report.stateDirsRemoved = ctx.stateDirs.every((d) => !fs.existsSync(d));
  report.cgroupRootsLeft = ctx.mounts.map((m) => path.join(m.mountPoint, ctx.cgroupRel)).filter((p) => fs.existsSync(p));
  return report;
}

// ---------------------------------------------------------------------------------------------
// main

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (spawnSync('sh', ['-c', 'command -v redis-server']).status !== 0) {
    log('agent-throughput: needs redis-server (apt-get install redis-server); skipped');
    process.exit(77);
  }
  if (process.geteuid() !== 0 && opts.paths.some((p) => p.startsWith('wrapper'))) log('agent-throughput: not root: the wrapper path may not get its cgroup limits');
  const { mounts, memory } = cgroupMounts();
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ffrtmp-bench-agent-throughput-'));
  const ctx = {
    opts, runDir, mounts, memory, cgroupRel: `ffrtmp-bench-agent-throughput-${process.pid}`,
    agents: new Set(), stateDirs: [], redisProc: null, pkg: null,
  };
  ctx.cgroupRoot = memory ? path.join(memory.mountPoint, ctx.cgroupRel) : undefined;
  let cleaned = null;
  const doCleanup = () => (cleaned ??= cleanup(ctx));
  const onSignal = (sig) => {
    log(`agent-throughput: ${sig}: cleaning up...`);
    doCleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const result = { bench: 'agent-throughput', startedAt: new Date().toISOString(), options: opts, goal: `wrapper path per-job overhead < ${GOAL_OVERHEAD_MS} ms p50 over the bare BullMQ worker` };
  let exitCode = 0;
  try {
    ctx.pkg = await snapshotPackage(runDir);
    ctx.bullmq = require(path.join(ROOT, 'node_modules', 'bullmq'));
    ctx.redis = await startRedis(ctx);
    const cpus = os.cpus();
    result.machine = {
      host: os.hostname(), kernel: os.release(), cpus: cpus.length, cpuModel: cpus[0]?.model, memGiB: +(os.totalmem() / 2 ** 30).toFixed(1), node: process.version,
      redis: ctx.redis.version, bullmq: require(path.join(ROOT, 'node_modules', 'bullmq', 'package.json')).version,
      tmpFs: spawnSync('df', ['-T', os.tmpdir()], { encoding: 'utf8' }).stdout.trim().split('\n').pop().split(/\s+/)[1],
      cgroup: memory ? (memory.v2 ? 'v2' : 'v1') : 'none', root: process.geteuid() === 0, loadavgAtStart: os.loadavg(),
    };
    result.package = { git: ctx.pkg.git, addon: ctx.pkg.addon, keeper: ctx.pkg.keeper };
    log(`agent-throughput: redis ${ctx.redis.url}, N = ${opts.n}, concurrency ${opts.concurrency.join(',')}, paths ${opts.paths.join(',')}`);
    result.cells = [];
    for (const c of opts.concurrency) {
      for (const p of opts.paths) {
        log(`  ${p} at concurrency ${c}...`);
        const cell = await runCell(ctx, p, c);
        log(`    ${cell.throughput} jobs/s, e2e p50 ${cell.e2eMs.p50} ms, ${cell.anomalies.length} anomalies`);
        result.cells.push(cell);
      }
    }
    // Overheads over bare.
    for (const cell of result.cells) {
      const bare = result.cells.find((x) => x.path === 'bare' && x.concurrency === cell.concurrency);
      cell.overVsBare = {
        p50Ms: +(cell.e2eMs.p50 - bare.e2eMs.p50).toFixed(3),
        p50Ratio: +(cell.e2eMs.p50 / bare.e2eMs.p50).toFixed(2),
        servicePerJobP50Ms: +(cell.serviceMs.p50 - bare.serviceMs.p50).toFixed(3),
        throughputRatio: +(cell.throughput / bare.throughput).toFixed(3),
      };
    }
    result.goals = result.cells
      .filter((c) => c.path === 'wrapper')
      .map((c) => ({ id: `wrapper-overhead-p50-c${c.concurrency}`, pass: c.overVsBare.p50Ms < GOAL_OVERHEAD_MS, value: c.overVsBare.p50Ms, text: `wrapper path overhead over the bare worker at concurrency ${c.concurrency}: ${fmt(c.overVsBare.p50Ms)} ms p50 (goal < ${GOAL_OVERHEAD_MS} ms; e2e p50 ${fmt(c.e2eMs.p50)} vs ${fmt(result.cells.find((x) => x.path === 'bare' && x.concurrency === c.concurrency).e2eMs.p50)} ms)` }));
  } catch (err) {
    result.error = err.stack ?? String(err);
    log(`agent-throughput: ${result.error}`);
    exitCode = 1;
  } finally {
    result.cleanup = await doCleanup();
  }
  result.endedAt = new Date().toISOString();
  if (result.machine) result.machine.loadavgAtEnd = os.loadavg();

  if (result.cells) {
    const rows = result.cells.map((c) => [
      c.path, c.concurrency, c.e2eMs.n, fmt(c.throughput), fmt(c.e2eMs.p50), fmt(c.e2eMs.p90), fmt(c.e2eMs.p99), fmt(c.waitMs.p50), fmt(c.serviceMs.p50),
      c.path === 'bare' ? '-' : fmt(c.overVsBare.p50Ms), c.path === 'bare' ? '-' : `${c.overVsBare.p50Ratio}x`, c.agentCpuMsPerJob === null ? `(${fmt(c.benchCpuMsPerJob)})` : fmt(c.agentCpuMsPerJob), fmt(c.benchCpuMsPerJob), c.anomalies.length,
    ]);
    process.stdout.write(`\nAgent throughput: \`true\` through BullMQ ${result.machine.bullmq} on ${result.machine.redis.split(' ').slice(0, 3).join(' ')}, N = ${opts.n} per cell, closed loop (ms from the queue's timestamps)\n\n`);
    process.stdout.write(`${table(['path', 'conc', 'jobs', 'jobs/s', 'e2e p50', 'p90', 'p99', 'wait p50', 'service p50', 'over bare p50', 'ratio', 'worker CPU ms/job', 'bench CPU ms/job', 'anomalies'], rows)}\n`);
    const br = result.cells.filter((c) => c.breakdownMs);
    if (br.length) {
      process.stdout.write('\nWhere an agent job\'s service time goes (p50 / p90 ms; from the Result\'s start_time/end_time and the queue\'s processedOn/finishedOn)\n\n');
      process.stdout.write(`${table(['path', 'conc', 'taken -> started', 'workload life', 'ended -> completed', 'service'], br.map((c) => [c.path, c.concurrency, `${fmt(c.breakdownMs.takeToStarted.p50)} / ${fmt(c.breakdownMs.takeToStarted.p90)}`, `${fmt(c.breakdownMs.workloadLife.p50)} / ${fmt(c.breakdownMs.workloadLife.p90)}`, `${fmt(c.breakdownMs.endedToCompleted.p50)} / ${fmt(c.breakdownMs.endedToCompleted.p90)}`, `${fmt(c.serviceMs.p50)} / ${fmt(c.serviceMs.p90)}`]))}\n`);
    }
  }
  const anomalies = (result.cells ?? []).flatMap((c) => c.anomalies.map((a) => ({ cell: `${c.path}/c${c.concurrency}`, ...a })));
  if (anomalies.length) {
    exitCode = 1;
    process.stdout.write(`\nANOMALIES (${anomalies.length}):\n`);
    for (const a of anomalies.slice(0, 30)) process.stdout.write(`  ${a.cell}: ${a.what}${a.detail ? ` ${JSON.stringify(a.detail).slice(0, 300)}` : ''}\n`);
  }
  process.stdout.write('\n');
  for (const g of result.goals ?? []) process.stdout.write(`${g.pass ? 'PASS' : 'FAIL'} ${g.text}\n`);
  const c = result.cleanup ?? {};
  process.stdout.write(`cleanup: redis stopped ${c.redisStopped}, temp dirs removed ${c.runDirRemoved && c.stateDirsRemoved}, cgroup roots left ${JSON.stringify(c.cgroupRootsLeft ?? [])}\n`);
  if (opts.save) {
    fs.mkdirSync(RESULTS_DIR, { recursive: true });
    const file = path.join(RESULTS_DIR, 'agent-throughput-latest.json');
    fs.writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    log(`agent-throughput: results in ${path.relative(ROOT, file)}`);
  }
  process.exit(exitCode);
}

main().catch((err) => {
  log(err.stack ?? String(err));
  process.exit(1);
});
