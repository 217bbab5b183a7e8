'use strict';
/**
 * One benchmark cell: one (backend, N) measured in this fresh Node process, spawned by run.js.
 * Argument: a JSON object { backend: 'pidfd'|'polling'|'c-floor', intervalMs, n, rounds, spreadMs,
 * idleMs, leadMs, launcher, floor, dist, addon, gcBeforeGo, out }. Writes its result as JSON to `out`.
 *
 * 'c-floor' is the reference: floor.c (pidfd + epoll in C, one thread, no Node) watches the same
 * kind of targets in the same conditions; this process only orchestrates it.
 *
 * Per round: a launcher (launcher.c, our child) forks N targets (its children, not ours), we
 * attach every one with observer.attach(pid), then (round 1 only) measure an idle window with
 * everything attached and sleeping, then say "go": the targets exit spread over spreadMs, each
 * writing CLOCK_REALTIME just before _exit, and we note when each `exited` promise callback ran.
 */
const { spawn } = require('node:child_process');
const { readFileSync, readdirSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const { performance, PerformanceObserver } = require('node:perf_hooks');
const { createInterface } = require('node:readline');

const cfg = JSON.parse(process.argv[2]);
const loadModule = require(join(cfg.dist, 'native', 'load'));
const { createNative } = require(join(cfg.dist, 'native', 'native'));
const { selectObserver } = require(join(cfg.dist, 'observer', 'select'));

const EPOLLIN = 0x1;
const EPOLLHUP = 0x10;

// ---------------------------------------------------------------------------------------------
// Clocks. The targets write CLOCK_REALTIME (ns). In JS, Date.now() is CLOCK_REALTIME but only in
// whole ms; performance.now() is CLOCK_MONOTONIC with sub-µs resolution. We map the latter onto
// the former with an offset found at a Date.now() tick edge (bracketed within 10 µs, typically
// ~0.2 µs; V8 floors Date.now(), so the tick is the whole ms), measured right before
// "go" and again after the last exit, and interpolate between the two (drift is reported).
// ---------------------------------------------------------------------------------------------
function edgeOffsetOnce() {
  let aPrev = performance.now(); // taken before the Date.now() call of the previous iteration
  let d0 = Date.now();
  for (;;) {
    const a = performance.now();
    const d = Date.now();
    const b = performance.now();
    // The edge lies between the previous Date.now() call and this one: inside (aPrev, b).
    if (d !== d0) {
      if (b - aPrev < 0.01) return { offset: d - (aPrev + b) / 2, at: b, widthUs: (b - aPrev) * 1000 };
      d0 = d; // preempted around the edge: wait for the next one
    }
    aPrev = a;
  }
}

function calibrate() {
  const xs = [];
  for (let i = 0; i < 5; i++) xs.push(edgeOffsetOnce());
  xs.sort((a, b) => a.offset - b.offset);
  return xs[2];
}

let cal0 = null;
let cal1 = null;
/** performance.now() value -> CLOCK_REALTIME ms. */
function toRealtime(p) {
  if (cal1 === null || cal1.at === cal0.at) return p + cal0.offset;
  const f = (p - cal0.at) / (cal1.at - cal0.at);
  return p + cal0.offset + f * (cal1.offset - cal0.offset);
}

// ---------------------------------------------------------------------------------------------
// /proc readers (synchronous: nothing here wakes another thread).
// ---------------------------------------------------------------------------------------------
function tids() {
  return readdirSync('/proc/self/task').map(Number);
}

function ctx(tid) {
  try {
    const s = readFileSync(`/proc/self/task/${tid}/status`, 'latin1');
    const v = Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(s)[1]);
    const nv = Number(/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(s)[1]);
    return { v, nv };
  } catch {
    return { v: 0, nv: 0 };
  }
}

function allCtx() {
  const m = new Map();
  for (const t of tids()) m.set(t, ctx(t));
  return m;
}

function ctxDelta(a, b) {
  let v = 0;
  let nv = 0;
  for (const [t, x] of b) {
    const y = a.get(t) ?? { v: 0, nv: 0 };
    v += x.v - y.v;
    nv += x.nv - y.nv;
  }
  return { v, nv };
}

