import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { loadNative } from '../../src/native/load';
import { selectObserver } from '../../src/observer/select';
import type { ExitObserver } from '../../src/observer/types';
import { exited, killQuietly, sessionOf } from '../helpers';

/**
 * One contract, two backends. Every test runs against the pidfd backend (when the addon loads
 * and the kernel has pidfd_open) and the polling fallback; both must agree on what a process did.
 */
const native = loadNative();
const caps = native.available ? native.native.capabilities() : undefined;
const backends: [string, () => ExitObserver, boolean][] = [
  ['pidfd', () => selectObserver({ backend: 'pidfd' }), caps?.pidfdOpen === true],
  ['polling', () => selectObserver({ backend: 'polling', pollIntervalMs: 20 }), true],
];
if (!native.available) console.warn(`contract: pidfd backend SKIPPED: ${native.reason}`);

/** A process that is NOT the observer's child: spawned by node's child_process (libuv reaps it). */
function foreign(script: string): { pid: number; done: Promise<unknown> } {
  const child = spawn('sh', ['-c', script], { stdio: 'ignore' });
  return { pid: child.pid as number, done: exited(child) };
}

describe.each(backends)('observer contract: %s backend', (name, make, enabled) => {
  const observer = enabled ? make() : undefined;
  const maybe = enabled ? it : it.skip;

  maybe('is the backend it claims to be', () => {
    expect(observer!.backend).toBe(name);
    expect(observer!.why.length).toBeGreaterThan(10);
  });

  for (const code of [0, 1, 42]) {
    maybe(`spawn: a child exiting ${code} reports exit_code ${code} from waitid`, async () => {
      const child = await observer!.spawn({ command: 'sh', args: ['-c', `exit ${code}`], cwd: null, env: process.env });
      const exit = await child.watch.exited;
      expect(exit.status).toEqual({ exit_code: code, signal: null, exit_source: 'waitid' });
      expect(exit.exitedAtMs).toBeGreaterThan(Date.now() - 10_000);
    });
  }

  maybe('spawn: death by signal reports the signal and no exit code', async () => {
    const child = await observer!.spawn({ command: 'sh', args: ['-c', 'kill -KILL $$'], cwd: null, env: process.env });
    expect((await child.watch.exited).status).toEqual({ exit_code: null, signal: 'SIGKILL', exit_source: 'waitid' });
  });

  maybe('spawn: the child has its own session', async () => {
    const child = await observer!.spawn({ command: 'sleep', args: ['5'], cwd: null, env: process.env });
    try {
      expect(sessionOf(child.pid)).toBe(child.pid);
      expect(sessionOf(child.pid)).not.toBe(sessionOf(process.pid));
    } finally {
      child.watch.close();
      killQuietly(child.pid);
    }
  });

  maybe('spawn: a missing command is an execve ENOENT error', async () => {
    await expect(
      observer!.spawn({ command: 'ffrtmp-no-such-command', args: [], cwd: null, env: process.env }),
    ).rejects.toMatchObject({ code: 'ENOENT', syscall: 'execve' });
  });

  maybe('attach: a process that does not exist is ESRCH', () => {
    const gone = foreign('exit 0');
    return gone.done.then(() => {
      expect(() => observer!.attach(gone.pid)).toThrow(expect.objectContaining({ code: 'ESRCH', errno: -3 }));
    });
  });

  maybe('attach: detects the exit of a non-child, with its identity', async () => {
    const p = foreign('sleep 0.3; exit 7');
    const a = observer!.attach(p.pid);
    expect(a.identityStartTime).toMatch(/^\d+$/);
    const exit = await a.watch.exited;
    expect(exit.exitedAtMs).toBeLessThanOrEqual(Date.now() + 1); // native time is fractional ms; Date.now() floors
    if (name === 'polling' || !caps?.pidfdInfoExit) {
      expect(exit.status).toEqual({ exit_code: null, signal: null, exit_source: 'unknown' });
    } else {
      expect(exit.status).toEqual({ exit_code: 7, signal: null, exit_source: 'pidfd_info' });
    }
  });

  maybe('attach: a zombie counts as exited', async () => {
    // The parent sh never reaps its backgrounded child until it exits itself.
    const parent = spawn('sh', ['-c', 'sleep 0.05 & echo $!; exec sleep 3'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const pid = await new Promise<number>((r) => parent.stdout!.once('data', (d) => r(Number(String(d).trim()))));
    await new Promise((r) => setTimeout(r, 300)); // now a zombie: exited, not reaped (parent is sleeping)
    const a = observer!.attach(pid);
    const started = Date.now();
    const exit = await a.watch.exited.finally(() => killQuietly(parent.pid));
    expect(exit.exitedAtMs - started).toBeLessThan(3_000);
  });

  maybe('close() stops watching without touching the process', async () => {
    const p = foreign('sleep 0.5');
    const a = observer!.attach(p.pid);
    a.watch.close();
    a.watch.close(); // idempotent
    let settled = false;
    void a.watch.exited.then(() => (settled = true));
    await p.done;
    await new Promise((r) => setTimeout(r, 200));
    expect(settled).toBe(false);
  });
});

describe('pidfd backend specifics', () => {
  const it_ = caps?.pidfdOpen ? it : it.skip;
  it_('attach to a non-child that exits 7 reports exit_code 7 via pidfd_info', async () => {
    if (!caps?.pidfdInfoExit) {
      console.warn(`SKIPPED: kernel ${caps?.kernelRelease} lacks PIDFD_INFO_EXIT (6.15+); exit status must be unknown`);
      return;
    }
    const p = foreign('sleep 0.2; exit 7');
    const exit = await selectObserver({ backend: 'pidfd' }).attach(p.pid).watch.exited;
    expect(exit.status).toEqual({ exit_code: 7, signal: null, exit_source: 'pidfd_info' });
  });

  it_('attach to a non-child killed by a signal reports the signal via pidfd_info', async () => {
    if (!caps?.pidfdInfoExit) return;
    const p = foreign('sleep 0.2; kill -TERM $$; sleep 1');
    const exit = await selectObserver({ backend: 'pidfd' }).attach(p.pid).watch.exited;
    expect(exit.status).toEqual({ exit_code: null, signal: 'SIGTERM', exit_source: 'pidfd_info' });
  });
});
