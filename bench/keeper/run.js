'use strict';
/**
 * What the keeper costs (a benchmark: it prints PASS/FAIL against the targets and never
 * fails CI). Needs the built package (`npm run build`, `npm run build:native`).
 *
 *   node bench/keeper/run.js [--n 1000] [--starts 200] [--no-save]
 *
 * 1. Density: N concurrent workloads (`sleep`) started from ONE process through the library's
 *    run(), as the agent does, with a journal in a temporary state dir (no cgroups: the keeper's
 *    own cost, alone). Once all N run: every keeper's RssAnon / RssFile / Pss (from
 *    /proc/<pid>/status and smaps_rollup), summed and per keeper (median, p99, max), and the
 *    wrapper's own RSS. Then the workloads are killed and every run() must end with its Result
 *    (exit_source keeper, SIGKILL).
 * 2. Start-up overhead: `run()` of a workload that prints CLOCK_REALTIME the moment it starts
 *    (`date +%s%N`), with and without the keeper, interleaved (keeper, direct, keeper, ...) so
 *    both see the same machine. Start-up = that time − the instant run() was called. Reported:
 *    p50/p99 of each and the difference of the medians (the keeper's overhead per job: its exec,
 *    one more fork, the socket round trips, and the go that waits for the started record), and
 *    the same for the whole job (run() call to Result: the exit file's fsync and rename included).
 * 3. The floor, in the same run: what starting one tiny process costs on this machine (floor.c:
 *    a small C program forks and execs the keeper binary, `--version`, and reaps it). The keeper
 *    adds exactly one such process to a start, so the overhead is also given as a ratio to it.
 */
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { memoryOf } = require('../lib');

const ROOT = path.resolve(__dirname, '..', '..');
const DIST = path.join(ROOT, 'dist');
const RESULTS_DIR = path.join(ROOT, 'bench', 'results');

function parseArgs(argv) {
  const o = { n: 1000, starts: 200, save: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--n') o.n = Number(argv[++i]);
    else if (a === '--starts') o.starts = Number(argv[++i]);
    else if (a === '--no-save') o.save = false;
    else {
      process.stderr.write('usage: node bench/keeper/run.js [--n 1000] [--starts 200] [--no-save]\n');
      process.exit(2);
    }
  }
  return o;
}

function pct(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

function stats(values) {
  const s = [...values].sort((a, b) => a - b);
  const r = (x) => (x === null ? null : +x.toFixed(3));
  return { n: s.length, p50: r(pct(s, 50)), p99: r(pct(s, 99)), max: r(s[s.length - 1] ?? null) };
}

async function density(lib, n, stateDir) {
  const journal = new lib.Journal({ dir: stateDir });
  const keepers = [];
  const workloads = [];
  let ready;
  const allStarted = new Promise((r) => (ready = r));
  const t0 = performance.now();
  const runs = [];
  for (let i = 0; i < n; i++) {
    const inner = journal.recorder();
    const recorder = {
      claim: (j) => inner.claim(j),
      release: (ids) => inner.release(ids),
      exitFileFor: (id) => inner.exitFileFor(id),
      started: (s) => {
        inner.started(s);
        if (s.keeper) keepers.push(s.keeper.pid);
        workloads.push(s.pid);
        if (workloads.length === n) ready();
      },
      finished: (r, id) => inner.finished(r, id),
    };
    runs.push(lib.run({ command: 'sleep', args: ['3600'], jobId: `density-${i}`, recorder, governance: { enabled: false } }));
  }
  await allStarted;
  const startAllMs = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 500)); // settle: every keeper past its start
  const mems = keepers.map(memoryOf);
  const wrapper = memoryOf(process.pid);
  for (const p of workloads) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  const results = await Promise.all(runs);
  const viaKeeper = results.filter((r) => r.exit_source === 'keeper' && r.signal === 'SIGKILL').length;
  const sum = (k) => mems.reduce((a, m) => a + (m[k] ?? 0), 0);
  return {
    n,
    keepers: keepers.length,
    results_from_keeper: viaKeeper,
    start_all_ms: +startAllMs.toFixed(1),
    keeper_rss_anon_kb: { total: sum('RssAnon'), per_keeper: stats(mems.map((m) => m.RssAnon)) },
    keeper_rss_file_kb: { total: sum('RssFile'), per_keeper: stats(mems.map((m) => m.RssFile)), note: 'the static binary\'s pages, shared by every keeper through the page cache' },
    keeper_pss_kb: mems.every((m) => m.Pss !== undefined) ? { total: sum('Pss'), per_keeper: stats(mems.map((m) => m.Pss)) } : null,
    wrapper_rss_kb: wrapper.VmRSS,
  };
}