/** sum_exec_runtime of one thread in ns (/proc/<pid>/task/<tid>/schedstat, field 1). */
function threadCpuNs(tid) {
  try {
    return Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'latin1').split(' ')[0]);
  } catch {
    return NaN;
  }
}

function statusKb(field) {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'latin1'));
  return m ? Number(m[1]) : NaN;
}

function cpuMs(u0, u1) {
  return (u1.user - u0.user + u1.system - u0.system) / 1000;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Instrumentation of the pidfd path (pidfd backend only): wrap the binding's watcherStart (to
// find the watcher thread and see each event arrive in JS) and watch (pidfd -> token).
// The observer code itself is untouched.
// ---------------------------------------------------------------------------------------------
let watcherTid = null;
const fdToken = new Map();
const tokenEvents = new Map(); // token -> { inAt, inJs, hupJs }
/** Native batches as JS sees them: one epoll_wait return = one `at`; at -> event count. */
const batches = new Map();

/**
 * The addon's exports are read-only properties, so the observer gets a stand-in: a plain object
 * with every raw binding function bound to the real one, and two of them wrapped, handed to the
 * library's own `createNative` (the one owner of the boundary, as loadNative() would). select.js
 * calls load.loadNative() through the module's exports, so replacing that export is enough.
 */
function instrument(loadModule) {
  const loaded = loadModule.loadNative();
  if (!loaded.available) throw new Error(`pidfd backend unavailable: ${loaded.reason}`);
  // run.js snapshots the addon once per run, so every cell measures the same binary even if
  // build/ is rebuilt meanwhile (a shared working tree); otherwise the build loadNative() uses.
  const binding = cfg.addon
    ? require(cfg.addon)
    : require(require.resolve('node-gyp-build', { paths: [cfg.dist] }))(join(cfg.dist, '..'));
  const wrapped = {};
  for (const k of Object.keys(binding)) wrapped[k] = typeof binding[k] === 'function' ? binding[k].bind(binding) : binding[k];
  wrapped.watcherStart = function (cb) {
    const before = new Set(tids());
    const r = binding.watcherStart((token, events, at) => {
      const js = performance.now();
      batches.set(at, (batches.get(at) ?? 0) + 1);
      let e = tokenEvents.get(token);
      if (e === undefined) tokenEvents.set(token, (e = { inAt: null, inJs: null, hupJs: null }));
      if ((events & EPOLLIN) !== 0 && e.inJs === null) {
        e.inAt = at;
        e.inJs = js;
      }
      if ((events & EPOLLHUP) !== 0 && e.hupJs === null) e.hupJs = js;
      cb(token, events, at);
    });
    const born = tids().filter((t) => !before.has(t));
    watcherTid = born.length === 1 ? born[0] : null;
    return r;
  };
  wrapped.watch = function (fd, token) {
    fdToken.set(fd, token);
    return binding.watch(fd, token);
  };
  const standIn = { available: true, native: createNative(wrapped) };
  loadModule.loadNative = () => standIn;
}

// ---------------------------------------------------------------------------------------------

/** A helper process with line-oriented stdout. */
function startProc(path, args) {
  const child = spawn(path, args, { stdio: ['pipe', 'pipe', 'inherit'], detached: true });
  const lines = createInterface({ input: child.stdout });
  const queue = [];
  let waiter = null;
  let ended = false;
  lines.on('line', (l) => {
    if (waiter) {
      const w = waiter;
      waiter = null;
      w(l);
    } else queue.push(l);
  });
  const closed = new Promise((resolve) => child.once('close', (code) => resolve(code)));
  closed.then(() => {
    ended = true;
    if (waiter) waiter(null);
  });
  const nextLine = () =>
    queue.length > 0 ? Promise.resolve(queue.shift()) : ended ? Promise.resolve(null) : new Promise((r) => (waiter = r));
  return { child, nextLine, closed };
}

function startLauncher(n, leadMs) {
  return startProc(cfg.launcher, [String(n), String(cfg.spreadMs), String(leadMs)]);
}

/** ns since the epoch (BigInt-safe string) -> ms, keeping sub-µs precision. */
function nsToMs(ns) {
  const b = BigInt(ns);
  return Number(b / 1000000n) + Number(b % 1000000n) / 1e6;
}

/** The launcher's "res" lines, after every target was reaped: pid -> { exitMs, reapMs, waitStatus }. */
async function launcherResults(L) {
  const res = new Map();
  for (;;) {
    const l = await L.nextLine();
    if (l === null || l === 'done') break;
    const [, , pid, exitNs, reapNs, st] = l.split(' ');
    res.set(Number(pid), { exitMs: nsToMs(exitNs), reapMs: nsToMs(reapNs), waitStatus: Number(st) });
  }
  const code = await L.closed;
  if (code !== 0) throw new Error(`launcher exited with ${code}`);
  return res;
}

async function launchTargets(leadMs) {
  const L = startLauncher(cfg.n, leadMs);
  const first = await L.nextLine();
  if (first === null || !first.startsWith('pids')) throw new Error(`launcher said: ${first}`);
  return { L, pidsLine: first, pids: first.split(' ').slice(1).map(Number) };
}

/** Context switches and CPU time of another (single-threaded) process. */
function foreignCtx(pid) {
  const s = readFileSync(`/proc/${pid}/status`, 'latin1');
  return {
    v: Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(s)[1]),
    nv: Number(/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(s)[1]),
    cpuNs: Number(readFileSync(`/proc/${pid}/schedstat`, 'latin1').split(' ')[0]),
  };
}

