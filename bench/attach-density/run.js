'use strict';
/**
 * Density: the memory of ONE `ffrtmp attach` governing N sleeping processes, next to procps'
 * `pidwait` watching the same processes (a benchmark: it prints PASS/FAIL against the issue's
 * target of ≤ 64 MB RSS at N = 1000 and never fails CI). Needs the built package.
 *
 *   node bench/attach-density/run.js [--n 1,100,1000] [--cli LABEL=PATH ...] [--rounds 3] [--no-save]
 *
 * For each N, in one run: N `sleep`s that are not our children (a shell starts them and exits),
 * then, one after the other on those same processes:
 *
 *  - ffrtmp: `node <cli> attach --state-dir D --pid <all N>` (observe only: no limit flags), the
 *    real CLI; measured once D's journal holds N `started` records and 2 s have passed; then
 *    detached (SIGTERM: the jobs stay open in D, which is removed). `--cli LABEL=PATH`
 *    (repeatable) compares builds side by side (e.g. another clone's dist/cli/main.js).
 *  - pidwait: `pidwait -f -x 'sleep <tag>'` (procps-ng: pidfd_open + epoll, one process for all),
 *    measured once it holds N pidfds.
 *  - node: a bare `node -e 'setInterval(() => {}, 1e9)'`, the floor of any Node process.
 *
 * Reported from /proc/<pid>/status and smaps_rollup: VmRSS, RssAnon (the process's own memory),
 * RssFile (mapped files: mostly the node binary, shared with every other Node process) and Pss;
 * median of --rounds measurements, and per stream (the RSS above N = 1's, divided by N - 1).
 */
const { execFileSync, spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { defaultClis, killAll, memoryOf, parseCli, startOrphans } = require('../lib');

const ROOT = path.resolve(__dirname, '..', '..');
const RESULTS_DIR = path.join(ROOT, 'bench', 'results');
const TARGET_N = 1000;
const TARGET_MB = 64;

function parseArgs(argv) {
  const o = { ns: [1, 100, 1000], clis: [], rounds: 3, save: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--n') o.ns = argv[++i].split(',').map(Number);
    else if (a === '--rounds') o.rounds = Number(argv[++i]);
    else if (a === '--cli') {
      const cli = parseCli(argv[++i]);
      if (!cli) usage();
      o.clis.push(cli);
    } else if (a === '--no-save') o.save = false;
    else usage();
  }
  if (o.ns.some((n) => !Number.isInteger(n) || n < 1) || !Number.isInteger(o.rounds) || o.rounds < 1) usage();
  if (o.clis.length === 0) o.clis = defaultClis();
  return o;
}

function usage() {
  process.stderr.write('usage: node bench/attach-density/run.js [--n 1,100,1000] [--cli LABEL=PATH ...] [--rounds 3] [--no-save]\n');
  process.exit(2);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)];
}


async function waitFor(what, cond, ms) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function exited(child) {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', r));
}

async function measureFfrtmp(cli, pids, tmp) {
  const stateDir = fs.mkdtempSync(path.join(tmp, 'state-'));
  const args = [cli, 'attach', '--state-dir', stateDir];
  for (const p of pids) args.push('--pid', String(p));
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'ignore'] });
  try {
    // Every journal file (the current one may have been rotated away meanwhile).
    const started = () => {
      let n = 0;
      for (const f of fs.readdirSync(stateDir)) {
        if (!/^journal\..*jsonl$/.test(f)) continue;
        try {
          n += fs.readFileSync(path.join(stateDir, f), 'utf8').split('\n').filter((l) => l.startsWith('{"type":"started"')).length;
        } catch {
          /* rotated between readdir and read: counted in its new name next time */
        }
      }
      return n;
    };
    const t0 = performance.now();
    await waitFor(`${pids.length} started records`, () => {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`ffrtmp attach exited early (${child.exitCode ?? child.signalCode})`);
      return started() >= pids.length;
    }, 300_000);
    const readyMs = performance.now() - t0;
    await sleep(2000);
    const mem = memoryOf(child.pid);
    child.kill('SIGTERM'); // detach: the sleeps keep running for the next cell
    await exited(child);
    if (child.exitCode !== 128 + 15) throw new Error(`ffrtmp attach ended with ${child.exitCode ?? child.signalCode}, not 143 (detached)`);
    return { ...mem, ready_ms: +readyMs.toFixed(0) };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited(child);
    fs.rmSync(stateDir, { recursive: true, force: true });
  }
}

async function measurePidwait(tag, n) {
  const child = spawn('pidwait', ['-f', '-x', `sleep ${tag}`], { stdio: 'ignore' });
  try {
    const pidfds = () => {
      try {
        return fs.readdirSync(`/proc/${child.pid}/fd`).filter((f) => {
          try {
            return fs.readlinkSync(`/proc/${child.pid}/fd/${f}`) === 'anon_inode:[pidfd]';
          } catch {
            return false;
          }
        }).length;
      } catch {
        return 0;
      }
    };
    await waitFor(`pidwait holding ${n} pidfds`, () => child.exitCode === null && pidfds() >= n, 60_000);
    await sleep(500);
    return memoryOf(child.pid);
  } finally {
    child.kill('SIGKILL');
    await exited(child);
  }
}

