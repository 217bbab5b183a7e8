/**
 * The fd table runs out at every step of a start, one step at a time: a fresh node fills its fd
 * table and then frees k descriptors (k = 0, 1, 2, ...) before `run()` or `attach()`. Whichever
 * syscall is the one that gets EMFILE (the watcher's epoll_create1 or eventfd, pipe2, clone3's
 * pidfd, pidfd_open), the Result must be honest (a violation naming what failed, the pid when a
 * process exists, never a made-up one) and nothing may leak: no pidfd, no pipe, no child left
 * behind that the Result does not name.
 */
import { spawn, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ROOT, killQuietly } from '../helpers';
import { nativeDisabled } from '../native/helpers';

const PRELUDE = `
const fs = require('fs');
const links = () => fs.readdirSync('/proc/self/fd').map((fd) => { try { return fs.readlinkSync('/proc/self/fd/' + fd); } catch { return '?'; } });
const count = (re) => links().filter((l) => re.test(l)).length;
const children = () => fs.readdirSync('/proc/self/task').flatMap((t) =>
  fs.readFileSync('/proc/self/task/' + t + '/children', 'utf8').trim().split(/\\s+/).filter(Boolean).map(Number));
function squeeze(k) {
  const fds = [];
  try { for (;;) fds.push(fs.openSync('/dev/null', 'r')); } catch (e) { if (e.code !== 'EMFILE') throw e; }
  for (let i = 0; i < k; i++) fs.closeSync(fds.pop());
  return () => { for (const fd of fds) fs.closeSync(fd); };
}
`;

interface Outcome {
  result: { pid: number | null; platform_sla_reason: string; platform_sla_compliant: boolean; spawn_error?: { code: string; syscall: string } };
  pidfds: number;
  pipes: number;
  pipesBefore: number;
  children: number[];
}

function fresh(code: string): Outcome {
  const r = spawnSync('prlimit', ['--nofile=128:128', process.execPath, '-e', PRELUDE + code], { cwd: ROOT, encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) throw new Error(`snippet failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as Outcome;
}

describe.skipIf(nativeDisabled)('EMFILE at every step of a start', () => {
  it('run: an honest Result and no leaked fd or child, whichever syscall runs out', () => {
    const seen = new Set<string>();
    for (let k = 0; k <= 6; k++) {
      const o = fresh(`
        const { run } = require('./dist/core/run');
        const { selectObserver } = require('./dist/observer/select');
        const observer = selectObserver({ backend: 'pidfd' });
        const pipesBefore = count(/^pipe:/);
        const release = squeeze(${k});
        run({ command: 'sleep', args: ['0.2'], observer, governance: { enabled: false } }).then((result) => {
          release();
          const kids = children();
          process.stdout.write(JSON.stringify({ result, pidfds: count(/pidfd/), pipes: count(/^pipe:/), pipesBefore, children: kids }));
        });`);
      const r = o.result;
      seen.add(r.platform_sla_reason);
      expect(o.pidfds, `k=${k}: no pidfd left open`).toBe(0);
      expect(o.pipes, `k=${k}: no pipe left open`).toBe(o.pipesBefore);
      if (r.platform_sla_compliant) {
        expect(r.platform_sla_reason).toBe('completed_successfully');
      } else {
        expect(['observer_unavailable', 'spawn_failed_platform'], `k=${k}`).toContain(r.platform_sla_reason);
        expect(r.spawn_error?.code, `k=${k}`).toBe('EMFILE');
        // Unwatchable after the start: the Result names the running process. Otherwise nothing ran.
        if (r.pid === null) expect(o.children, `k=${k}: no unnamed child`).toEqual([]);
        else killQuietly(r.pid);
      }
    }
    // The sweep really crossed the failure points into success.
    expect(seen.has('completed_successfully')).toBe(true);
    expect(seen.has('observer_unavailable')).toBe(true);
  });

  it('attach: every requested process gets an honest Result and no pidfd leaks', () => {
    const target = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const seen = new Set<string>();
      for (let k = 0; k <= 4; k++) {
        const o = fresh(`
          const { attach } = require('./dist/core/attach');
          const { selectObserver } = require('./dist/observer/select');
          const observer = selectObserver({ backend: 'pidfd' });
          const pipesBefore = count(/^pipe:/);
          const release = squeeze(${k});
          const ac = new AbortController();
          const p = attach({ pids: [${target.pid}], observer, signal: ac.signal, governance: { enabled: false } });
          setTimeout(() => ac.abort(), 100);
          p.then(([result]) => {
            release();
            process.stdout.write(JSON.stringify({ result, pidfds: count(/pidfd/), pipes: count(/^pipe:/), pipesBefore, children: children() }));
          });`);
        seen.add(o.result.platform_sla_reason);
        expect(o.result.pid, `k=${k}`).toBe(target.pid);
        expect(o.pidfds, `k=${k}: no pidfd left open`).toBe(0);
        expect(['observer_unavailable', 'detached_workload_continues'], `k=${k}`).toContain(o.result.platform_sla_reason);
      }
      expect(seen).toEqual(new Set(['observer_unavailable', 'detached_workload_continues']));
    } finally {
      killQuietly(target.pid);
    }
  });
});