/** One round of the C reference: floor.c watches, this process only orchestrates. */
async function roundFloor(index, out) {
  const leadMs = cfg.leadMs + Math.random() * 100;
  const { L, pidsLine } = await launchTargets(leadMs);
  const F = startProc(cfg.floor, [String(cfg.n)]);
  F.child.stdin.write(`${pidsLine}\n`);
  const ready = await F.nextLine();
  if (ready !== 'ready') throw new Error(`floor said: ${ready}`);
  if (index === 0) {
    await sleep(300);
    const a = foreignCtx(F.child.pid);
    const p0 = performance.now();
    await sleep(cfg.idleMs);
    const p1 = performance.now();
    const b = foreignCtx(F.child.pid);
    const secs = (p1 - p0) / 1000;
    out.idle = {
      seconds: secs,
      watcherThread: 'floor.c, its single thread in epoll_wait(-1)',
      watcherVoluntary: b.v - a.v,
      watcherInvoluntary: b.nv - a.nv,
      watcherWakeupsPerSec: (b.v - a.v) / secs,
      watcherCtxPerSec: (b.v - a.v + b.nv - a.nv) / secs,
      watcherCpuMs: (b.cpuNs - a.cpuNs) / 1e6,
      processVoluntary: b.v - a.v,
      processInvoluntary: b.nv - a.nv,
      processCtxPerSec: (b.v - a.v + b.nv - a.nv) / secs,
      processCpuMs: (b.cpuNs - a.cpuNs) / 1e6,
      threads: 1,
    };
  }
  const pGo = performance.now();
  L.child.stdin.write('go\n');
  const detected = new Map();
  let cpu = null;
  for (;;) {
    const l = await F.nextLine();
    if (l === null || l === 'done') break;
    const f = l.split(' ');
    if (f[0] === 'res') detected.set(Number(f[1]), nsToMs(f[2]));
    if (f[0] === 'cpu') cpu = { ms: (Number(f[1]) + Number(f[2])) / 1000, maxRssKb: Number(f[3]) };
  }
  const pEnd = performance.now();
  const fcode = await F.closed;
  if (fcode !== 0) throw new Error(`floor exited with ${fcode}`);
  const res = await launcherResults(L);
  if (index === 0 && cpu) {
    out.rssMb = cpu.maxRssKb / 1024;
    out.vmRssKb = cpu.maxRssKb;
  }
  for (const [pid, t] of res) {
    const d = detected.get(pid);
    if (d === undefined) throw new Error(`floor did not report pid ${pid}`);
    out.samples.push({ js: d - t.exitMs, observed: d - t.exitMs, thread: d - t.exitMs, reap: t.reapMs - t.exitMs });
  }
  out.rounds.push({ leadMs, windowMs: pEnd - pGo, cpuMs: cpu ? cpu.ms : NaN, watcherCpuMs: cpu ? cpu.ms : NaN });
}