/** One job whose workload prints CLOCK_REALTIME (ns) as it starts; returns start-up and job ms. */
async function oneStart(lib, journal, keeper, i) {
  // on tmpfs when there is one: the workload's own write must not queue behind the journal's fsync
  const outFile = path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), `ffrtmp-bench-keeper-${process.pid}-${i}`);
  const fd = fs.openSync(outFile, 'w');
  try {
    const calledAt = performance.timeOrigin + performance.now();
    // date's output goes straight to the file: the workload's stdout is the wrapper's fd 1, so
    // give it a shell redirection instead.
    const r = await lib.run({ command: 'sh', args: ['-c', `exec date +%s%N > ${outFile}`], jobId: `start-${keeper ? 'k' : 'd'}-${i}`, recorder: journal.recorder(), keeper, governance: { enabled: false } });
    const doneAt = performance.timeOrigin + performance.now();
    const ns = BigInt(fs.readFileSync(outFile, 'utf8').trim());
    const startedAtMs = Number(ns / 1000n) / 1000;
    if (r.exit_code !== 0) throw new Error(`job ${i} failed: ${JSON.stringify(r)}`);
    if ((r.exit_source === 'keeper') !== keeper) throw new Error(`job ${i}: keeper=${keeper} but exit_source ${r.exit_source}`);
    return { startup: startedAtMs - calledAt, job: doneAt - calledAt };
  } finally {
    fs.closeSync(fd);
    fs.rmSync(outFile, { force: true });
  }
}

