'use strict';
/**
 * Attach throughput: how fast running processes become governed (a benchmark, never fails on a
 * target; needs root, the built package `npm run build`, and Debian's cgroup-tools).
 *
 *   node bench/attach-throughput/run.js [--n 100,1000] [--memory-max 256M] [--no-save]
 *
 * For each N, in one run and side by side, on the same kind of processes (N `sleep`s that are
 * NOT our children: a shell starts them and exits, so they belong to PID 1):
 *
 *  - ffrtmp:       `ffrtmp attach --pid <all N> --memory-max M` as the CLI runs it: the library's
 *                  attach() with a journal in a temporary state dir. Per process: the refusal
 *                  checks (PID 1, kernel threads, ancestors, already governed), the job-id claim,
 *                  pidfd_open + epoll watch, one job cgroup (a leaf in the memory hierarchy only:
 *                  the limit asked for; the limit written and read back, the VmRSS check), one
 *                  cgroup.procs write(2), verification through the pidfd and /proc/<pid>/cgroup,
 *                  and the `started` record appended and fsync'd.
 *  - cgclassify (batch):   `cgcreate` + `cgset memory.limit_in_bytes` once, then ONE
 *                  `cgclassify -g <ctls>:<one cgroup> <all N pids>`: everybody in one shared
 *                  cgroup, nothing verified. The cheapest possible use of the tool.
 *  - cgclassify (per job): the same work as ffrtmp with the tools: per process `cgcreate`,
 *                  `cgset`, `cgclassify` (three exec's), one cgroup each, nothing verified.
 *
 * Reported: attaches per second and the time until all N are governed (wall clock from the
 * first action to the last process placed; for ffrtmp, to the last `started` record on disk),
 * and for ffrtmp the interval between two processes governed (p50/p99). Everything is created
 * under `<mount>/ffrtmp-bench-<hex>` and removed afterwards.
 */