/** One round through an ExitObserver (pidfd or polling), in this process. */
async function round(observer, index, out) {
  const interval = cfg.backend === 'polling' ? cfg.intervalMs : 100;
  // A random phase against the poll timer: for N = 1 the single exit must not land at the same
  // point of every polling period (N > 1 spreads over whole periods anyway).
  const leadMs = cfg.leadMs + Math.random() * interval;
  const { L, pids } = await launchTargets(leadMs);

  const recs = new Map();
  const tAttach0 = performance.now();
  const pending = [];
  for (const pid of pids) {
    const a = observer.attach(pid);
    const rec = { pid, token: a.pidfd >= 0 ? fdToken.get(a.pidfd) : undefined, resolvedJs: null, exitedAtMs: null, status: null };
    recs.set(pid, rec);
    pending.push(
      a.watch.exited.then((ex) => {
        rec.resolvedJs = performance.now();
        rec.exitedAtMs = ex.exitedAtMs;
        rec.status = ex.status;
      }),
    );
  }
  const attachMs = performance.now() - tAttach0;
  if (cfg.backend === 'pidfd' && watcherTid === null) throw new Error('could not identify the native watcher thread');
  const wTid = cfg.backend === 'pidfd' ? watcherTid : process.pid;

  if (index === 0) {
    // Idle: N attached processes sleeping in read(2), nothing exits.
    await sleep(300); // let the attach burst settle
    const c0 = allCtx();
    const w0 = ctx(wTid);
    const wcpu0 = threadCpuNs(wTid);
    const u0 = process.cpuUsage();
    const p0 = performance.now();
    await sleep(cfg.idleMs);
    const p1 = performance.now();
    const u1 = process.cpuUsage();
    const wcpu1 = threadCpuNs(wTid);
    const w1 = ctx(wTid);
    const c1 = allCtx();
    const secs = (p1 - p0) / 1000;
    const all = ctxDelta(c0, c1);
    out.idle = {
      seconds: secs,
      watcherThread: cfg.backend === 'pidfd' ? 'native watcher thread (epoll_wait)' : 'main JS thread (poll timer)',
      watcherTid: wTid,
      watcherVoluntary: w1.v - w0.v,
      watcherInvoluntary: w1.nv - w0.nv,
      watcherWakeupsPerSec: (w1.v - w0.v) / secs,
      watcherCtxPerSec: (w1.v - w0.v + w1.nv - w0.nv) / secs,
      watcherCpuMs: (wcpu1 - wcpu0) / 1e6,
      processVoluntary: all.v,
      processInvoluntary: all.nv,
      processCtxPerSec: (all.v + all.nv) / secs,
      processCpuMs: cpuMs(u0, u1),
      threads: c1.size,
    };
    out.rssMb = process.memoryUsage().rss / 1048576;
    out.vmRssKb = statusKb('VmRSS');
    out.attachMs = attachMs;
  }

  // Exit phase.
  const gcs = [];
  const gcObs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push({ start: e.startTime, duration: e.duration });
  });
  // --gc-before-go (diagnosis): start the exit phase with a clean heap, so that garbage left by
  // the attach phase and the bench itself cannot trigger a collection among the exits.
  if (cfg.gcBeforeGo && typeof global.gc === 'function') global.gc();
  gcObs.observe({ entryTypes: ['gc'] });
  cal0 = calibrate();
  cal1 = null;
  batches.clear();
  const u0 = process.cpuUsage();
  const wcpu0 = threadCpuNs(wTid);
  const pGo = performance.now();
  L.child.stdin.write('go\n');
  const deadline = cfg.leadMs + cfg.spreadMs + 2 * interval + 15000;
  let timer;
  const timedOut = await Promise.race([
    Promise.all(pending).then(() => false),
    new Promise((r) => (timer = setTimeout(() => r(true), deadline))),
  ]);
  clearTimeout(timer);
  const pEnd = performance.now();
  const u1 = process.cpuUsage();
  const wcpu1 = threadCpuNs(wTid);
  cal1 = calibrate();
  gcObs.disconnect();

  const res = await launcherResults(L);
  if (timedOut) throw new Error(`round ${index}: not every exit was seen within ${deadline} ms`);

  let hopsOver1ms = 0;
  let hopsOver1msDuringGc = 0;
  for (const [pid, r] of recs) {
    const t = res.get(pid);
    if (t === undefined) throw new Error(`launcher did not report pid ${pid}`);
    const { exitMs, reapMs } = t;
    const s = {
      js: toRealtime(r.resolvedJs) - exitMs,
      observed: r.exitedAtMs - exitMs,
      reap: reapMs - exitMs,
    };
    if (r.token !== undefined) {
      const e = tokenEvents.get(r.token);
      if (e && e.inJs !== null) {
        s.thread = e.inAt - exitMs;
        s.jsExitEvent = toRealtime(e.inJs) - exitMs;
        // The hop from the watcher thread to JS (TSFN queue, uv_async wake-up, dispatch).
        s.hop = s.jsExitEvent - s.thread;
        const from = e.inJs - s.hop;
        if (s.hop > 1) {
          hopsOver1ms++;
          if (gcs.some((g) => g.start < e.inJs && g.start + g.duration > from)) hopsOver1msDuringGc++;
        }
      }
      if (e && e.hupJs !== null) s.jsReapEvent = toRealtime(e.hupJs) - exitMs;
      // From the reap event reaching JS to the 'exited' callback (status read, unwatch, close, resolve).
      if (s.jsReapEvent !== undefined) s.settle = s.js - s.jsReapEvent;
    }
    out.samples.push(s);
  }
  const sizes = [...batches.values()];
  out.rounds.push({
    leadMs,
    windowMs: pEnd - pGo,
    cpuMs: cpuMs(u0, u1),
    watcherCpuMs: (wcpu1 - wcpu0) / 1e6,
    clockDriftUs: (cal1.offset - cal0.offset) * 1000,
    gc: { count: gcs.length, totalMs: gcs.reduce((a, g) => a + g.duration, 0), maxMs: Math.max(0, ...gcs.map((g) => g.duration)) },
    hopsOver1ms,
    hopsOver1msDuringGc,
    batches: sizes.length ? { count: sizes.length, events: sizes.reduce((a, b) => a + b, 0), max: Math.max(...sizes) } : null,
  });
}

async function main() {
  let observer = null;
  if (cfg.backend !== 'c-floor') {
    if (cfg.backend === 'pidfd') instrument(loadModule);
    observer = selectObserver({ backend: cfg.backend, pollIntervalMs: cfg.intervalMs });
    if (observer.backend !== cfg.backend) throw new Error(`asked for ${cfg.backend}, got ${observer.backend}: ${observer.why}`);
  }
  const out = {
    backend: cfg.backend,
    intervalMs: cfg.backend === 'polling' ? cfg.intervalMs : null,
    n: cfg.n,
    why: observer ? observer.why : 'C reference: pidfd_open + epoll_wait in one thread, no Node',
    loadavg: readFileSync('/proc/loadavg', 'latin1').trim(),
    rounds: [],
    samples: [],
  };
  for (let i = 0; i < cfg.rounds; i++) {
    if (observer) await round(observer, i, out);
    else await roundFloor(i, out);
  }
  out.vmHwmKb = observer ? statusKb('VmHWM') : out.vmRssKb;
  writeFileSync(cfg.out, JSON.stringify(out));
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`cell ${cfg.backend}/${cfg.intervalMs}/${cfg.n}: ${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
  },
);
