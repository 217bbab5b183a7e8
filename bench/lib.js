'use strict';
/**
 * What several benches share: the `--cli LABEL=PATH` flag, the memory of a process from /proc,
 * and N sleeping processes that are not our children (the targets an `attach` adopts).
 */
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');

/** The value of one `--cli LABEL=PATH`, or null when it is not of that form. */
function parseCli(value) {
  const m = /^([^=]+)=(.+)$/.exec(value ?? '');
  return m ? { label: m[1], path: path.resolve(m[2]) } : null;
}

/** The CLI of this clone, when no `--cli` was given. */
function defaultClis() {
  return [{ label: 'this', path: path.join(ROOT, 'dist', 'cli', 'main.js') }];
}

/** kB fields of /proc/<pid>/status (VmRSS, RssAnon, RssFile) and Pss from smaps_rollup. */
function memoryOf(pid) {
  const out = {};
  for (const line of fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const m = /^(VmRSS|RssAnon|RssFile):\s+(\d+) kB/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    if (m) out.Pss = Number(m[1]);
  } catch {
    /* older kernels */
  }
  return out;
}

/** N `sleep <arg>`s that are not our children: a shell starts them in the background and exits. */
function startOrphans(n, arg = '600') {
  const out = execFileSync('sh', ['-c', `i=0; while [ $i -lt ${n} ]; do sleep ${arg} </dev/null >/dev/null 2>&1 & echo $!; i=$((i+1)); done`], { encoding: 'utf8', maxBuffer: 1 << 24 });
  const pids = out.trim().split('\n').map(Number);
  if (pids.length !== n) throw new Error(`started ${pids.length} of ${n}`);
  return pids;
}

function killAll(pids) {
  for (const p of pids) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

module.exports = { ROOT, parseCli, defaultClis, memoryOf, startOrphans, killAll };
