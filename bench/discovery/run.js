'use strict';
/**
 * Discovery: how fast `ffrtmp watch` governs a new target process, and what watching costs while
 * the machine execs things that are not targets (a benchmark: it prints PASS/FAIL against the
 * issue's goals; a target that is never governed, or anything the daemon reports that does not
 * add up, is reported as a daemon bug and makes the exit status 1). Needs root, cgroups, `cc`,
 * and the built package (`npm run build`, `npm run build:native`).
 *
 *   node bench/discovery/run.js [--quick] [--modes event,event-tmpfs,scan-2s,scan-10s]
 *        [--n 1,100,1000] [--repeat 3] [--rounds 20] [--storm-execs 10000] [--paced-rate 1000]
 *        [--pacer-workers 2] [--window-ms 10000] [--no-latency] [--no-cpu] [--no-save]
 *
 *   --quick: N = 1 and 100 only, 1 repeat, 10 rounds at N = 1 (~5 min with the CPU part).
 *
 * The daemon is the real CLI (`node dist/cli/main.js watch --log-format json --listen 127.0.0.1:0
 * --memory-max 256M`), from a snapshot of dist/ and the addon taken at the start (other work may
 * rebuild the tree while this runs), with FFRTMP_CGROUP_ROOT=<memory mount>/ffrtmp-bench-
 * discovery-<pid>: a private root, removed at the end (every leaf, then the root, in every
 * hierarchy), as is everything else (daemons SIGTERMed, targets killed, `recover` run on every
 * state dir, temp dirs), pass or fail, and on SIGINT/SIGTERM.
 *
 * 1. Latency, exec -> governed. Targets are a copy of /bin/sleep with a unique short name
 *    (`bd<hex>`) in a temp dir, started by `sh -c 'while ...; do "$BIN" 600 & echo $!; done; wait'`
 *    that the bench spawns detached: NOT a child of the daemon. Governed = moved into a 256M
 *    leaf and verified. The number is the daemon's own `latency_ms` (its `governed` line): from
 *    the kernel's exec timestamp (events) or the process start time (scan, 10 ms resolution).
 *    Modes, one daemon each, side by side: event (the process connector), event-tmpfs (the same
 *    with the journal on /dev/shm: what the journal's fsync costs), scan every 2 s (the default),
 *    scan every 10 s (the original tool's interval). Cells: N = 1 (rounds of one target, a random
 *    pause between rounds so that a scan round lands at a random phase of the interval), N = 100
 *    and 1000 (bursts; --repeat times, at 1000 twice for event and scan-2s, once otherwise).
 *    After each cell the targets are SIGKILLed (their shell reaps them) and every job must end
 *    with its Result before the next. Checked per cell, from outside the daemon: every target got
 *    exactly one `governed` line, sits in a leaf under the private root whose memory limit is
 *    256M, and got exactly one Result; /metrics agrees with the lines (discovered_total, the
 *    latency histogram's count and sum, the governed gauge while they run and after); the leaves
 *    are gone once the jobs ended; and latency_ms against what the bench bounds from outside
 *    (line received − max(shell spawned, start time in /proc/<pid>/stat)): not above it, and not
 *    far below it (~0-10 ms expected: the line's trip, the 10 ms resolution, fork -> exec).
 * 2. CPU of the daemon (utime + stime of /proc/<pid>/stat, USER_HZ 100; per thread from schedstat,
 *    with the addon's watcher thread's wake-ups), after a 15 s settle: event mode idle for 10 s;
 *    during 10,000 execs of /bin/true from one shell loop as fast as it goes; during a paced storm
 *    of ~1,000 execs/s for 10 s (pacer.c: batches of 100 every 100 ms by posix_spawn, shared by 2
 *    workers, of nop.c, a static binary that only exits: an exec of /bin/true costs ~3 ms on a
 *    small VM and one spawner tops out near 1,000 tiny execs/s); and a 2 s scan daemon idle for
 *    10 s and under the same paced storm; the paced storm alone first, as a control of the rate
 *    the machine reaches. The daemons' targets match nothing in the storms. Exec events that
 *    crossed to JS / were filtered in C and overruns come from /metrics, scraped outside the CPU
 *    windows, and again after one exec of a short-lived target (the addon hands its counts to JS
 *    only with a batch that crosses).
 *
 * Output: a table on stdout, progress on stderr, and everything (machine, options, per-cell
 * summaries, per-thread CPU, anomalies with their evidence, goals, the cleanup check) in
 * bench/results/discovery-latest.json. Raw per-process samples are not kept, only percentiles.
 */
const { execFileSync, spawn, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');
const DIST = path.join(ROOT, 'dist');
const RESULTS_DIR = path.join(ROOT, 'bench', 'results');
const USER_HZ = 100;
const MEMORY_MAX = '256M';
const MEMORY_MAX_BYTES = 256 * 1024 * 1024;

const MODES = {
  event: { id: 'event', args: ['--discovery', 'events'], intervalMs: 0 },
  // The same, with the journal on tmpfs: how much of a govern is the journal's fsync.
  'event-tmpfs': { id: 'event-tmpfs', args: ['--discovery', 'events'], intervalMs: 0, tmpfsState: true },
  'scan-2s': { id: 'scan-2s', args: ['--discovery', 'scan', '--scan-interval', '2s'], intervalMs: 2000 },
  'scan-10s': { id: 'scan-10s', args: ['--discovery', 'scan', '--scan-interval', '10s'], intervalMs: 10000 },
};

const USAGE =
  'usage: node bench/discovery/run.js [--quick] [--modes event,event-tmpfs,scan-2s,scan-10s] [--n 1,100,1000]\n' +
  '                                   [--repeat 3] [--rounds 20] [--storm-execs 10000] [--paced-rate 1000]\n' +
  '                                   [--pacer-workers 2] [--window-ms 10000] [--no-latency] [--no-cpu] [--no-save]\n';

function parseArgs(argv) {
  const o = {
    quick: false, modes: Object.keys(MODES), ns: [1, 100, 1000], repeat: 3, rounds: 20,
    stormExecs: 10000, pacedRate: 1000, pacerWorkers: 2, windowMs: 10000, latency: true, cpu: true, save: true,
  };
  let nsGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') o.quick = true;
    else if (a === '--modes') o.modes = argv[++i].split(',');
    else if (a === '--n') (o.ns = argv[++i].split(',').map(Number)), (nsGiven = true);
    else if (a === '--repeat') o.repeat = Number(argv[++i]);
    else if (a === '--rounds') o.rounds = Number(argv[++i]);
    else if (a === '--storm-execs') o.stormExecs = Number(argv[++i]);
    else if (a === '--paced-rate') o.pacedRate = Number(argv[++i]);
    else if (a === '--window-ms') o.windowMs = Number(argv[++i]);
    else if (a === '--pacer-workers') o.pacerWorkers = Number(argv[++i]);
    else if (a === '--no-latency') o.latency = false;
    else if (a === '--no-cpu') o.cpu = false;
    else if (a === '--no-save') o.save = false;
    else {
      process.stderr.write(USAGE);
      process.exit(2);
    }
  }
  if (o.quick) {
    if (!nsGiven) o.ns = [1, 100];
    o.repeat = Math.min(o.repeat, 1);
    o.rounds = Math.min(o.rounds, 10);
  }
  for (const m of o.modes) if (!MODES[m]) (process.stderr.write(`unknown mode ${m}\n${USAGE}`), process.exit(2));
  if (o.ns.some((n) => !Number.isInteger(n) || n < 1)) (process.stderr.write(USAGE), process.exit(2));
  return o;
}

// ---------------------------------------------------------------------------------------------
// small helpers

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** CLOCK_MONOTONIC in ms (the clock of the kernel's exec timestamps and of the daemon's hrtime). */
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
const log = (s) => process.stderr.write(`${s}\n`);

