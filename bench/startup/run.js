'use strict';
/**
 * Start-up cost of the CLI (a benchmark: it prints PASS/FAIL against the issue's target of
 * ≤ 1.5× bare Node and never fails CI). Needs the built package (`npm ci` / `npm run build`).
 *
 *   node bench/startup/run.js [--rounds 20] [--cli LABEL=PATH ...] [--no-save]
 *
 * Cells, each a fresh process started by a tiny C timer (timeit.c: fork, exec, wait4; wall time
 * and the child's user + system CPU from its rusage):
 *
 *  - `node -e 0`: bare Node, the floor.
 *  - `ffrtmp --version`: the CLI's fixed cost (Node + our entry point + commander).
 *  - `ffrtmp run --state-dir D -- true`: a whole job: journal, keeper, workload, Result.
 *  - `ffrtmp attach --state-dir D --pid P`: P is a `sleep` started by this bench; the bench
 *    watches D (inotify) and kills P the moment the journal holds its `started` record, so P
 *    "exits at once" once it is governed. Its wall time includes that hand-off (sub-millisecond).
 *
 * The cells alternate within each round (A, B, C, D, then B, C, D, A, ...) so every cell sees
 * the same machine; reported per cell: median and p90 of wall and CPU, and the ratio of each
 * median to `node -e 0`'s median in the same run. `--cli LABEL=PATH` (repeatable) compares CLI
 * builds side by side in the same rounds (e.g. `--cli main=/path/to/other/clone/dist/cli/main.js`);
 * by default this clone's `dist/cli/main.js`.
 *
 * The environment is passed through: set NODE_COMPILE_CACHE / NODE_DISABLE_COMPILE_CACHE, or run
 * under another `node` on PATH, to compare those.
 */
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { defaultClis, parseCli } = require('../lib');

const ROOT = path.resolve(__dirname, '..', '..');
const RESULTS_DIR = path.join(ROOT, 'bench', 'results');
const TARGET_RATIO = 1.5;

function parseArgs(argv) {
  const o = { rounds: 20, clis: [], save: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--rounds') o.rounds = Number(argv[++i]);
    else if (a === '--cli') {
      const cli = parseCli(argv[++i]);
      if (!cli) usage();
      o.clis.push(cli);
    } else if (a === '--no-save') o.save = false;
    else usage();
  }
  if (!Number.isInteger(o.rounds) || o.rounds < 1) usage();
  if (o.clis.length === 0) o.clis = defaultClis();
  return o;
}

function usage() {
  process.stderr.write('usage: node bench/startup/run.js [--rounds 20] [--cli LABEL=PATH ...] [--no-save]\n');
  process.exit(2);
}