async function measureNode() {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e9)'], { stdio: 'ignore' });
  try {
    await sleep(1500);
    return memoryOf(child.pid);
  } finally {
    child.kill('SIGKILL');
    await exited(child);
  }
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  for (const c of o.clis) {
    if (!fs.existsSync(c.path)) {
      process.stderr.write(`attach-density: ${c.path} does not exist (run \`npm run build\` first)\n`);
      process.exit(2);
    }
  }
  const havePidwait = spawnSync('pidwait', ['--version']).status === 0;
  const nofile = Number(execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim());
  if (Number.isFinite(nofile) && nofile < Math.max(...o.ns) + 64) process.stderr.write(`warning: RLIMIT_NOFILE ${nofile}: ffrtmp and pidwait hold one pidfd per process\n`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ffrtmp-bench-density-'));
  const cells = [...o.clis.map((c) => ({ key: `ffrtmp attach [${c.label}]`, cli: c.path })), ...(havePidwait ? [{ key: 'pidwait', pidwait: true }] : []), { key: 'node (idle)', node: true }];
  const samples = new Map(); // `${key}@${n}` -> [mem]
  let seq = 0;
  try {
    for (let round = 0; round < o.rounds; round++) {
      for (const n of o.ns) {
        const tag = `600.${process.pid}${String(seq++).padStart(4, '0')}`;
        const pids = startOrphans(n, tag);
        try {
          await sleep(200);
          // Rotate the order per round so no cell always goes first.
          for (let k = 0; k < cells.length; k++) {
            const cell = cells[(round + k) % cells.length];
            if (cell.node && n !== o.ns[0]) continue; // once per round is enough
            process.stderr.write(`round ${round + 1}/${o.rounds} N=${n}: ${cell.key} ...\n`);
            const mem = cell.pidwait ? await measurePidwait(tag, n) : cell.node ? await measureNode() : await measureFfrtmp(cell.cli, pids, tmp);
            const key = `${cell.key}@${cell.node ? 0 : n}`;
            if (!samples.has(key)) samples.set(key, []);
            samples.get(key).push(mem);
          }
        } finally {
          killAll(pids);
        }
      }
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }

  const rows = [];
  for (const [key, list] of samples) {
    const [cell, nStr] = key.split('@');
    const pick = (f) => (list.every((m) => m[f] !== undefined) ? median(list.map((m) => m[f])) : null);
    rows.push({ cell, n: Number(nStr), rounds: list.length, vmrss_kb: pick('VmRSS'), rss_anon_kb: pick('RssAnon'), rss_file_kb: pick('RssFile'), pss_kb: pick('Pss'), ready_ms: pick('ready_ms') });
  }
  for (const r of rows) {
    const one = rows.find((x) => x.cell === r.cell && x.n === 1);
    r.per_stream_kb = one && r.n > 1 ? +((r.vmrss_kb - one.vmrss_kb) / (r.n - 1)).toFixed(1) : null;
  }
  const meta = {
    date: new Date().toISOString(), kernel: os.release(), cpus: os.cpus().length, node: process.version, rounds: o.rounds, clis: o.clis,
    pidwait: havePidwait ? execFileSync('pidwait', ['--version'], { encoding: 'utf8' }).trim() : 'not installed',
  };
  process.stdout.write(`attach density, ${meta.date}, kernel ${meta.kernel}, ${meta.cpus} CPUs, Node ${meta.node}, median of ${o.rounds}\n`);
  process.stdout.write(`${'cell'.padEnd(28)} ${'N'.padStart(5)} ${'VmRSS'.padStart(9)} ${'RssAnon'.padStart(9)} ${'RssFile'.padStart(9)} ${'Pss'.padStart(9)} ${'per stream'.padStart(11)}\n`);
  const mb = (kb) => (kb === null ? '-' : `${(kb / 1024).toFixed(1)} MB`);
  for (const r of rows) {
    const verdict = r.cell.startsWith('ffrtmp') && r.n === TARGET_N ? `  ${r.vmrss_kb / 1024 <= TARGET_MB ? 'PASS' : 'FAIL'} (≤ ${TARGET_MB} MB at N = ${TARGET_N})` : '';
    process.stdout.write(`${r.cell.padEnd(28)} ${String(r.n || '-').padStart(5)} ${mb(r.vmrss_kb).padStart(9)} ${mb(r.rss_anon_kb).padStart(9)} ${mb(r.rss_file_kb).padStart(9)} ${mb(r.pss_kb).padStart(9)} ${(r.per_stream_kb === null ? '-' : `${r.per_stream_kb} KB`).padStart(11)}${verdict}\n`);
  }
  if (!havePidwait) process.stdout.write('pidwait: not installed (procps-ng 3.3.17+): comparison skipped\n');
  if (o.save) {
    fs.mkdirSync(RESULTS_DIR, { recursive: true });
    const doc = JSON.stringify({ meta, target: { n: TARGET_N, vmrss_mb: TARGET_MB }, rows }, null, 2);
    const stamp = meta.date.replace(/[:.]/g, '-');
    fs.writeFileSync(path.join(RESULTS_DIR, `attach-density-${stamp}.json`), doc);
    fs.writeFileSync(path.join(RESULTS_DIR, 'attach-density-latest.json'), doc);
  }
}

main().catch((e) => {
  process.stderr.write(`attach-density failed: ${e.stack ?? e}\n`);
  process.exit(1);
});