function pct(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Nearest-rank percentiles. */
function stats(values) {
  const s = values.filter((v) => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b);
  const r = (x) => (x === null ? null : +x.toFixed(3));
  return { n: s.length, min: r(s[0] ?? null), p50: r(pct(s, 50)), p90: r(pct(s, 90)), p99: r(pct(s, 99)), max: r(s[s.length - 1] ?? null) };
}

function fmt(x, digits = 2) {
  if (x === null || x === undefined || Number.isNaN(x)) return '-';
  if (Math.abs(x) >= 100) return x.toFixed(0);
  if (Math.abs(x) >= 10) return x.toFixed(1);
  return x.toFixed(digits);
}

function table(headers, rows) {
  const w = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => `| ${cells.map((c, i) => String(c).padStart(w[i])).join(' | ')} |`;
  return [line(headers), `|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

function readText(file) {
  try {
    return fs.readFileSync(file, 'latin1');
  } catch {
    return null;
  }
}

/** Fields of /proc/<pid>/stat after the comm (index 0 = field 3, state). */
function statFields(pid) {
  const t = readText(`/proc/${pid}/stat`);
  if (t === null) return null;
  return t.slice(t.lastIndexOf(')') + 2).trim().split(' ');
}

/** utime + stime in clock ticks (fields 14 and 15). */
function cpuTicks(pid) {
  const f = statFields(pid);
  return f === null ? null : Number(f[11]) + Number(f[12]);
}

/** Field 22, start time in ticks after boot. */
function startTicks(pid) {
  const f = statFields(pid);
  return f === null ? null : Number(f[19]);
}

/** ns on CPU of every live thread (schedstat), a finer cross-check of the ticks. */
function schedNs(pid) {
  let sum = 0;
  try {
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
      const t = readText(`/proc/${pid}/task/${tid}/schedstat`);
      if (t !== null) sum += Number(t.split(' ')[0]);
    }
  } catch {
    return null;
  }
  return sum;
}

/** Per thread: name, ns on CPU (schedstat), voluntary context switches (= wake-ups after a sleep). */
function threadsOf(pid) {
  const out = {};
  try {
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
      const st = readText(`/proc/${pid}/task/${tid}/schedstat`);
      const status = readText(`/proc/${pid}/task/${tid}/status`);
      if (st === null || status === null) continue;
      const name = /^Name:\s+(.*)$/m.exec(status)?.[1] ?? '?';
      out[tid] = { name: Number(tid) === pid ? 'main (JS)' : name, ns: Number(st.split(' ')[0]), vcsw: Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0) };
    }
  } catch {
    /* gone */
  }
  return out;
}

/** CPU ms and wake-ups per thread name between two threadsOf() snapshots. */
function threadDelta(a, b) {
  const out = {};
  for (const [tid, t1] of Object.entries(b)) {
    const t0 = a[tid] ?? { ns: 0, vcsw: 0 };
    const k = t1.name;
    out[k] ??= { cpuMs: 0, wakeups: 0, threads: 0 };
    out[k].cpuMs = +(out[k].cpuMs + (t1.ns - t0.ns) / 1e6).toFixed(3);
    out[k].wakeups += t1.vcsw - t0.vcsw;
    out[k].threads++;
  }
  return out;
}

/**
 * CLOCK_MONOTONIC − CLOCK_BOOTTIME in ms (start times in /proc are boot-time ticks). /proc/uptime
 * has 10 ms resolution, truncated: the smallest of many readings is the offset, within ~1 ms.
 */
async function monoMinusBoot() {
  let best = Infinity;
  for (let i = 0; i < 60; i++) {
    const hr = nowMs();
    const up = Number(readText('/proc/uptime').split(' ')[0]) * 1000;
    best = Math.min(best, hr - up);
    await sleep(1 + (i % 7));
  }
  return best;
}

function httpGet(url, timeoutMs = 10000) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: timed out`)));
    req.on('error', reject);
  });
}

/** Prometheus text → [{ name, labels, value }]. */
function parseMetrics(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Za-z_:][\w:]*)(?:\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    if (m[2]) for (const kv of m[2].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[kv[1]] = kv[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

/** Sum of the samples of `name` whose labels include `labels`; null when there is none. */
function mval(metrics, name, labels = {}) {
  let sum = null;
  for (const s of metrics) {
    if (s.name !== name) continue;
    if (Object.entries(labels).some(([k, v]) => s.labels[k] !== v)) continue;
    sum = (sum ?? 0) + s.value;
  }
  return sum;
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
      mounts.push({ mountPoint: mp, v2: false, controllers: superOpts });
      if (superOpts.includes('memory')) memory = { mountPoint: mp, v2: false };
    } else if (fstype === 'cgroup2') {
      mounts.push({ mountPoint: mp, v2: true, controllers: [] });
    }
  }
  if (memory === null) {
    const v2 = mounts.find((m) => m.v2);
    if (v2) memory = { mountPoint: v2.mountPoint, v2: true };
  }
  return { mounts, memory };
}

/** rmdir a whole tree, deepest first, retrying while killed tasks leave it (attach-throughput's). */
async function removeTree(top) {
  if (!fs.existsSync(top)) return { existed: false, removed: true, dirs: 0 };
  const dirs = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(path.join(d, e.name));
    dirs.push(d);
  };
  walk(top);
  for (const d of dirs) {
    for (let i = 0; ; i++) {
      try {
        fs.rmdirSync(d);
        break;
      } catch (e) {
        if (e.code === 'ENOENT') break;
        if (i > 200) return { existed: true, removed: false, dirs: dirs.length, stuck: d, error: e.code };
        await sleep(50);
      }
    }
  }
  return { existed: true, removed: true, dirs: dirs.length };
}

// ---------------------------------------------------------------------------------------------
// the package snapshot, the helpers

/**
 * A private copy of dist/ and the addon (with package.json and node_modules linked), so that a
 * rebuild of the working tree during the run cannot change the daemon between two cells.
 */
async function snapshotPackage(runDir) {
  const pkg = path.join(runDir, 'pkg');
  for (let waited = 0; ; waited += 5) {
    const missing = ['dist/cli/main.js', 'dist/cli/actions/watch.js', 'dist/native/proc-events.js'].filter((f) => !fs.existsSync(path.join(ROOT, f)));
    if (missing.length === 0) break;
    if (waited >= 120) throw new Error(`the build lacks ${missing.join(', ')}: run \`npm run build\` (and npm run build:native) first`);
    if (waited === 0) log(`discovery: the build lacks ${missing.join(', ')}; waiting up to 2 min for \`npm run build\`...`);
    await sleep(5000);
  }
  fs.mkdirSync(pkg);
  fs.cpSync(DIST, path.join(pkg, 'dist'), { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(pkg, 'package.json'));
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(pkg, 'node_modules'));
  const nodeGypBuild = require(path.join(ROOT, 'node_modules', 'node-gyp-build'));
  const addonSrc = nodeGypBuild.path(ROOT);
  const rel = path.relative(ROOT, addonSrc);
  fs.mkdirSync(path.dirname(path.join(pkg, rel)), { recursive: true });
  fs.copyFileSync(addonSrc, path.join(pkg, rel));
  const keeper = path.join(ROOT, 'build', 'Release', 'ffrtmp-keeper');
  if (fs.existsSync(keeper)) {
    fs.mkdirSync(path.join(pkg, 'build', 'Release'), { recursive: true });
    fs.copyFileSync(keeper, path.join(pkg, 'build', 'Release', 'ffrtmp-keeper'));
  }
  const sha = (f) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');
  let git = null;
  try {
    git = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'native'], { cwd: ROOT, encoding: 'utf8' }).trim();
    if (dirty !== '') git += ` + uncommitted changes in ${dirty.split('\n').length} file(s) of src/ native/`;
  } catch {
    /* not a checkout */
  }
  return {
    dir: pkg,
    cli: path.join(pkg, 'dist', 'cli', 'main.js'),
    addon: rel,
    addonSha256: sha(addonSrc),
    watchJsSha256: sha(path.join(DIST, 'cli', 'actions', 'watch.js')),
    daemonJsSha256: sha(path.join(DIST, 'watch', 'daemon.js')),
    git,
  };
}

function compilePacer(runDir) {
  const out = path.join(runDir, 'pacer');
  execFileSync('cc', ['-O2', '-Wall', '-o', out, path.join(__dirname, 'pacer.c')]);
  return out;
}

/** nop.c, static and libc-free, in the bin dir (a non-target name); /bin/true when it cannot be built. */
function compileNop(binDir) {
  const out = path.join(binDir, 'stormnop');
  try {
    execFileSync('cc', ['-O2', '-static', '-nostdlib', '-o', out, path.join(__dirname, 'nop.c')], { stdio: 'ignore' });
    execFileSync(out);
    return out;
  } catch {
    return '/bin/true';
  }
}

/** A copy of `src` named `name` in `dir` (executable). */
function copyBinary(src, dir, name) {
  const dst = path.join(dir, name);
  fs.copyFileSync(fs.realpathSync(src), dst);
  fs.chmodSync(dst, 0o755);
  return dst;
}

// ---------------------------------------------------------------------------------------------
// the daemon

