'use strict';
/**
 * Exit-latency benchmark driver (a benchmark, not a timed test: it never fails on a target).
 *
 *   node bench/exit-latency/run.js [--quick] [--repeat R] [--n 1,100,1000] [--idle-ms MS]
 *                                  [--spread-ms MS] [--backends a,b,...] [--no-floor] [--no-save]
 *                                  [--gc-before-go]
 *
 * Compares, in one run, the pidfd backend, the polling backend at 100 ms and at 1 s (the seed's
 * interval) and a C reference (floor.c: pidfd + epoll with no Node above it), with N attached
 * non-child processes exiting at known moments. Every (backend, N) cell runs in a fresh Node
 * process (cell.js); cells are shuffled within each repeat. See docs/benchmarks.md.
 *
 * Needs the built package (`npm run build`, and the addon for the pidfd cells) and `cc`.
 */
const { execFileSync, spawn } = require('node:child_process');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');
const DIST = path.join(ROOT, 'dist');
const BUILD_DIR = path.join(ROOT, 'dist-bench', 'exit-latency');
const RESULTS_DIR = path.join(ROOT, 'bench', 'results');

const BACKENDS = [
  { id: 'c-floor', backend: 'c-floor', intervalMs: null },
  { id: 'pidfd', backend: 'pidfd', intervalMs: null },
  { id: 'polling-100ms', backend: 'polling', intervalMs: 100 },
  { id: 'polling-1s', backend: 'polling', intervalMs: 1000 },
];

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------
function parseArgs(argv) {
  const o = {
    quick: false,
    repeat: null,
    ns: [1, 100, 1000],
    backends: BACKENDS.map((b) => b.id),
    idleMs: null,
    spreadMs: 1000,
    save: true,
    gcBeforeGo: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--quick') o.quick = true;
    else if (a === '--repeat') o.repeat = posInt(val(), a);
    else if (a === '--n') o.ns = val().split(',').map((x) => posInt(x, a));
    else if (a === '--idle-ms') o.idleMs = posInt(val(), a);
    else if (a === '--spread-ms') o.spreadMs = posInt(val(), a);
    else if (a === '--backends') o.backends = val().split(',').map((x) => known(x));
    else if (a === '--no-floor') o.backends = o.backends.filter((b) => b !== 'c-floor');
    else if (a === '--no-save') o.save = false;
    else if (a === '--gc-before-go') o.gcBeforeGo = true;
    else if (a === '-h' || a === '--help') usage(null);
    else usage(`unknown argument ${a}`);
  }
  o.repeat ??= o.quick ? 1 : 3;
  o.idleMs ??= o.quick ? 1000 : 5000;
  o.roundsAtN1 = o.quick ? 2 : 5; // N = 1 gives one sample per round: a few rounds per cell
  return o;
}

function known(id) {
  if (!BACKENDS.some((b) => b.id === id)) usage(`--backends: unknown backend ${id} (${BACKENDS.map((b) => b.id).join(', ')})`);
  return id;
}

function posInt(s, flag) {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1) usage(`${flag}: expected a positive integer, got ${s}`);
  return n;
}

function usage(err) {
  const text =
    'usage: node bench/exit-latency/run.js [--quick] [--repeat R] [--n 1,100,1000] [--idle-ms MS] [--spread-ms MS]\n' +
    '       [--backends c-floor,pidfd,polling-100ms,polling-1s] [--no-floor] [--no-save] [--gc-before-go]\n';
  if (err) {
    process.stderr.write(`run.js: ${err}\n${text}`);
    process.exit(2);
  }
  process.stdout.write(text);
  process.exit(0);
}

// ---------------------------------------------------------------------------------------------
// Preparation: helpers compiled with cc, the addon snapshotted, machine info.
// ---------------------------------------------------------------------------------------------
function compileHelpers() {
  fs.mkdirSync(BUILD_DIR, { recursive: true });
  const cc = process.env.CC || 'cc';
  const out = {};
  for (const name of ['launcher', 'floor']) {
    const src = path.join(__dirname, `${name}.c`);
    const bin = path.join(BUILD_DIR, name);
    const stale = !fs.existsSync(bin) || fs.statSync(bin).mtimeMs < fs.statSync(src).mtimeMs;
    if (stale) execFileSync(cc, ['-O2', '-Wall', '-o', bin, src], { stdio: 'inherit' });
    out[name] = bin;
  }
  return out;
}