async function startup(lib, starts, stateDir) {
  const journal = new lib.Journal({ dir: stateDir });
  const k = { startup: [], job: [] };
  const d = { startup: [], job: [] };
  for (let i = 0; i < 10; i++) await oneStart(lib, journal, i % 2 === 0, -1 - i); // warm-up
  for (let i = 0; i < starts; i++) {
    const keeperFirst = i % 2 === 0;
    for (const keeper of keeperFirst ? [true, false] : [false, true]) {
      const s = await oneStart(lib, journal, keeper, i);
      const into = keeper ? k : d;
      into.startup.push(s.startup);
      into.job.push(s.job);
    }
  }
  const ks = stats(k.startup), ds = stats(d.startup), kj = stats(k.job), dj = stats(d.job);
  return {
    starts,
    keeper: { startup_ms: ks, job_ms: kj },
    direct: { startup_ms: ds, job_ms: dj },
    overhead_ms: { startup_p50: +(ks.p50 - ds.p50).toFixed(3), job_p50: +(kj.p50 - dj.p50).toFixed(3) },
  };
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const lib = { run: require(path.join(DIST, 'core', 'run')).run, Journal: require(path.join(DIST, 'journal', 'journal')).Journal };
  const { locateKeeper } = require(path.join(DIST, 'native', 'keeper-path'));
  const loc = locateKeeper();
  if (!loc.available) throw new Error(`no keeper: ${loc.why}`);
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ffrtmp-bench-keeper-'));
  const stateFs = execFileSync('stat', ['-f', '-c', '%T', stateDir], { encoding: 'utf8' }).trim();
  try {
    process.stderr.write(`density: ${o.n} workloads under keepers from one process...\n`);
    const dens = await density(lib, o.n, path.join(stateDir, 'density'));
    process.stderr.write(`start-up: ${o.starts} jobs each way, interleaved...\n`);
    const st = await startup(lib, o.starts, path.join(stateDir, 'startup'));
    process.stderr.write('floor: fork + exec + reap of the keeper binary from a tiny C process...\n');
    const floorBin = path.join(stateDir, 'floor');
    execFileSync('cc', ['-O2', '-o', floorBin, path.join(__dirname, 'floor.c')]);
    const floor = JSON.parse(execFileSync(floorBin, [loc.path, String(o.starts * 2)], { encoding: 'utf8' }));
    st.floor_ms = floor;
    st.overhead_vs_floor = +(st.overhead_ms.startup_p50 / floor.p50).toFixed(2);
    const targets = [
      { target: 'keeper RssAnon <= 128 KB each (p99)', value: dens.keeper_rss_anon_kb.per_keeper.p99, pass: dens.keeper_rss_anon_kb.per_keeper.p99 <= 128 },
      { target: 'keeper start-up overhead <= 2 ms per job (difference of medians)', value: st.overhead_ms.startup_p50, pass: st.overhead_ms.startup_p50 <= 2 },
      { target: 'keeper start-up overhead <= 1.5x the floor (one tiny process started, same run)', value: st.overhead_vs_floor, pass: st.overhead_vs_floor <= 1.5 },
      { target: `all ${o.n} Results came from their keepers`, value: dens.results_from_keeper, pass: dens.results_from_keeper === o.n },
    ];
    const doc = {
      bench: 'keeper',
      at: new Date().toISOString(),
      machine: { kernel: os.release(), cpus: os.cpus().length, model: os.cpus()[0]?.model, loadavg: os.loadavg(), node: process.version, state_dir_fs: stateFs },
      keeper: loc.path,
      density: dens,
      startup: st,
      targets,
    };
    const line = (l) => process.stdout.write(`${l}\n`);
    line(`keeper bench (kernel ${os.release()}, ${os.cpus().length} cpus, state dir on ${stateFs})`);
    line(`density   ${dens.n} concurrent jobs from one process, all started in ${dens.start_all_ms} ms`);
    line(`          keeper RssAnon total ${dens.keeper_rss_anon_kb.total} kB; per keeper p50 ${dens.keeper_rss_anon_kb.per_keeper.p50} / p99 ${dens.keeper_rss_anon_kb.per_keeper.p99} / max ${dens.keeper_rss_anon_kb.per_keeper.max} kB`);
    if (dens.keeper_pss_kb) line(`          keeper Pss total ${dens.keeper_pss_kb.total} kB (p50 ${dens.keeper_pss_kb.per_keeper.p50} kB); RssFile p50 ${dens.keeper_rss_file_kb.per_keeper.p50} kB (shared)`);
    line(`          the wrapper itself: VmRSS ${dens.wrapper_rss_kb} kB`);
    line(`start-up  keeper p50 ${st.keeper.startup_ms.p50} / p99 ${st.keeper.startup_ms.p99} ms   direct p50 ${st.direct.startup_ms.p50} / p99 ${st.direct.startup_ms.p99} ms   overhead (p50) ${st.overhead_ms.startup_p50} ms`);
    line(`floor     fork + exec + reap of the keeper binary from a tiny process: p50 ${st.floor_ms.p50} / p90 ${st.floor_ms.p90} ms   overhead/floor ${st.overhead_vs_floor}`);
    line(`whole job keeper p50 ${st.keeper.job_ms.p50} / p99 ${st.keeper.job_ms.p99} ms   direct p50 ${st.direct.job_ms.p50} / p99 ${st.direct.job_ms.p99} ms   overhead (p50) ${st.overhead_ms.job_p50} ms`);
    for (const t of targets) line(`${t.pass ? 'PASS' : 'FAIL'}  ${t.target}: ${t.value}`);
    if (o.save) {
      fs.mkdirSync(RESULTS_DIR, { recursive: true });
      const text = `${JSON.stringify(doc, null, 2)}\n`;
      fs.writeFileSync(path.join(RESULTS_DIR, `keeper-${doc.at.replace(/[:.]/g, '-')}.json`), text);
      fs.writeFileSync(path.join(RESULTS_DIR, 'keeper-latest.json'), text);
    }
  } finally {
    fs.rmSync(stateDir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  process.exit(1);
});