class Daemon {
  constructor(ctx, label, mode, targets, logLevel) {
    this.ctx = ctx;
    this.label = label;
    this.mode = mode;
    this.targets = targets;
    const base = mode.tmpfsState && fs.existsSync('/dev/shm') ? '/dev/shm' : ctx.runDir;
    this.stateDir = fs.mkdtempSync(path.join(base, `${base === ctx.runDir ? '' : 'ffrtmp-bench-discovery-'}state-${label}-`));
    this.stateFs = execFileSync('stat', ['-f', '-c', '%T', this.stateDir], { encoding: 'utf8' }).trim();
    ctx.stateDirList.push(this.stateDir);
    this.logFile = path.join(ctx.runDir, `daemon-${label}.log`);
    this.logLevel = logLevel;
    this.lines = []; // every parsed JSON line, with recvAt
    this.raw = []; // stderr lines that are not JSON
    this.governed = new Map(); // pid -> [line]
    this.results = new Map(); // job_id -> [line]
    this.counts = {}; // event -> n
    this.waiters = new Set();
    this.exit = null;
  }

  async start() {
    const args = [
      this.ctx.pkg.cli, 'watch', '--log-format', 'json', '--log-level', this.logLevel, '--listen', '127.0.0.1:0',
      '--state-dir', this.stateDir, ...this.targets.flatMap((t) => ['--target', t]), ...this.mode.args, '--memory-max', MEMORY_MAX,
    ];
    this.args = args.slice(1);
    const logFd = fs.openSync(this.logFile, 'a');
    this.child = spawn(process.execPath, args, {
      cwd: this.ctx.runDir, env: { ...process.env, FFRTMP_CGROUP_ROOT: this.ctx.cgroupRoot }, stdio: ['ignore', logFd, 'pipe'],
    });
    fs.closeSync(logFd);
    this.pid = this.child.pid;
    this.ctx.daemons.add(this);
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve((this.exit = { code, signal }))));
    let buf = '';
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (chunk) => {
      const at = nowMs();
      fs.appendFileSync(this.logFile, chunk);
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim() !== '') this.onLine(line, at);
      }
    });
    const started = await this.waitFor(() => this.lines.find((l) => l.event === 'watch_started' || l.event === 'watch_failed') ?? (this.exit ? { event: 'exited' } : undefined), 30000);
    if (!started || started.event !== 'watch_started') {
      throw new Error(`${this.label}: the daemon did not start (${started ? JSON.stringify(started) : 'no watch_started line in 30 s'}); log ${this.logFile}:\n${readText(this.logFile)?.slice(-2000)}`);
    }
    this.startedLine = started;
    this.url = started.url;
    return started;
  }

  onLine(line, at) {
    let j;
    try {
      j = JSON.parse(line);
    } catch {
      this.raw.push(line);
      return;
    }
    j.recvAt = at;
    this.lines.push(j);
    const ev = j.event ?? 'unknown';
    this.counts[ev] = (this.counts[ev] ?? 0) + 1;
    if (ev === 'governed') {
      if (!this.governed.has(j.pid)) this.governed.set(j.pid, []);
      this.governed.get(j.pid).push(j);
    } else if (ev === 'job_result' || (j.job_id !== undefined && j.exit_code !== undefined && j.platform_sla_reason !== undefined)) {
      if (!this.results.has(j.job_id)) this.results.set(j.job_id, []);
      this.results.get(j.job_id).push(j);
    }
    for (const w of this.waiters) w();
  }

  /** Resolves with pred()'s first truthy value, or undefined after timeoutMs. */
  waitFor(pred, timeoutMs) {
    return new Promise((resolve) => {
      const check = () => {
        const v = pred();
        if (v) {
          done(v);
          return true;
        }
        return false;
      };
      const done = (v) => {
        clearTimeout(t);
        clearInterval(iv);
        this.waiters.delete(check);
        resolve(v);
      };
      const t = setTimeout(() => done(undefined), timeoutMs);
      const iv = setInterval(check, 250); // for conditions outside the lines (the exit)
      this.waiters.add(check);
      check();
    });
  }

  async metrics() {
    const r = await httpGet(`${this.url}/metrics`);
    if (r.status !== 200) throw new Error(`${this.label}: GET /metrics: HTTP ${r.status}`);
    return parseMetrics(r.body);
  }

  cpu() {
    return { ticks: cpuTicks(this.pid), schedNs: schedNs(this.pid), threads: threadsOf(this.pid), at: nowMs() };
  }

  /** SIGTERM; SIGKILL after 60 s. */
  async stop() {
    if (this.exit === null) {
      try {
        this.child.kill('SIGTERM');
      } catch {
        /* gone */
      }
      const t = setTimeout(() => {
        this.killedHard = true;
        try {
          this.child.kill('SIGKILL');
        } catch {
          /* gone */
        }
      }, 60000);
      await this.exited;
      clearTimeout(t);
    }
    this.ctx.daemons.delete(this);
    return this.exit;
  }
}

/** `ffrtmp recover --state-dir <dir>`: closes what a stopped daemon left open. */
function recoverState(ctx, stateDir) {
  const r = spawnSync(process.execPath, [ctx.pkg.cli, 'recover', '--state-dir', stateDir, '--log-format', 'json'], {
    env: { ...process.env, FFRTMP_CGROUP_ROOT: ctx.cgroupRoot }, encoding: 'utf8', timeout: 120000,
  });
  const lines = `${r.stdout ?? ''}\n${r.stderr ?? ''}`.split('\n').filter((l) => l.trim() !== '');
  return { status: r.status, signal: r.signal, lines: lines.length, text: lines.slice(0, 20) };
}

// ---------------------------------------------------------------------------------------------
// targets

/** N copies of the target started by one detached shell (not a child of the daemon). */
function startTargets(ctx, bin, n) {
  const script = `i=0; while [ $i -lt ${n} ]; do "$BIN" 600 </dev/null >/dev/null 2>&1 & echo $!; i=$((i+1)); done; wait`;
  const spawnedAt = nowMs();
  const child = spawn('/bin/sh', ['-c', script], { detached: true, stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, BIN: bin } });
  const shell = { child, pid: child.pid, pids: [], spawnedAt, allReportedAt: null };
  ctx.shells.add(shell);
  shell.exited = new Promise((resolve) => child.on('exit', () => (ctx.shells.delete(shell), resolve())));
  let buf = '';
  child.stdout.setEncoding('utf8');
  shell.reported = new Promise((resolve) => {
    child.stdout.on('data', (c) => {
      buf += c;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const p = Number(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        if (Number.isInteger(p) && p > 0) {
          shell.pids.push(p);
          ctx.targetPids.add(p);
        }
        if (shell.pids.length === n) {
          shell.allReportedAt = nowMs();
          resolve(true);
        }
      }
    });
    child.on('exit', () => resolve(shell.pids.length === n));
  });
  return shell;
}

function killPids(pids, sig = 'SIGKILL') {
  for (const p of pids) {
    try {
      process.kill(p, sig);
    } catch {
      /* gone */
    }
  }
}

/** Where /proc/<pid>/cgroup puts the process in the memory hierarchy (v1) or in v2. */
function memoryCgroupOf(ctx, pid) {
  const t = readText(`/proc/${pid}/cgroup`);
  if (t === null) return null;
  for (const line of t.split('\n')) {
    const [, ctl, p] = line.split(':');
    if (p === undefined) continue;
    if (ctx.memory.v2 ? ctl === '' && line.startsWith('0::') : ctl.split(',').includes('memory')) return p;
  }
  return null;
}

function limitOf(ctx, cgPath) {
  const f = path.join(ctx.memory.mountPoint, cgPath, ctx.memory.v2 ? 'memory.max' : 'memory.limit_in_bytes');
  const t = readText(f);
  return t === null ? null : Number(t.trim());
}

/** Evidence about a target the daemon did not govern. */
function evidenceFor(ctx, d, pid, sinceIdx) {
  const f = statFields(pid);
  const cmd = readText(`/proc/${pid}/cmdline`);
  return {
    pid,
    alive: f !== null,
    state: f?.[0] ?? null,
    comm: readText(`/proc/${pid}/comm`)?.trim() ?? null,
    argv0: cmd === null ? null : cmd.split('\0')[0],
    memory_cgroup: memoryCgroupOf(ctx, pid),
    daemon_lines: d.lines.slice(sinceIdx).filter((l) => l.pid === pid || (typeof l.message === 'string' && l.message.includes(`pid ${pid} `))).map(({ recvAt, ...l }) => l).slice(0, 5),
  };
}

/**
 * One burst: N targets, wait until each is governed, check everything from outside, kill them,
 * wait for their Results. Returns the samples and the checks.
 */