/**
 * Copy the addon node-gyp-build would load into this run's directory, so every pidfd cell uses
 * the same binary even if build/ is rebuilt during the run. Waits up to 60 s for a build that
 * is in progress; null when there is none (the pidfd cells are then skipped, and said so).
 */
async function snapshotAddon(runDir) {
  const nodeGypBuild = require(path.join(ROOT, 'node_modules', 'node-gyp-build'));
  for (let waited = 0; ; waited += 2) {
    try {
      const src = nodeGypBuild.path(ROOT);
      const bytes = fs.readFileSync(src);
      const dst = path.join(runDir, 'ffrtmp.node');
      fs.writeFileSync(dst, bytes);
      const caps = require(dst).capabilities();
      return { path: dst, source: path.relative(ROOT, src), sha256: createHash('sha256').update(bytes).digest('hex'), caps };
    } catch (e) {
      if (waited >= 60) {
        process.stderr.write(`run.js: no loadable addon (${e.message.split('\n')[0]}): pidfd cells skipped\n`);
        return null;
      }
      if (waited === 0) process.stderr.write('run.js: no native build yet, waiting up to 60 s (npm run build:native)...\n');
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}

function machineInfo(addon) {
  const cpus = os.cpus();
  const limits = fs.readFileSync('/proc/self/limits', 'latin1');
  const nofile = /Max open files\s+(\S+)\s+(\S+)/.exec(limits);
  let git = null;
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    git = head;
  } catch {
    /* not a checkout */
  }
  return {
    date: new Date().toISOString(),
    kernel: os.release(),
    cpuModel: cpus[0]?.model ?? 'unknown',
    cpus: cpus.length,
    memTotalMb: Math.round(os.totalmem() / 1048576),
    node: process.version,
    loadavgBefore: fs.readFileSync('/proc/loadavg', 'latin1').trim(),
    nofile: nofile ? { soft: nofile[1], hard: nofile[2] } : null,
    pidMax: Number(fs.readFileSync('/proc/sys/kernel/pid_max', 'latin1')),
    gitHead: git,
    addon: addon ? { source: addon.source, sha256: addon.sha256, capabilities: addon.caps } : null,
  };
}

// ---------------------------------------------------------------------------------------------
// Cells
// ---------------------------------------------------------------------------------------------

/** Deterministic shuffle (mulberry32), so a run's cell order can be reproduced. */
function shuffle(xs, seed) {
  let a = seed >>> 0;
  const rnd = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

function runCell(cfg, timeoutMs) {
  return new Promise((resolve) => {
    const flags = cfg.gcBeforeGo ? ['--expose-gc'] : [];
    const child = spawn(process.execPath, [...flags, path.join(__dirname, 'cell.js'), JSON.stringify(cfg)], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) return resolve({ error: `cell exited with ${code ?? signal}` });
      try {
        resolve(JSON.parse(fs.readFileSync(cfg.out, 'utf8')));
      } catch (e) {
        resolve({ error: `cell result unreadable: ${e.message}` });
      }
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------------------------
/** Nearest-rank percentile of a sorted array. */
function pct(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

function median(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

const METRICS = ['js', 'observed', 'thread', 'jsExitEvent', 'jsReapEvent', 'reap', 'hop', 'settle'];

function summarize(samples) {
  const out = {};
  for (const k of METRICS) {
    const v = samples.map((s) => s[k]).filter((x) => typeof x === 'number').sort((a, b) => a - b);
    if (v.length === 0) continue;
    out[k] = {
      count: v.length,
      p50: pct(v, 0.5),
      p90: pct(v, 0.9),
      p99: pct(v, 0.99),
      max: v[v.length - 1],
      min: v[0],
      mean: v.reduce((a, b) => a + b, 0) / v.length,
    };
  }
  return out;
}

/** One measured repeat of a cell, reduced to what the report needs (raw samples are not kept). */
function reduceRun(r) {
  const rounds = r.rounds ?? [];
  const mean = (k) => (rounds.length ? rounds.reduce((a, x) => a + (x[k] ?? 0), 0) / rounds.length : null);
  return {
    loadavg: r.loadavg,
    why: r.why,
    latency: summarize(r.samples ?? []),
    cpuMsPerRound: mean('cpuMs'),
    watcherCpuMsPerRound: mean('watcherCpuMs'),
    windowMsPerRound: mean('windowMs'),
    rounds: rounds.length,
    maxClockDriftUs: Math.max(0, ...rounds.map((x) => Math.abs(x.clockDriftUs ?? 0))),
    gc: rounds.some((x) => x.gc)
      ? {
          count: rounds.reduce((a, x) => a + (x.gc?.count ?? 0), 0),
          totalMs: rounds.reduce((a, x) => a + (x.gc?.totalMs ?? 0), 0),
          maxMs: Math.max(0, ...rounds.map((x) => x.gc?.maxMs ?? 0)),
        }
      : null,
    hopsOver1ms: rounds.reduce((a, x) => a + (x.hopsOver1ms ?? 0), 0),
    hopsOver1msDuringGc: rounds.reduce((a, x) => a + (x.hopsOver1msDuringGc ?? 0), 0),
    batches: rounds.some((x) => x.batches)
      ? {
          count: rounds.reduce((a, x) => a + (x.batches?.count ?? 0), 0),
          events: rounds.reduce((a, x) => a + (x.batches?.events ?? 0), 0),
          max: Math.max(0, ...rounds.map((x) => x.batches?.max ?? 0)),
        }
      : null,
    rssMb: r.rssMb ?? null,
    vmHwmMb: r.vmHwmKb != null ? r.vmHwmKb / 1024 : null,
    attachMs: r.attachMs ?? null,
    idle: r.idle ?? null,
  };
}

function aggregate(runs) {
  const ok = runs.filter((r) => !r.error);
  const lat = {};
  for (const k of METRICS) {
    const have = ok.filter((r) => r.latency[k]);
    if (have.length === 0) continue;
    lat[k] = {
      p50: median(have.map((r) => r.latency[k].p50)),
      p99: median(have.map((r) => r.latency[k].p99)),
      max: Math.max(...have.map((r) => r.latency[k].max)),
      samples: have.reduce((a, r) => a + r.latency[k].count, 0),
    };
  }
  return {
    repeats: ok.length,
    failed: runs.length - ok.length,
    latency: lat,
    cpuMs: median(ok.map((r) => r.cpuMsPerRound)),
    watcherCpuMs: median(ok.map((r) => r.watcherCpuMsPerRound)),
    rssMb: median(ok.map((r) => r.rssMb)),
    vmHwmMb: median(ok.map((r) => r.vmHwmMb)),
    idleWatcherWakeupsPerSec: median(ok.map((r) => r.idle?.watcherWakeupsPerSec)),
    idleWatcherCtxPerSecMax: Math.max(...ok.map((r) => r.idle?.watcherCtxPerSec ?? NaN)),
    idleProcessCtxPerSec: median(ok.map((r) => r.idle?.processCtxPerSec)),
    idleProcessCpuMsPerSec: median(ok.map((r) => (r.idle ? r.idle.processCpuMs / r.idle.seconds : null))),
    hopsOver1ms: ok.reduce((a, r) => a + (r.hopsOver1ms ?? 0), 0),
    hopsOver1msDuringGc: ok.reduce((a, r) => a + (r.hopsOver1msDuringGc ?? 0), 0),
    gcPausesMs: ok.some((r) => r.gc) ? { count: ok.reduce((a, r) => a + (r.gc?.count ?? 0), 0), max: Math.max(0, ...ok.map((r) => r.gc?.maxMs ?? 0)) } : null,
    batches: ok.some((r) => r.batches)
      ? {
          meanEvents: ok.reduce((a, r) => a + (r.batches?.events ?? 0), 0) / Math.max(1, ok.reduce((a, r) => a + (r.batches?.count ?? 0), 0)),
          max: Math.max(0, ...ok.map((r) => r.batches?.max ?? 0)),
        }
      : null,
  };
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------
function fmt(x, digits = 3) {
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

function report(result) {
  const { cells, options } = result;
  const lines = [];
  const m = result.machine;
  lines.push(`exit-latency: ${m.date}  kernel ${m.kernel}  ${m.cpuModel} x${m.cpus}  node ${m.node}`);
  lines.push(`load average before: ${m.loadavgBefore}   after: ${result.loadavgAfter}`);
  lines.push(
    `repeats ${options.repeat}, idle window ${options.idleMs} ms, exits spread over ${options.spreadMs} ms, ` +
      `N=1 cells ${options.roundsAtN1} rounds; latency = exit timestamp -> JS 'exited' callback (ms)`,
  );
  lines.push('');
  const rows = [];
  for (const c of cells) {
    const a = c.aggregate;
    const l = a.latency.js ?? {};
    rows.push([
      c.id,
      c.n,
      fmt(l.p50),
      fmt(l.p99),
      fmt(l.max),
      fmt(a.cpuMs, 1),
      fmt(a.rssMb, 1),
      fmt(a.idleWatcherWakeupsPerSec, 1),
      fmt(a.idleProcessCtxPerSec, 1),
      a.failed ? `${a.repeats}/${a.repeats + a.failed}` : `${a.repeats}`,
    ]);
  }
  lines.push(
    table(['backend', 'N', 'p50 ms', 'p99 ms', 'max ms', 'CPU ms', 'RSS MB', 'idle wakeups/s', 'idle ctx/s (process)', 'repeats'], rows),
  );
  lines.push('');
  lines.push('pidfd path, decomposed (ms after the exit timestamp; medians of p50/p99 across repeats, max = worst):');
  const drows = [];
  for (const c of cells.filter((x) => x.id === 'pidfd')) {
    const L = c.aggregate.latency;
    const cell = (k) => (L[k] ? `${fmt(L[k].p50)} / ${fmt(L[k].p99)} / ${fmt(L[k].max)}` : '-');
    drows.push([c.n, cell('thread'), cell('jsExitEvent'), cell('reap'), cell('jsReapEvent'), cell('js')]);
  }
  lines.push(
    table(
      ['N', 'watcher thread (exitedAtMs)', 'exit event in JS', 'reaped by parent', 'reap event in JS', "'exited' callback"],
      drows,
    ),
  );
  lines.push('');
  lines.push('pidfd JS path, per event (p50 / p99 / max ms; GC = V8 pauses during the exit phase):');
  const hrows = [];
  for (const c of cells.filter((x) => x.id === 'pidfd')) {
    const a = c.aggregate;
    const L = a.latency;
    const cell = (k) => (L[k] ? `${fmt(L[k].p50)} / ${fmt(L[k].p99)} / ${fmt(L[k].max)}` : '-');
    hrows.push([
      c.n,
      cell('hop'),
      cell('settle'),
      `${a.hopsOver1ms} (${a.hopsOver1msDuringGc} during a GC)`,
      a.gcPausesMs ? `${a.gcPausesMs.count}, max ${fmt(a.gcPausesMs.max, 1)} ms` : '-',
      a.batches ? `${fmt(a.batches.meanEvents, 2)} / ${a.batches.max}` : '-',
    ]);
  }
  lines.push(
    table(['N', 'thread -> JS hop', 'reap event -> callback', 'hops > 1 ms', 'GC pauses', 'events per batch mean/max'], hrows),
  );
  const floors = cells.filter((x) => x.id === 'c-floor');
  if (floors.length) {
    lines.push('');
    lines.push(
      `C floor (epoll thread, no Node) p50/p99/max: ${floors
        .map((c) => `N=${c.n} ${fmt(c.aggregate.latency.js?.p50)}/${fmt(c.aggregate.latency.js?.p99)}/${fmt(c.aggregate.latency.js?.max)}`)
        .join('  ')}`,
    );
  }
  lines.push('');
  lines.push('ratios (medians):');
  for (const r of result.ratios) lines.push(`  ${r.text}`);
  lines.push('');
  for (const t of result.targets) lines.push(`${t.pass === null ? 'N/A ' : t.pass ? 'PASS' : 'FAIL'} ${t.text}`);
  for (const n of result.notes) lines.push(`NOTE ${n}`);
  return lines.join('\n');
}

function ratiosAndTargets(cells, ns) {
  const get = (id, n) => cells.find((c) => c.id === id && c.n === n)?.aggregate;
  const ratios = [];
  for (const n of ns) {
    const p = get('pidfd', n)?.latency.js;
    const f = get('c-floor', n)?.latency.js;
    for (const id of ['polling-100ms', 'polling-1s']) {
      const q = get(id, n)?.latency.js;
      if (p && q) {
        ratios.push({
          n,
          of: id,
          p50: q.p50 / p.p50,
          p99: q.p99 / p.p99,
          text: `N=${n}: ${id} / pidfd  p50 ${fmt(q.p50)} / ${fmt(p.p50)} = ${fmt(q.p50 / p.p50, 0)}x   p99 ${fmt(q.p99)} / ${fmt(p.p99)} = ${fmt(q.p99 / p.p99, 1)}x`,
        });
      }
    }
    if (p && f) {
      ratios.push({
        n,
        of: 'pidfd/c-floor',
        p50: p.p50 / f.p50,
        p99: p.p99 / f.p99,
        text: `N=${n}: pidfd / C floor  p50 ${fmt(p.p50)} / ${fmt(f.p50)} = ${fmt(p.p50 / f.p50, 1)}x   p99 ${fmt(p.p99)} / ${fmt(f.p99)} = ${fmt(p.p99 / f.p99, 1)}x`,
      });
    }
  }
  const targets = [];
  const notes = [];
  const p1000 = get('pidfd', 1000);
  targets.push({
    id: 'pidfd-p99-n1000',
    pass: p1000?.latency.js ? p1000.latency.js.p99 <= 1 : null,
    value: p1000?.latency.js?.p99 ?? null,
    text: `pidfd p99 <= 1 ms at N = 1000: ${p1000?.latency.js ? `${fmt(p1000.latency.js.p99)} ms` : 'not measured'}`,
  });
  const det = p1000?.latency.jsExitEvent;
  if (det) {
    notes.push(
      `pidfd detection at N = 1000 (the exit event reaching JS, before the reap): p50 ${fmt(det.p50)} p99 ${fmt(det.p99)} max ${fmt(det.max)} ms; ` +
        `the 'exited' callback of an adopted process also waits for its parent's reap (p99 ${fmt(p1000.latency.reap?.p99)} ms here)`,
    );
  }
  const pidfdCells = cells.filter((c) => c.id === 'pidfd' && c.aggregate.repeats > 0);
  const worst = Math.max(...pidfdCells.map((c) => c.aggregate.idleWatcherCtxPerSecMax));
  targets.push({
    id: 'pidfd-idle-wakeups-zero',
    pass: pidfdCells.length ? worst === 0 : null,
    value: pidfdCells.length ? worst : null,
    text: `pidfd idle wake-ups of the watcher thread 0/s at every N: ${
      pidfdCells.length ? pidfdCells.map((c) => `N=${c.n} ${fmt(c.aggregate.idleWatcherCtxPerSecMax, 2)}/s`).join(', ') : 'not measured'
    }`,
  });
  const f1000 = get('c-floor', 1000);
  if (f1000?.latency.js && f1000.latency.js.p99 > 1) {
    notes.push(
      `the C floor itself has p99 ${fmt(f1000.latency.js.p99)} ms at N = 1000 in this run: the machine's load sets the tail ` +
        '(on a quiet machine the floor had p99 0.25-0.40 ms at N = 1, 100 and 1000: docs/benchmarks.md, "Results (reference run, quiet machine)")',
    );
  }
  return { ratios, targets, notes };
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (!fs.existsSync(path.join(DIST, 'observer', 'select.js'))) {
    process.stderr.write('run.js: dist/ is missing: run `npm run build` first\n');
    process.exit(2);
  }
  const bins = compileHelpers();
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ffrtmp-exit-latency-'));
  const addon = await snapshotAddon(runDir);
  const machine = machineInfo(addon);

  const backends = BACKENDS.filter((b) => opts.backends.includes(b.id) && (b.backend !== 'pidfd' || addon));
  const cellIds = [];
  for (const b of backends) for (const n of opts.ns) cellIds.push({ ...b, n });
  const runs = new Map(cellIds.map((c) => [`${c.id}/${c.n}`, []]));

  const total = cellIds.length * opts.repeat;
  let done = 0;
  const t0 = Date.now();
  process.stderr.write(`exit-latency: ${total} cell runs (load average ${machine.loadavgBefore})\n`);
  for (let rep = 0; rep < opts.repeat; rep++) {
    for (const c of shuffle(cellIds, 0x5eed + rep)) {
      const cfg = {
        backend: c.backend,
        intervalMs: c.intervalMs ?? 100,
        n: c.n,
        rounds: c.n === 1 ? opts.roundsAtN1 : 1,
        spreadMs: opts.spreadMs,
        idleMs: opts.idleMs,
        leadMs: 100,
        launcher: bins.launcher,
        floor: bins.floor,
        dist: DIST,
        addon: addon?.path ?? null,
        gcBeforeGo: opts.gcBeforeGo,
        out: path.join(runDir, `cell-${done}.json`),
      };
      const started = Date.now();
      const raw = await runCell(cfg, 120_000 + c.n * 50);
      const r = raw.error ? { error: raw.error } : reduceRun(raw);
      runs.get(`${c.id}/${c.n}`).push({ repeat: rep, ...r });
      done++;
      const js = r.latency?.js;
      process.stderr.write(
        `[${String(done).padStart(String(total).length)}/${total}] ${c.id.padEnd(13)} N=${String(c.n).padEnd(4)} ` +
          (r.error
            ? `FAILED: ${r.error}`
            : `p50 ${fmt(js?.p50)}  p99 ${fmt(js?.p99)}  max ${fmt(js?.max)} ms  idle watcher ${fmt(r.idle?.watcherCtxPerSec, 1)}/s`) +
          `  (${((Date.now() - started) / 1000).toFixed(1)} s)\n`,
      );
    }
  }

  const cells = cellIds.map((c) => {
    const rs = runs.get(`${c.id}/${c.n}`);
    return { id: c.id, backend: c.backend, intervalMs: c.intervalMs, n: c.n, aggregate: aggregate(rs), runs: rs };
  });
  const { ratios, targets, notes } = ratiosAndTargets(cells, opts.ns);
  if (!addon) notes.push('no loadable addon: the pidfd cells were not measured');
  const result = {
    schema: 'ffrtmp-bench-exit-latency/1',
    machine,
    loadavgAfter: fs.readFileSync('/proc/loadavg', 'latin1').trim(),
    durationS: (Date.now() - t0) / 1000,
    options: opts,
    units: { latency: 'ms after the CLOCK_REALTIME timestamp the target wrote just before _exit', cpu: 'ms per round', rss: 'MB' },
    cells,
    ratios,
    targets,
    notes,
  };
  const text = report(result);
  process.stdout.write(`\n${text}\n`);
  result.table = text;
  if (opts.save) {
    fs.mkdirSync(RESULTS_DIR, { recursive: true });
    const stamp = machine.date.replace(/[:.]/g, '-');
    const file = path.join(RESULTS_DIR, `exit-latency-${stamp}.json`);
    const json = `${JSON.stringify(result, null, 2)}\n`;
    fs.writeFileSync(file, json);
    fs.writeFileSync(path.join(RESULTS_DIR, 'exit-latency-latest.json'), json);
    process.stdout.write(`\nwrote ${path.relative(process.cwd(), file)} and exit-latency-latest.json\n`);
  }
  fs.rmSync(runDir, { recursive: true, force: true });
}

main().catch((err) => {
  process.stderr.write(`run.js: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