const { execFileSync, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { killAll, startOrphans } = require('../lib');

const ROOT = path.resolve(__dirname, '..', '..');
const DIST = path.join(ROOT, 'dist');
const RESULTS_DIR = path.join(ROOT, 'bench', 'results');

function parseArgs(argv) {
  const o = { ns: [100, 1000], memoryMax: '256M', save: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--n') o.ns = argv[++i].split(',').map(Number);
    else if (a === '--memory-max') o.memoryMax = argv[++i];
    else if (a === '--no-save') o.save = false;
    else {
      process.stderr.write(`usage: node bench/attach-throughput/run.js [--n 100,1000] [--memory-max 256M] [--no-save]\n`);
      process.exit(2);
    }
  }
  return o;
}


async function waitGone(pids, ms = 20000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (pids.every((p) => !fs.existsSync(`/proc/${p}`))) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Remove a whole test tree (deepest first), retrying while PID 1 reaps the killed sleeps. */
async function removeTree(top) {
  if (!fs.existsSync(top)) return true;
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
        if (i > 200) return false;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }
  return true;
}

function stats(samplesMs) {
  const s = [...samplesMs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { p50_ms: +q(0.5).toFixed(3), p99_ms: +q(0.99).toFixed(3), max_ms: +s[s.length - 1].toFixed(3) };
}

async function benchFfrtmp(n, rel, memoryMax, lib) {
  const { attach } = lib.attach;
  const { Journal } = lib.journal;
  const { parseLimits } = lib.limits;
  const { detectCgroups } = lib.detect;
  const env = detectCgroups();
  const mount = env.v1.find((h) => h.controllers.includes('memory'))?.mountPoint ?? env.v2.mountPoint;
  const governance = { limits: parseLimits({ memoryMax }), cgroupRoot: path.join(mount, rel, 'ffrtmp'), env };
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ffrtmp-bench-state-'));
  const pids = startOrphans(n);
  await new Promise((r) => setTimeout(r, 200));
  const governedAt = [];
  const ac = new AbortController();
  const started = [];
  const t0 = performance.now();
  const done = attach({
    pids,
    jobIds: pids.map((_, i) => `bench-${i}`),
    governance,
    signal: ac.signal,
    recorder: new Journal({ dir: stateDir }).recorder(),
    onStarted: (s) => {
      governedAt.push(performance.now());
      started.push(s);
    },
  });
  await new Promise((resolve) => {
    const t = setInterval(() => governedAt.length >= n && (clearInterval(t), resolve()), 1);
  });
  const totalMs = governedAt[governedAt.length - 1] - t0;
  const gaps = governedAt.map((t, i) => t - (i === 0 ? t0 : governedAt[i - 1]));
  const ok = started.filter((s) => s.cgroup_report && s.cgroup_report.problems.every((p) => !p.violation) && s.cgroup_report.leaves.length > 0).length;
  // Spot-check from outside: every process really is in its own leaf.
  let inPlace = 0;
  for (let i = 0; i < n; i++) {
    const cg = fs.readFileSync(`/proc/${pids[i]}/cgroup`, 'utf8');
    if (new RegExp(`/${rel}/ffrtmp/bench-${i}\\.[0-9a-f]{16}\n`).test(cg)) inPlace++;
  }
  ac.abort('bench done'); // detach: the leaves stay with the sleeps, removed with the tree below
  await done;
  killAll(pids);
  await waitGone(pids);
  fs.rmSync(stateDir, { recursive: true, force: true });
  return {
    method: 'ffrtmp attach (journaled, claimed, verified)', n, governed: ok, in_place_checked: inPlace, problems: {}, verified: true,
    cgroups: 'one per process', hierarchies: env.mode === 'v2' ? 'v2' : 'memory (v1)',
    total_ms: +totalMs.toFixed(1), attaches_per_s: +(n / (totalMs / 1000)).toFixed(1), per_attach: stats(gaps),
  };
}

/** The same hierarchy ffrtmp uses for a memory limit: memory only. */
function ctlsFor() {
  return 'memory';
}

async function benchCgBatch(n, rel, memoryBytes, env) {
  const ctls = ctlsFor();
  const pids = startOrphans(n);
  await new Promise((r) => setTimeout(r, 200));
  const group = `${rel}/cgclassify-batch`;
  const t0 = performance.now();
  execFileSync('cgcreate', ['-g', `${ctls}:${group}`]);
  execFileSync('cgset', ['-r', `${env.mode === 'v2' ? 'memory.max' : 'memory.limit_in_bytes'}=${memoryBytes}`, group]);
  // One call for all PIDs (argv fits: 1000 PIDs ≈ 8 KB).
  const r = spawnSync('cgclassify', ['-g', `${ctls}:${group}`, ...pids.map(String)], { encoding: 'utf8' });
  const totalMs = performance.now() - t0;
  let inPlace = 0;
  for (const p of pids) if (fs.readFileSync(`/proc/${p}/cgroup`, 'utf8').includes(`/${group}\n`)) inPlace++;
  killAll(pids);
  await waitGone(pids);
  return {
    method: 'cgclassify (batch: one call, one shared cgroup)', n, governed: inPlace, in_place_checked: inPlace, exit_status: r.status, verified: false,
    cgroups: 'one shared', hierarchies: ctls, total_ms: +totalMs.toFixed(1), attaches_per_s: +(n / (totalMs / 1000)).toFixed(1),
  };
}

async function benchCgPerJob(n, rel, memoryBytes, env) {
  const ctls = ctlsFor();
  const pids = startOrphans(n);
  await new Promise((r) => setTimeout(r, 200));
  const per = [];
  let failed = 0;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const a0 = performance.now();
    const group = `${rel}/cgclassify-jobs/bench-${i}`;
    try {
      execFileSync('cgcreate', ['-g', `${ctls}:${group}`]);
      execFileSync('cgset', ['-r', `${env.mode === 'v2' ? 'memory.max' : 'memory.limit_in_bytes'}=${memoryBytes}`, group]);
      execFileSync('cgclassify', ['-g', `${ctls}:${group}`, String(pids[i])]);
    } catch {
      failed++;
    }
    per.push(performance.now() - a0);
  }
  const totalMs = performance.now() - t0;
  let inPlace = 0;
  for (let i = 0; i < n; i++) if (fs.readFileSync(`/proc/${pids[i]}/cgroup`, 'utf8').includes(`/${rel}/cgclassify-jobs/bench-${i}\n`)) inPlace++;
  killAll(pids);
  await waitGone(pids);
  return {
    method: 'cgcreate + cgset + cgclassify per process (one cgroup each)', n, governed: inPlace, in_place_checked: inPlace, failed, verified: false,
    cgroups: 'one per process', hierarchies: ctls, total_ms: +totalMs.toFixed(1), attaches_per_s: +(n / (totalMs / 1000)).toFixed(1), per_attach: stats(per),
  };
}

function parseBytes(s) {
  const m = /^(\d+)([KMGT]?)$/i.exec(s);
  return Number(m[1]) * { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }[m[2].toUpperCase()];
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (process.geteuid() !== 0) {
    process.stderr.write('attach-throughput: needs root (it creates cgroups); skipped\n');
    process.exit(77);
  }
  if (!fs.existsSync(path.join(DIST, 'core', 'attach.js'))) {
    process.stderr.write('attach-throughput: run `npm run build` first\n');
    process.exit(2);
  }
  const haveCg = spawnSync('cgclassify', ['--help']).status !== null;
  const lib = {
    attach: require(path.join(DIST, 'core', 'attach.js')),
    journal: require(path.join(DIST, 'journal', 'journal.js')),
    limits: require(path.join(DIST, 'cgroup', 'limits.js')),
    detect: require(path.join(DIST, 'cgroup', 'detect.js')),
  };
  const env = lib.detect.detectCgroups();
  const rel = `ffrtmp-bench-${crypto.randomBytes(4).toString('hex')}`;
  const tops = [...env.v1.map((h) => path.join(h.mountPoint, rel)), ...(env.v2 ? [path.join(env.v2.mountPoint, rel)] : [])];
  const memoryBytes = parseBytes(o.memoryMax);
  const rows = [];
  const maxN = Math.max(...o.ns);
  const nofile = Number(execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim());
  if (Number.isFinite(nofile) && nofile < maxN + 64) process.stderr.write(`warning: RLIMIT_NOFILE ${nofile} < ${maxN + 64}: the ffrtmp cells hold one pidfd per process\n`);
  try {
    for (const n of o.ns) {
      process.stderr.write(`N=${n}: ffrtmp ...\n`);
      rows.push(await benchFfrtmp(n, rel, o.memoryMax, lib));
      if (haveCg) {
        process.stderr.write(`N=${n}: cgclassify batch ...\n`);
        rows.push(await benchCgBatch(n, rel, memoryBytes, env));
        process.stderr.write(`N=${n}: cgcreate+cgset+cgclassify per process ...\n`);
        rows.push(await benchCgPerJob(n, rel, memoryBytes, env));
      }
      for (const t of tops) await removeTree(t);
    }
  } finally {
    for (const t of tops) if (!(await removeTree(t))) process.stderr.write(`warning: could not remove ${t}\n`);
  }

  const meta = {
    date: new Date().toISOString(), kernel: os.release(), cpus: os.cpus().length, node: process.version, cgroup_mode: env.mode,
    memory_max: o.memoryMax, cgclassify: haveCg ? execFileSync('sh', ['-c', "dpkg-query -W -f '${Version}' cgroup-tools 2>/dev/null || echo unknown"], { encoding: 'utf8' }) : 'not installed',
  };
  const line = (r) => `${String(r.n).padStart(5)}  ${r.method.padEnd(62)} ${String(r.total_ms).padStart(9)} ms  ${String(r.attaches_per_s).padStart(9)}/s  governed ${r.governed}/${r.n}${r.per_attach ? `  per-attach p50 ${r.per_attach.p50_ms} ms p99 ${r.per_attach.p99_ms} ms` : ''}${r.verified ? '  (verified)' : ''}`;
  process.stdout.write(`attach throughput, ${meta.date}, kernel ${meta.kernel}, ${meta.cpus} CPUs, cgroup ${meta.cgroup_mode}, --memory-max ${o.memoryMax}\n`);
  process.stdout.write(`    N  method${' '.repeat(57)}time-to-all   attaches\n`);
  for (const r of rows) process.stdout.write(`${line(r)}\n`);
  if (!haveCg) process.stdout.write('cgclassify: not installed (apt-get install cgroup-tools): comparison skipped\n');
  if (o.save) {
    fs.mkdirSync(RESULTS_DIR, { recursive: true });
    const doc = JSON.stringify({ meta, rows }, null, 2);
    const stamp = meta.date.replace(/[:.]/g, '-');
    fs.writeFileSync(path.join(RESULTS_DIR, `attach-throughput-${stamp}.json`), doc);
    fs.writeFileSync(path.join(RESULTS_DIR, 'attach-throughput-latest.json'), doc);
  }
}

main().catch((e) => {
  process.stderr.write(`attach-throughput failed: ${e.stack ?? e}\n`);
  process.exit(1);
});