async function burst(ctx, d, mode, n, label) {
  const cell = { label, n, anomalies: [] };
  const bug = (what, evidence) => cell.anomalies.push({ severity: 'bug', cell: label, what, evidence });
  const note = (what, evidence) => cell.anomalies.push({ severity: 'note', cell: label, what, evidence });
  const lineIdx = d.lines.length;
  const cpu0 = d.cpu();
  const shell = startTargets(ctx, ctx.targetBin, n);
  const allReported = await Promise.race([shell.reported, sleep(60000 + n * 50).then(() => false)]);
  if (!allReported) bug(`the shell reported ${shell.pids.length} of ${n} target PIDs`, null);
  const pids = shell.pids.slice();
  const pidSet = new Set(pids);
  // Generous: governing a burst has been seen to cost more per process the more are open.
  const governTimeout = 30000 + mode.intervalMs + n * 150;
  const allGoverned = await d.waitFor(() => pids.every((p) => d.governed.has(p)), governTimeout);
  const governedAt = nowMs();
  const cpu1 = d.cpu();
  // Grace: a second `governed` line for the same process would come right after the first.
  await sleep(300);
  cell.governAllMs = +(governedAt - shell.spawnedAt).toFixed(1);
  cell.shellStartAllMs = shell.allReportedAt === null ? null : +(shell.allReportedAt - shell.spawnedAt).toFixed(1);
  cell.daemonCpuMs = cpu0.ticks === null || cpu1.ticks === null ? null : ((cpu1.ticks - cpu0.ticks) * 1000) / USER_HZ;
  cell.daemonSchedMs = cpu0.schedNs === null || cpu1.schedNs === null ? null : +((cpu1.schedNs - cpu0.schedNs) / 1e6).toFixed(2);

  const missing = pids.filter((p) => !d.governed.has(p));
  cell.started = pids.length;
  cell.governed = pids.length - missing.length;
  if (!allGoverned || missing.length > 0) {
    bug(`${missing.length} of ${pids.length} targets never governed within ${governTimeout} ms`, missing.slice(0, 10).map((p) => evidenceFor(ctx, d, p, lineIdx)));
  }
  // Lines of this cell.
  const mine = d.lines.slice(lineIdx).filter((l) => l.event === 'governed');
  const doubles = pids.filter((p) => (d.governed.get(p) ?? []).filter((l) => l.recvAt >= shell.spawnedAt).length > 1);
  if (doubles.length > 0) bug(`${doubles.length} targets governed more than once`, doubles.slice(0, 5).map((p) => d.governed.get(p).map(({ recvAt, ...l }) => l)));
  const strays = mine.filter((l) => !pidSet.has(l.pid));
  if (strays.length > 0) note(`${strays.length} governed lines for PIDs the bench did not start`, strays.slice(0, 5).map(({ recvAt, ...l }) => l));
  const paths = {};
  for (const l of mine) if (pidSet.has(l.pid)) paths[l.path] = (paths[l.path] ?? 0) + 1;
  cell.paths = paths;
  const expectPath = mode.intervalMs === 0 ? 'event' : 'scan';
  const otherPath = Object.entries(paths).filter(([p]) => p !== expectPath);
  if (otherPath.length > 0) note(`targets found by another path than ${expectPath}: ${JSON.stringify(paths)}`, null);

  // From outside: the daemon's latency against what the bench can bound, placement, the limit.
  const ofs = ctx.monoMinusBootMs;
  const samples = [];
  const gaps = [];
  const perProc = [];
  const tooLarge = [];
  let placed = 0;
  let limited = 0;
  const placementProblems = [];
  for (const p of pids) {
    const g = (d.governed.get(p) ?? []).find((l) => l.recvAt >= shell.spawnedAt);
    if (!g) continue;
    const lat = g.latency_ms;
    if (typeof lat !== 'number' || !Number.isFinite(lat) || lat < 0) {
      bug(`latency_ms is not a non-negative number`, { ...g, recvAt: undefined });
      continue;
    }
    samples.push(lat);
    const st = startTicks(p);
    const startMono = st === null ? -Infinity : (st * 1000) / USER_HZ + ofs;
    const bound = g.recvAt - Math.max(shell.spawnedAt, startMono);
    gaps.push(bound - lat);
    perProc.push({ pid: p, latency_ms: lat, outside_bound_ms: +bound.toFixed(3), gap_ms: +(bound - lat).toFixed(3), recvAt: g.recvAt });
    if (lat > bound + 3) tooLarge.push({ pid: p, latency_ms: lat, bound_ms: +bound.toFixed(3), spawned_to_line_ms: +(g.recvAt - shell.spawnedAt).toFixed(3) });
    const cg = memoryCgroupOf(ctx, p);
    if (cg !== null && cg.startsWith(`/${ctx.cgroupRel}/`)) {
      placed++;
      const lim = limitOf(ctx, cg);
      if (lim === MEMORY_MAX_BYTES) limited++;
      else if (placementProblems.length < 5) placementProblems.push({ pid: p, cgroup: cg, limit: lim });
      if (g.cgroup && !String(g.cgroup).endsWith(path.basename(cg))) {
        if (placementProblems.length < 5) placementProblems.push({ pid: p, in_proc: cg, governed_line_cgroup: g.cgroup });
      }
    } else if (placementProblems.length < 5) {
      placementProblems.push({ pid: p, memory_cgroup: cg, governed_line_cgroup: g.cgroup ?? null });
    }
  }
  cell.samples = samples;
  cell.placedUnderRoot = placed;
  cell.limitVerified = limited;
  if (placed < samples.length || limited < samples.length) bug(`${samples.length - limited} governed targets are not in a ${MEMORY_MAX} leaf under the private root`, placementProblems);
  cell.outsideBoundMinusDaemon = stats(gaps);
  // The daemon's number should be the outside bound minus a few ms (the line's trip, the 10 ms
  // resolution of start times; for events also fork -> exec). Far more, growing with the order in
  // which the burst was governed, means latency_ms leaves out time the daemon spent before it.
  perProc.sort((a, b) => a.recvAt - b.recvAt);
  const show = (x) => ({ pid: x.pid, latency_ms: x.latency_ms, outside_bound_ms: x.outside_bound_ms, gap_ms: x.gap_ms });
  cell.gapFirstLast = perProc.length ? { first: show(perProc[0]), last: show(perProc[perProc.length - 1]) } : null;
  if (cell.outsideBoundMinusDaemon.p50 !== null && cell.outsideBoundMinusDaemon.p50 > 50) {
    const tenth = Math.max(1, Math.floor(perProc.length / 10));
    const med = (xs) => stats(xs.map((x) => x.gap_ms)).p50;
    (mode.intervalMs > 0 ? bug : note)(
      `latency_ms is ${cell.outsideBoundMinusDaemon.p50} ms (median) below what the bench bounds from outside` +
        ` (line received − process start); the gap grows with the order of governing: median ${med(perProc.slice(0, tenth))} ms for the first 10 % governed, ${med(perProc.slice(-tenth))} ms for the last 10 %`,
      { first_governed: perProc.slice(0, 3).map(show), last_governed: perProc.slice(-3).map(show) },
    );
  }
  if (tooLarge.length > 0) bug(`${tooLarge.length} latency_ms values exceed what the bench observed from outside (line received − max(shell spawned, process start))`, tooLarge.slice(0, 5));

  // /metrics while they are governed.
  try {
    const m = await d.metrics();
    cell.metricsGovernedGauge = mval(m, 'ffrtmp_watch_governed');
    cell.metricsCheckGoverned = checkCounts(d, m);
    if (cell.metricsGovernedGauge !== null && cell.metricsGovernedGauge < cell.governed) {
      bug(`ffrtmp_watch_governed is ${cell.metricsGovernedGauge} with ${cell.governed} targets governed and running`, null);
    }
    for (const c of cell.metricsCheckGoverned.mismatches) bug(`/metrics disagrees with the daemon's lines: ${c}`, null);
  } catch (e) {
    bug(`GET /metrics failed: ${e.message}`, null);
  }

  // End: kill the targets (their shell reaps them), every governed job must end with a Result.
  killPids(pids);
  // A job id can come back in a later cell (a reused PID): only Results after this governing count.
  const jobs = pids.map((p) => (d.governed.get(p) ?? []).find((l) => l.recvAt >= shell.spawnedAt)).filter(Boolean).map((g) => ({ id: g.job_id, since: g.recvAt }));
  const resultsOf = (j) => (d.results.get(j.id) ?? []).filter((r) => r.recvAt >= j.since);
  const killedAt = nowMs();
  const endTimeout = 30000 + n * 100;
  const allEnded = await d.waitFor(() => jobs.every((j) => resultsOf(j).length > 0), endTimeout);
  cell.resultsAllMs = +(nowMs() - killedAt).toFixed(1);
  await sleep(200); // a second Result for a job would come right after the first
  const noResult = jobs.filter((j) => resultsOf(j).length === 0).map((j) => j.id);
  cell.results = jobs.length - noResult.length;
  if (!allEnded) bug(`${noResult.length} of ${jobs.length} governed jobs got no Result within ${endTimeout} ms of their process being killed`, noResult.slice(0, 5));
  const reasons = {};
  for (const j of jobs) for (const r of resultsOf(j)) reasons[`${r.platform_sla_reason}/${r.signal ?? r.exit_code}`] = (reasons[`${r.platform_sla_reason}/${r.signal ?? r.exit_code}`] ?? 0) + 1;
  cell.resultReasons = reasons;
  const twice = jobs.filter((j) => resultsOf(j).length > 1).map((j) => ({ job_id: j.id, results: resultsOf(j).map(stripRecv) }));
  if (twice.length > 0) bug(`${twice.length} jobs got more than one Result`, twice.slice(0, 5));
  await Promise.race([shell.exited, sleep(10000)]);
  // The leaves go with the jobs.
  await sleep(200);
  const top = path.join(ctx.memory.mountPoint, ctx.cgroupRel);
  let left = [];
  for (let i = 0; i < 20; i++) {
    left = fs.existsSync(top) ? fs.readdirSync(top, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name) : [];
    if (left.length === 0) break;
    await sleep(250);
  }
  cell.leavesLeftAfterResults = left.length;
  if (left.length > 0) bug(`${left.length} job leaves still under the root 5 s after every Result`, left.slice(0, 5));
  try {
    const m = await d.metrics();
    cell.metricsGovernedAfter = mval(m, 'ffrtmp_watch_governed');
    if (cell.metricsGovernedAfter !== 0) bug(`ffrtmp_watch_governed is ${cell.metricsGovernedAfter} after every job ended`, null);
    const c = checkCounts(d, m);
    for (const x of c.mismatches) bug(`/metrics disagrees with the daemon's lines: ${x}`, null);
  } catch (e) {
    bug(`GET /metrics failed: ${e.message}`, null);
  }
  return cell;
}