function pct(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

function stats(values) {
  const s = [...values].sort((a, b) => a - b);
  return { n: s.length, p50: +pct(s, 50).toFixed(1), p90: +pct(s, 90).toFixed(1), min: +s[0].toFixed(1) };
}

function compileTimer(dir) {
  const bin = path.join(dir, 'timeit');
  execFileSync(process.env.CC || 'cc', ['-O2', '-o', bin, path.join(__dirname, 'timeit.c')], { stdio: 'inherit' });
  return bin;
}

/** One timed process: resolves { wall_ms, cpu_ms, user_ms, sys_ms, maxrss_kb, status }. */
function timeOnce(timer, argv) {
  return new Promise((resolve, reject) => {
    const c = spawn(timer, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.on('error', reject);
    c.on('close', (code) => {
      const f = out.trim().split(' ').map(Number);
      if (code !== 0 || f.length !== 5) return reject(new Error(`timeit ${argv.join(' ')}: exit ${code}, output ${JSON.stringify(out)}`));
      resolve({ wall_ms: f[0] / 1e6, user_ms: f[1] / 1000, sys_ms: f[2] / 1000, cpu_ms: (f[1] + f[2]) / 1000, maxrss_kb: f[3], status: f[4] });
    });
  });
}

/** A process to attach: a `sleep` killed as soon as `started` for it is in D's journal. */
async function attachOnce(timer, cli, stateDir) {
  const target = spawn('sleep', ['600'], { stdio: 'ignore' });
  await new Promise((r) => target.once('spawn', r));
  const journal = path.join(stateDir, 'journal.jsonl');
  const needle = `"type":"started"`;
  const marker = `"pid":${target.pid},`;
  let killed = false;
  const check = () => {
    if (killed) return;
    let text = '';
    try {
      text = fs.readFileSync(journal, 'utf8');
    } catch {
      return;
    }
    for (const line of text.split('\n')) {
      if (line.includes(needle) && line.includes(marker)) {
        killed = true;
        target.kill('SIGKILL');
        return;
      }
    }
  };
  const watcher = fs.watch(stateDir, check);
  try {
    const r = await timeOnce(timer, [process.execPath, cli, 'attach', '--state-dir', stateDir, '--pid', String(target.pid)]);
    if (!killed) throw new Error(`attach ended (status ${r.status}) before its started record was seen`);
    return r;
  } finally {
    watcher.close();
    if (!killed) target.kill('SIGKILL');
    if (target.exitCode === null && target.signalCode === null) await new Promise((r) => target.once('exit', r));
  }
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  for (const c of o.clis) {
    if (!fs.existsSync(c.path)) {
      process.stderr.write(`startup: ${c.path} does not exist (run \`npm run build\` first)\n`);
      process.exit(2);
    }
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ffrtmp-bench-startup-'));
  try {
    const timer = compileTimer(tmp);
    const node = process.execPath;
    const cells = [{ key: 'node -e 0', argv: () => [node, '-e', '0'] }];
    for (const c of o.clis) {
      const tag = o.clis.length > 1 ? `[${c.label}] ` : '';
      cells.push({ key: `${tag}ffrtmp --version`, argv: () => [node, c.path, '--version'] });
      cells.push({ key: `${tag}ffrtmp run -- true`, run: true, cli: c.path });
      cells.push({ key: `${tag}ffrtmp attach --pid P`, attach: true, cli: c.path });
    }
    const samples = new Map(cells.map((c) => [c.key, []]));
    // Warm-up: one of each (page cache, the addon's first dlopen), not recorded.
    const one = async (cell, i) => {
      const stateDir = path.join(tmp, `state-${i}`);
      fs.mkdirSync(stateDir);
      try {
        if (cell.attach) return await attachOnce(timer, cell.cli, stateDir);
        if (cell.run) return await timeOnce(timer, [node, cell.cli, 'run', '--state-dir', stateDir, '--', 'true']);
        return await timeOnce(timer, cell.argv());
      } finally {
        fs.rmSync(stateDir, { recursive: true, force: true });
      }
    };
    let seq = 0;
    for (const cell of cells) await one(cell, seq++);
    for (let round = 0; round < o.rounds; round++) {
      for (let k = 0; k < cells.length; k++) {
        const cell = cells[(round + k) % cells.length];
        const r = await one(cell, seq++);
        if (r.status !== 0) throw new Error(`${cell.key}: wait status ${r.status}`);
        samples.get(cell.key).push(r);
      }
      process.stderr.write(`\rround ${round + 1}/${o.rounds}`);
    }
    process.stderr.write('\n');

    const base = samples.get('node -e 0');
    const baseWall = stats(base.map((s) => s.wall_ms)).p50;
    const baseCpu = stats(base.map((s) => s.cpu_ms)).p50;
    const rows = cells.map((c) => {
      const s = samples.get(c.key);
      const wall = stats(s.map((x) => x.wall_ms));
      const cpu = stats(s.map((x) => x.cpu_ms));
      return {
        cell: c.key,
        wall_ms: wall,
        cpu_ms: cpu,
        maxrss_kb_p50: stats(s.map((x) => x.maxrss_kb)).p50,
        wall_ratio: +(wall.p50 / baseWall).toFixed(2),
        cpu_ratio: +(cpu.p50 / baseCpu).toFixed(2),
      };
    });
    const meta = {
      date: new Date().toISOString(), kernel: os.release(), cpus: os.cpus().length, node: process.version, rounds: o.rounds,
      loadavg_1m: +os.loadavg()[0].toFixed(2), clis: o.clis,
      compile_cache_env: { NODE_COMPILE_CACHE: process.env.NODE_COMPILE_CACHE ?? null, NODE_DISABLE_COMPILE_CACHE: process.env.NODE_DISABLE_COMPILE_CACHE ?? null },
    };
    process.stdout.write(`start-up, ${meta.date}, kernel ${meta.kernel}, ${meta.cpus} CPUs, Node ${meta.node}, ${o.rounds} alternating rounds, load ${meta.loadavg_1m}\n`);
    process.stdout.write(`${'cell'.padEnd(40)} ${'wall p50'.padStart(9)} ${'p90'.padStart(7)} ${'ratio'.padStart(6)}   ${'cpu p50'.padStart(8)} ${'p90'.padStart(7)} ${'ratio'.padStart(6)}  ${'maxrss'.padStart(8)}\n`);
    for (const r of rows) {
      const verdict = /run -- true|attach/.test(r.cell) ? `  ${r.wall_ratio <= TARGET_RATIO ? 'PASS' : 'FAIL'} (≤ ${TARGET_RATIO}× wall)` : '';
      process.stdout.write(`${r.cell.padEnd(40)} ${r.wall_ms.p50.toFixed(1).padStart(9)} ${r.wall_ms.p90.toFixed(1).padStart(7)} ${r.wall_ratio.toFixed(2).padStart(5)}×   ${r.cpu_ms.p50.toFixed(1).padStart(8)} ${r.cpu_ms.p90.toFixed(1).padStart(7)} ${r.cpu_ratio.toFixed(2).padStart(5)}×  ${String(r.maxrss_kb_p50).padStart(6)}kB${verdict}\n`);
    }
    if (o.save) {
      fs.mkdirSync(RESULTS_DIR, { recursive: true });
      const doc = JSON.stringify({ meta, target_ratio: TARGET_RATIO, rows }, null, 2);
      const stamp = meta.date.replace(/[:.]/g, '-');
      fs.writeFileSync(path.join(RESULTS_DIR, `startup-${stamp}.json`), doc);
      fs.writeFileSync(path.join(RESULTS_DIR, 'startup-latest.json'), doc);
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`startup failed: ${e.stack ?? e}\n`);
  process.exit(1);
});