/** discovered_total and the latency histogram's count, per path, against the `governed` lines so far. */
function checkCounts(d, m) {
  const byPath = {};
  let sum = 0;
  for (const l of d.lines) {
    if (l.event !== 'governed') continue;
    byPath[l.path] = (byPath[l.path] ?? 0) + 1;
    sum += l.latency_ms;
  }
  const mismatches = [];
  const seen = {};
  for (const p of ['event', 'scan', 'reconcile']) {
    const lines = byPath[p] ?? 0;
    const disc = mval(m, 'ffrtmp_watch_discovered_total', { path: p }) ?? 0;
    const hist = mval(m, 'ffrtmp_watch_discovery_latency_seconds_count', { path: p }) ?? 0;
    seen[p] = { lines, discovered_total: disc, latency_count: hist };
    if (disc !== lines) mismatches.push(`discovered_total{path="${p}"} ${disc} vs ${lines} governed lines`);
    if (hist !== lines) mismatches.push(`discovery_latency_seconds_count{path="${p}"} ${hist} vs ${lines} governed lines`);
  }
  const histSumMs = (mval(m, 'ffrtmp_watch_discovery_latency_seconds_sum') ?? 0) * 1000;
  const count = Object.values(byPath).reduce((a, b) => a + b, 0);
  if (Math.abs(histSumMs - sum) > 0.001 * count + 1) mismatches.push(`discovery_latency_seconds_sum ${histSumMs.toFixed(1)} ms vs ${sum.toFixed(1)} ms summed from the lines`);
  return { byPath: seen, histSumMs: +histSumMs.toFixed(3), linesSumMs: +sum.toFixed(3), mismatches };
}

async function latencyMode(ctx, modeId) {
  const mode = MODES[modeId];
  const o = ctx.opts;
  const d = new Daemon(ctx, `lat-${modeId}`, mode, [ctx.targetName], 'debug');
  await d.start();
  log(`${modeId}: daemon pid ${d.pid} ${d.url} (${d.startedLine.discovery}${d.startedLine.kernel_filter ? ', kernel filter' : ''})`);
  await sleep(1500);
  const out = { mode: modeId, daemonPid: d.pid, started: stripRecv(d.startedLine), cells: [] };
  const anomalies = [];
  try {
    for (const n of o.ns) {
      const reps = n === 1 ? roundsFor(o, mode) : n >= 1000 ? (modeId === 'event' || modeId === 'scan-2s' ? Math.min(o.repeat, 2) : 1) : o.repeat;
      const runs = [];
      for (let r = 0; r < reps; r++) {
        const t = Date.now();
        const c = await burst(ctx, d, mode, n, `${modeId} N=${n} #${r + 1}`);
        runs.push(c);
        anomalies.push(...c.anomalies);
        const s = stats(c.samples);
        log(`${modeId.padEnd(8)} N=${String(n).padEnd(4)} ${n === 1 ? 'round' : 'rep'} ${r + 1}/${reps}: governed ${c.governed}/${c.started}  p50 ${fmt(s.p50)}  max ${fmt(s.max)} ms` +
          `  (${((Date.now() - t) / 1000).toFixed(1)} s)${c.anomalies.length ? `  ${c.anomalies.length} ANOMALIES` : ''}`);
        // Between rounds: a random pause, so the next start falls at a random phase of the scan.
        if (r + 1 < reps) await sleep(n === 1 ? (mode.intervalMs > 0 ? Math.random() * mode.intervalMs : 100 + Math.random() * 200) : 500);
      }
      const all = runs.flatMap((c) => c.samples);
      const cpu = runs.reduce((a, c) => a + (c.daemonCpuMs ?? 0), 0);
      const sched = runs.reduce((a, c) => a + (c.daemonSchedMs ?? 0), 0);
      const governed = runs.reduce((a, c) => a + c.governed, 0);
      out.cells.push({
        mode: modeId, n, reps, started: runs.reduce((a, c) => a + c.started, 0), governed,
        results: runs.reduce((a, c) => a + c.results, 0),
        latencyMs: stats(all),
        perRep: runs.map((c) => ({ ...stats(c.samples), governAllMs: c.governAllMs, shellStartAllMs: c.shellStartAllMs })),
        paths: runs.reduce((a, c) => (Object.entries(c.paths).forEach(([k, v]) => (a[k] = (a[k] ?? 0) + v)), a), {}),
        daemonCpuMsPerGoverned: governed ? +(cpu / governed).toFixed(3) : null,
        daemonSchedMsPerGoverned: governed ? +(sched / governed).toFixed(3) : null,
        outsideBoundMinusDaemonMs: stats(runs.flatMap((c) => (c.outsideBoundMinusDaemon.n ? [c.outsideBoundMinusDaemon.p50] : []))),
        outsideGapMaxMs: Math.max(...runs.map((c) => c.outsideBoundMinusDaemon.max ?? -Infinity)),
        governAllMs: stats(runs.map((c) => c.governAllMs)),
        resultReasons: runs.reduce((a, c) => (Object.entries(c.resultReasons).forEach(([k, v]) => (a[k] = (a[k] ?? 0) + v)), a), {}),
        leavesLeft: runs.reduce((a, c) => a + c.leavesLeftAfterResults, 0),
        anomalies: runs.reduce((a, c) => a + c.anomalies.length, 0),
      });
    }
  } finally {
    out.exit = await stopAndRecover(ctx, d, anomalies, `${modeId} daemon`);
    out.lineCounts = d.counts;
    out.nonJsonStderr = d.raw.slice(0, 20);
    daemonLineAnomalies(d, anomalies, `${modeId} daemon`);
  }
  out.anomalies = anomalies;
  return out;
}

function roundsFor(o, mode) {
  if (mode.intervalMs >= 10000) return Math.max(3, Math.round(o.rounds / 4));
  if (mode.intervalMs > 0) return Math.max(5, Math.round(o.rounds / 2));
  return o.rounds;
}

function stripRecv(l) {
  if (!l) return l;
  const { recvAt, ...rest } = l;
  return rest;
}

/** SIGTERM (must exit 0 with watch_stopping), then recover its state dir. */
async function stopAndRecover(ctx, d, anomalies, label) {
  const exit = await d.stop();
  const res = { code: exit.code, signal: exit.signal, killedHard: !!d.killedHard, stoppingLine: stripRecv(d.lines.find((l) => l.event === 'watch_stopping')) ?? null };
  if (exit.code !== 0) anomalies.push({ severity: 'bug', cell: label, what: `the daemon exited with ${exit.code ?? exit.signal} after SIGTERM (expected 0)`, evidence: readText(d.logFile)?.split('\n').slice(-15) });
  res.recover = recoverState(ctx, d.stateDir);
  if (res.recover.status !== 0) anomalies.push({ severity: 'note', cell: label, what: `recover exited ${res.recover.status}`, evidence: res.recover.text });
  return res;
}

// ---------------------------------------------------------------------------------------------
// CPU

async function cpuWindow(d, fn, tailMs) {
  const c0 = d.cpu();
  const t0 = nowMs();
  const what = await fn();
  const tEnd = nowMs();
  if (tailMs) await sleep(tailMs);
  const c1 = d.cpu();
  const windowMs = c1.at - c0.at;
  const cpuMs = ((c1.ticks - c0.ticks) * 1000) / USER_HZ;
  const schedMs = (c1.schedNs - c0.schedNs) / 1e6;
  return {
    ...what,
    wallMs: +(tEnd - t0).toFixed(1),
    windowMs: +windowMs.toFixed(1),
    cpuMs,
    cpuPctOfCore: +((cpuMs / windowMs) * 100).toFixed(3),
    schedMs: +schedMs.toFixed(2),
    schedPctOfCore: +((schedMs / windowMs) * 100).toFixed(3),
    byThread: threadDelta(c0.threads, c1.threads),
  };
}

function runQuiet(cmd, args) {
  return new Promise((resolve) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    c.stdout.setEncoding('utf8');
    c.stdout.on('data', (x) => (out += x));
    c.on('exit', (code) => resolve({ code, out }));
  });
}

async function execStats(d) {
  const m = await d.metrics();
  return {
    crossed: mval(m, 'ffrtmp_watch_exec_events_total', { where: 'crossed' }),
    filteredInC: mval(m, 'ffrtmp_watch_exec_events_total', { where: 'filtered_in_c' }),
    overruns: mval(m, 'ffrtmp_watch_overruns_total'),
    governed: mval(m, 'ffrtmp_watch_governed'),
  };
}

const delta = (a, b) => Object.fromEntries(Object.keys(a).map((k) => [k, a[k] === null || b[k] === null ? null : b[k] - a[k]]));

/**
 * The addon sends its filtered/received counts to JS only with a batch that has a candidate in
 * it: after a storm of non-targets /metrics may lag. One exec of a short-lived target (a copy of
 * /bin/true named as the daemon's target) makes a batch cross; the counts are read again.
 */
async function flushed(ctx, d, before) {
  execFileSync(ctx.flushBin);
  await sleep(700);
  return delta(before, await execStats(d));
}

async function cpuSection(ctx) {
  const o = ctx.opts;
  const rows = [];
  const anomalies = [];
  const perBatch = Math.max(1, Math.round(o.pacedRate / 10));
  const paced = () =>
    runQuiet(ctx.pacer, [ctx.nop, String(perBatch), '100', String(o.windowMs), String(o.pacerWorkers)]).then((r) => {
      const ws = r.out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
      const sum = (k) => ws.reduce((a, w) => a + w[k], 0);
      return { pacer: { program: ctx.nop, workers: ws.length, execs: sum('execs'), failed: sum('failed'), batches: Math.max(...ws.map((w) => w.batches)), late_batches: sum('late_batches'), wall_ms: Math.max(...ws.map((w) => w.wall_ms)) } };
    });
  const rateOf = (pc) => (pc.pacer.execs ? +(pc.pacer.execs / (pc.pacer.wall_ms / 1000)).toFixed(0) : null);
  const loop = () => runQuiet('/bin/sh', ['-c', `i=0; while [ $i -lt ${o.stormExecs} ]; do /bin/true; i=$((i+1)); done`]).then(() => ({ execs: o.stormExecs }));
  // Long enough for V8's post-start GC (the memory reducer, seen ~15 s after start) and the JIT.
  const settleMs = 15000;

  // Control: the paced storm with no daemon at all (what the pacer reaches on this machine now).
  const t0 = nowMs();
  const ctl = await paced();
  rows.push({ id: 'no-daemon-paced', mode: 'none', what: `paced ${o.pacedRate} execs/s of ${path.basename(ctx.nop)}, ${o.windowMs / 1000} s`, wallMs: +(nowMs() - t0).toFixed(1), ...ctl, execRatePerS: rateOf(ctl) });
  log(`cpu: control, no daemon: paced ${ctl.pacer.execs} execs in ${ctl.pacer.wall_ms} ms (${ctl.pacer.late_batches} late batches)`);

  /** One CPU window of the event daemon, with /metrics before, after, and after a flush. */
  const eventRow = async (d, id, what, fn, tailMs) => {
    const m0 = await execStats(d);
    const w = await cpuWindow(d, fn, tailMs);
    const ex = delta(m0, await execStats(d));
    const fl = await flushed(ctx, d, m0);
    const events = fl.crossed + fl.filteredInC - 1; // the flush exec itself is one
    const row = {
      id, mode: 'event', what, ...w, exec: ex, execAfterFlush: fl, execEventsInWindow: events,
      usPerExecEvent: events > 0 ? +((w.schedMs * 1000) / events).toFixed(1) : null,
      watcherWakeupsPerExecEvent: events > 0 && w.byThread['ffrtmp-watcher'] ? +(w.byThread['ffrtmp-watcher'].wakeups / events).toFixed(3) : null,
    };
    if (events >= 100 && ex.filteredInC < 0.5 * fl.filteredInC) {
      anomalies.push({
        severity: 'bug', cell: `cpu ${id}`,
        what: `ffrtmp_watch_exec_events_total{where="filtered_in_c"} lags: +${ex.filteredInC} over the phase, +${fl.filteredInC} once one target exec made a batch cross to JS (the addon only hands its counts over with a batch that has a candidate)`,
        evidence: { scraped_after_phase: ex, scraped_after_one_target_exec: fl },
      });
    }
    return row;
  };

  // Event mode.
  const ev = new Daemon(ctx, 'cpu-event', MODES.event, [ctx.flushName], 'info');
  await ev.start();
  log(`cpu: event daemon pid ${ev.pid} (${ev.startedLine.kernel_filter ? 'kernel filter' : 'no kernel filter'}); settling ${settleMs / 1000} s`);
  try {
    await sleep(settleMs);
    const idle = await eventRow(ev, 'event-idle', `idle ${o.windowMs / 1000} s (other execs on the host only)`, () => sleep(o.windowMs).then(() => ({})), 0);
    rows.push(idle);
    log(`cpu: event idle: ${idle.cpuMs} ms CPU in ${idle.windowMs} ms (${idle.cpuPctOfCore} % of a core); ${idle.execEventsInWindow} exec events on the host`);
    await sleep(1000);
    const storm = await eventRow(ev, 'event-storm', `${o.stormExecs} x /bin/true, one shell loop`, loop, 500);
    storm.execRatePerS = +(o.stormExecs / (storm.wallMs / 1000)).toFixed(0);
    rows.push(storm);
    log(`cpu: event storm: ${o.stormExecs} execs in ${storm.wallMs} ms; daemon ${storm.cpuMs} ms CPU (${storm.cpuPctOfCore} %); /metrics crossed ${storm.exec.crossed} filtered ${storm.exec.filteredInC} (after a flush: ${storm.execAfterFlush.filteredInC}) overruns ${storm.exec.overruns}`);
    await sleep(1000);
    const pc = await eventRow(ev, 'event-paced', `paced ${o.pacedRate} execs/s of ${path.basename(ctx.nop)}, ${o.windowMs / 1000} s`, paced, 500);
    pc.execRatePerS = rateOf(pc);
    rows.push(pc);
    log(`cpu: event paced: ${pc.pacer.execs} execs in ${pc.pacer.wall_ms} ms (${pc.pacer.late_batches} late batches); daemon ${pc.cpuMs} ms CPU (${pc.cpuPctOfCore} %)`);
  } finally {
    const r = await stopAndRecover(ctx, ev, anomalies, 'cpu event daemon');
    rows.forEach((x) => x.mode === 'event' && (x.daemonExit = r));
    daemonLineAnomalies(ev, anomalies, 'cpu event daemon');
  }

  // Scan mode, 2 s.
  const sc = new Daemon(ctx, 'cpu-scan-2s', MODES['scan-2s'], [ctx.flushName], 'info');
  await sc.start();
  log(`cpu: scan-2s daemon pid ${sc.pid}; settling ${settleMs / 1000} s`);
  try {
    await sleep(settleMs);
    const idle = await cpuWindow(sc, () => sleep(o.windowMs).then(() => ({})), 0);
    rows.push({ id: 'scan-2s-idle', mode: 'scan-2s', what: `idle ${o.windowMs / 1000} s`, ...idle, procs: fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n)).length });
    log(`cpu: scan-2s idle: ${idle.cpuMs} ms CPU in ${idle.windowMs} ms (${idle.cpuPctOfCore} % of a core)`);
    await sleep(500);
    const pc = await cpuWindow(sc, paced, 500);
    rows.push({ id: 'scan-2s-paced', mode: 'scan-2s', what: `paced ${o.pacedRate} execs/s of ${path.basename(ctx.nop)}, ${o.windowMs / 1000} s`, ...pc, execRatePerS: rateOf(pc) });
    log(`cpu: scan-2s paced: daemon ${pc.cpuMs} ms CPU (${pc.cpuPctOfCore} %)`);
  } finally {
    const r = await stopAndRecover(ctx, sc, anomalies, 'cpu scan-2s daemon');
    rows.forEach((x) => x.mode === 'scan-2s' && (x.daemonExit = r));
    daemonLineAnomalies(sc, anomalies, 'cpu scan-2s daemon');
  }
  return { rows, anomalies };
}

/** Lines a daemon should not have written: not JSON (the contract is one JSON object per line), failures. */
function daemonLineAnomalies(d, anomalies, label) {
  if (d.raw.length > 0) {
    anomalies.push({ severity: 'bug', cell: label, what: `${d.raw.length} stderr lines that are not JSON (the contract: one JSON object per line)`, evidence: d.raw.slice(0, 6) });
  }
  for (const ev of ['attach_failed', 'discovery_failed', 'overrun', 'reconciled', 'recover_failed', 'watch_failed']) {
    if (d.counts[ev]) {
      anomalies.push({ severity: ev === 'reconciled' || ev === 'overrun' ? 'note' : 'bug', cell: label, what: `${d.counts[ev]} '${ev}' lines`, evidence: d.lines.filter((l) => l.event === ev).slice(0, 5).map(stripRecv) });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// cleanup

async function cleanup(ctx) {
  const report = {};
  for (const d of [...ctx.daemons]) {
    try {
      await d.stop();
    } catch {
      /* reported by the caller */
    }
  }
  // Every target this run started, then anything still running from our temp dir.
  killPids([...ctx.targetPids]);
  const ours = () =>
    fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number).filter((p) => {
      const exe = (() => {
        try {
          return fs.readlinkSync(`/proc/${p}/exe`);
        } catch {
          return '';
        }
      })();
      return exe.startsWith(ctx.binDir);
    });
  killPids(ours());
  for (let i = 0; i < 100 && ctx.shells.size > 0; i++) await sleep(100);
  for (const s of ctx.shells) killPids([-s.pid]); // a shell that did not end: its group
  for (let i = 0; i < 100 && ours().length > 0; i++) await sleep(100);
  report.targetsLeft = ours().length;
  // Close whatever a daemon left open (their recover ran already when they stopped cleanly).
  for (const dir of ctx.stateDirList) {
    if (!fs.existsSync(dir)) continue;
    const r = recoverState(ctx, dir);
    if (r.status !== 0) report[`recover ${path.basename(dir)}`] = r;
    if (!dir.startsWith(ctx.runDir)) fs.rmSync(dir, { recursive: true, force: true });
  }
  // The private root: every leaf, then the root, in every hierarchy.
  report.cgroups = {};
  for (const m of ctx.mounts) {
    const top = path.join(m.mountPoint, ctx.cgroupRel);
    const r = await removeTree(top);
    if (r.existed) report.cgroups[top] = r;
  }
  fs.rmSync(ctx.runDir, { recursive: true, force: true });
  // The brief's checks.
  report.psGrep = spawnSync('sh', ['-c', `ps aux | grep -c '${ctx.targetName}\\|${ctx.flushName}' ; ps aux | grep -v grep | grep -c '${ctx.targetName}\\|${ctx.flushName}'`], { encoding: 'utf8' }).stdout.trim().split('\n').map(Number);
  report.psAuxGrepCountBd = Number(spawnSync('sh', ['-c', 'ps aux | grep -c bd'], { encoding: 'utf8' }).stdout.trim());
  report.psAuxGrepBdLines = spawnSync('sh', ['-c', 'ps aux | grep bd | grep -v grep | cut -c1-160'], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean).slice(0, 20);
  report.cgroupLs = spawnSync('sh', ['-c', `ls ${ctx.memory.mountPoint} | grep bench || true`], { encoding: 'utf8' }).stdout.trim();
  report.runDirRemoved = !fs.existsSync(ctx.runDir);
  return report;
}

// ---------------------------------------------------------------------------------------------
// report

function goalsOf(result) {
  const goals = [];
  const cells = result.latency.flatMap((m) => m.cells);
  for (const c of cells.filter((x) => x.mode === 'event' || x.mode === 'event-tmpfs')) {
    goals.push({ id: `${c.mode}-p99-n${c.n}`, pass: c.latencyMs.p99 !== null && c.latencyMs.p99 <= 10, value: c.latencyMs.p99, text: `${c.mode === 'event' ? 'event mode' : 'event mode, journal on tmpfs'} p99 exec -> governed <= 10 ms at N = ${c.n}: ${fmt(c.latencyMs.p99, 3)} ms (p50 ${fmt(c.latencyMs.p50, 3)})` });
  }
  const paced = result.cpu?.rows.find((r) => r.id === 'event-paced');
  if (paced) goals.push({ id: 'event-paced-cpu', pass: paced.cpuPctOfCore <= 1, value: paced.cpuPctOfCore, text: `event mode daemon <= 1 % of one core under ~${result.options.pacedRate} non-target execs/s: ${paced.cpuPctOfCore} % (${paced.cpuMs} ms CPU in ${paced.windowMs} ms; schedstat ${paced.schedPctOfCore} %; achieved ${paced.execRatePerS} execs/s)` });
  const lost = cells.reduce((a, c) => a + (c.started - c.governed), 0);
  goals.push({ id: 'no-lost-targets', pass: lost === 0, value: lost, text: `every target started was governed: ${lost === 0 ? 'yes' : `${lost} never governed`}` });
  return goals;
}

function render(result) {
  const m = result.machine;
  const lines = [];
  lines.push(`discovery: ${m.date}  kernel ${m.kernel}  ${m.cpuModel} x${m.cpus}  node ${m.node}  cgroups ${m.cgroupMode}`);
  lines.push(`load average before: ${m.loadavgBefore}   after: ${result.loadavgAfter}   daemon: ${result.package.git ?? '?'} (addon ${result.package.addonSha256.slice(0, 12)})`);
  lines.push(`targets: a copy of /bin/sleep (${result.targetName}) from a detached shell loop, --memory-max ${MEMORY_MAX}; state dir on ${m.stateDirFs}; latency = the daemon's latency_ms (exec or process start -> governed, moved and verified)`);
  if (result.latency.length) {
    lines.push('');
    const rows = [];
    for (const mode of result.latency) {
      for (const c of mode.cells) {
        rows.push([
          c.mode, c.n, c.n === 1 ? `${c.reps} rounds` : `${c.reps} x ${c.n}`, `${c.governed}/${c.started}`,
          fmt(c.latencyMs.p50), fmt(c.latencyMs.p90), fmt(c.latencyMs.p99), fmt(c.latencyMs.max),
          fmt(c.governAllMs.p50, 0), Object.entries(c.paths).map(([k, v]) => `${k} ${v}`).join(', '),
          fmt(c.daemonSchedMsPerGoverned), fmt(c.outsideBoundMinusDaemonMs.p50), c.anomalies,
        ]);
      }
    }
    lines.push(table(['mode', 'N', 'samples', 'governed', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'burst all ms', 'found by', 'CPU ms/proc', 'outside-daemon ms', 'anomalies'], rows));
    lines.push('  burst all ms: shell spawned -> last target governed (median over reps); CPU ms/proc: daemon CPU (schedstat, all threads) from the spawn to the last governed, per target;');
    lines.push('  outside-daemon ms: (line received - max(shell spawned, /proc start time)) - latency_ms, median of the per-burst medians (>= 0 expected; ~0-10 ms)');
    const ratios = [];
    for (const n of result.options.ns) {
      const ev = result.latency.find((x) => x.mode === 'event')?.cells.find((c) => c.n === n);
      for (const id of ['event-tmpfs', 'scan-2s', 'scan-10s']) {
        const sc = result.latency.find((x) => x.mode === id)?.cells.find((c) => c.n === n);
        if (ev && sc && ev.latencyMs.p50 && ev.latencyMs.p99) {
          ratios.push(`N=${n}: ${id} / event  p50 ${fmt(sc.latencyMs.p50)} / ${fmt(ev.latencyMs.p50)} = ${fmt(sc.latencyMs.p50 / ev.latencyMs.p50, 0)}x   p99 ${fmt(sc.latencyMs.p99)} / ${fmt(ev.latencyMs.p99)} = ${fmt(sc.latencyMs.p99 / ev.latencyMs.p99, 1)}x`);
        }
      }
    }
    if (ratios.length) {
      lines.push('');
      lines.push('ratios:');
      for (const r of ratios) lines.push(`  ${r}`);
    }
  }
  if (result.cpu) {
    lines.push('');
    const thr = (r, k) => (r.byThread?.[k] ? fmt(r.byThread[k].cpuMs, 1) : '-');
    const rows = result.cpu.rows.map((r) => [
      r.mode, r.what, r.execRatePerS ?? '-', fmt(r.wallMs, 0), fmt(r.windowMs, 0), r.cpuMs ?? '-', fmt(r.cpuPctOfCore, 3), fmt(r.schedPctOfCore, 3),
      `${thr(r, 'main (JS)')} / ${thr(r, 'ffrtmp-watcher')}`, r.byThread?.['ffrtmp-watcher']?.wakeups ?? '-',
      r.exec ? `${r.exec.crossed} / ${r.exec.filteredInC}` : '-', r.execAfterFlush ? `${r.execAfterFlush.crossed} / ${r.execAfterFlush.filteredInC}` : '-',
      r.usPerExecEvent ?? '-', r.exec ? r.exec.overruns : '-',
    ]);
    lines.push(table(['mode', 'load', 'execs/s', 'wall ms', 'window ms', 'CPU ms', '% of a core', '% (schedstat)', 'main / watcher ms', 'watcher wake-ups', 'crossed / filtered in C', 'after a flush', 'us per exec event', 'overruns'], rows));
    lines.push('  CPU ms: the daemon\'s utime+stime ticks (10 ms) over the window (wall + 0.5 s tail for storms); schedstat: ns on CPU of all its threads, same window;');
    lines.push('  main / watcher ms: schedstat of the JS thread and of the addon\'s ffrtmp-watcher thread (the connector is drained there); wake-ups: its voluntary context switches;');
    lines.push('  crossed / filtered in C: /metrics deltas over the phase; "after a flush": again after one exec of a short-lived target made a batch cross to JS;');
    lines.push('  us per exec event: schedstat CPU / exec events counted after the flush (every exec on the host in the window, ours and others\');  mode none: the pacer alone, no daemon');
  }
  lines.push('');
  for (const g of result.goals) lines.push(`${g.pass ? 'PASS' : 'FAIL'} ${g.text}`);
  const bugs = result.anomalies.filter((a) => a.severity === 'bug');
  const notes = result.anomalies.filter((a) => a.severity !== 'bug');
  if (bugs.length) {
    lines.push('');
    lines.push(`DAEMON BUGS (${bugs.length}):`);
    for (const a of bugs) lines.push(`  BUG  [${a.cell}] ${a.what}${a.evidence ? `\n       ${JSON.stringify(a.evidence).slice(0, 600)}` : ''}`);
  }
  for (const a of notes) lines.push(`NOTE [${a.cell}] ${a.what}${a.evidence ? `: ${JSON.stringify(a.evidence).slice(0, 400)}` : ''}`);
  lines.push(`cleanup: targets left ${result.cleanup.targetsLeft}; ps aux | grep -c bd: ${result.cleanup.psAuxGrepCountBd}; ps aux | grep -c ${result.targetName}: ${result.cleanup.psGrep?.[0]} (grep itself included; ${result.cleanup.psGrep?.[1]} without it); ` +
    `cgroups left under ${result.machine.memoryMount}: ${result.cleanup.cgroupLs === '' ? 'none' : result.cleanup.cgroupLs}; roots removed: ${Object.entries(result.cleanup.cgroups).map(([k, v]) => `${k} ${v.removed ? 'ok' : `STUCK at ${v.stuck}`}`).join(', ') || 'none created'}`);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (process.geteuid() !== 0) {
    log('discovery: needs root (the process connector, cgroups); skipped');
    process.exit(77);
  }
  const { mounts, memory } = cgroupMounts();
  if (memory === null) throw new Error('no cgroup memory hierarchy mounted');
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ffrtmp-bench-discovery-'));
  fs.chmodSync(runDir, 0o755);
  const hex = crypto.randomBytes(3).toString('hex');
  const ctx = {
    opts, runDir, mounts, memory,
    cgroupRel: `ffrtmp-bench-discovery-${process.pid}`,
    binDir: path.join(runDir, 'bin'),
    targetName: `bd${hex}`,
    flushName: `bdx${hex}`,
    daemons: new Set(),
    shells: new Set(),
    targetPids: new Set(),
    stateDirList: [],
  };
  ctx.cgroupRoot = path.join(memory.mountPoint, ctx.cgroupRel);
  let cleaned = null;
  const doCleanup = async () => (cleaned ??= cleanup(ctx));
  const onSignal = (sig) => {
    log(`discovery: ${sig}: cleaning up...`);
    doCleanup().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const result = { schema: 'ffrtmp-bench-discovery/1', options: opts, targetName: ctx.targetName, latency: [], cpu: null, anomalies: [] };
  let fatal = null;
  try {
    fs.mkdirSync(ctx.binDir);
    ctx.targetBin = copyBinary('/bin/sleep', ctx.binDir, ctx.targetName);
    ctx.flushBin = copyBinary('/bin/true', ctx.binDir, ctx.flushName);
    execFileSync(ctx.targetBin, ['0']); // the copy works under its new name
    ctx.pacer = compilePacer(runDir);
    ctx.nop = compileNop(ctx.binDir);
    ctx.pkg = await snapshotPackage(runDir);
    ctx.monoMinusBootMs = await monoMinusBoot();
    const cpus = os.cpus();
    result.machine = {
      date: new Date().toISOString(), kernel: os.release(), cpuModel: cpus[0]?.model ?? 'unknown', cpus: cpus.length,
      memTotalMb: Math.round(os.totalmem() / 1048576), node: process.version, loadavgBefore: readText('/proc/loadavg').trim(),
      processes: fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n)).length,
      cgroupMode: mounts.some((x) => !x.v2) ? (mounts.some((x) => x.v2) ? 'hybrid (v1 controllers + v2)' : 'v1') : 'v2',
      memoryMount: memory.mountPoint, cgroupRoot: ctx.cgroupRoot,
      stateDirFs: execFileSync('stat', ['-f', '-c', '%T', runDir], { encoding: 'utf8' }).trim(),
      monoMinusBootMs: +ctx.monoMinusBootMs.toFixed(3), userHz: USER_HZ,
    };
    result.package = { git: ctx.pkg.git, addon: ctx.pkg.addon, addonSha256: ctx.pkg.addonSha256, watchJsSha256: ctx.pkg.watchJsSha256, daemonJsSha256: ctx.pkg.daemonJsSha256 };
    log(`discovery: run dir ${runDir}, cgroup root ${ctx.cgroupRoot}, target ${ctx.targetName}, daemon ${ctx.pkg.git}`);
    if (opts.latency) {
      for (const m of opts.modes) {
        const r = await latencyMode(ctx, m);
        result.latency.push(r);
        result.anomalies.push(...r.anomalies);
      }
    }
    if (opts.cpu) {
      result.cpu = await cpuSection(ctx);
      result.anomalies.push(...result.cpu.anomalies);
    }
  } catch (e) {
    fatal = e;
    result.anomalies.push({ severity: 'bug', cell: 'bench', what: `the run stopped: ${e.message.split('\n')[0]}`, evidence: e.stack?.split('\n').slice(0, 8) });
  } finally {
    result.cleanup = await doCleanup();
  }
  if (result.cleanup.targetsLeft > 0 || Object.values(result.cleanup.cgroups).some((c) => !c.removed)) {
    result.anomalies.push({ severity: 'note', cell: 'cleanup', what: 'something was left behind', evidence: result.cleanup });
  }
  result.loadavgAfter = readText('/proc/loadavg').trim();
  if (!result.machine) {
    process.stderr.write(`discovery: ${fatal?.stack ?? fatal}\n`);
    process.exit(1);
  }
  result.goals = goalsOf(result);
  const text = render(result);
  result.table = text;
  process.stdout.write(`\n${text}\n`);
  if (fatal) process.stderr.write(`\ndiscovery: ${fatal.stack ?? fatal}\n`);
  if (opts.save) {
    fs.mkdirSync(RESULTS_DIR, { recursive: true });
    fs.writeFileSync(path.join(RESULTS_DIR, 'discovery-latest.json'), `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write('\nwrote bench/results/discovery-latest.json\n');
  }
  const bugs = result.anomalies.filter((a) => a.severity === 'bug').length;
  if (bugs > 0) {
    process.stderr.write(`\ndiscovery: ${bugs} daemon anomal${bugs === 1 ? 'y' : 'ies'} reported as bugs (see DAEMON BUGS above): exit 1\n`);
    process.exitCode = 1;
  }
}

main().catch((err) => {
  process.stderr.write(`discovery: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
