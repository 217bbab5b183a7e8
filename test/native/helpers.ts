/** Shared helpers for the native suites: real processes, real kernel, no mocks. */
import { spawn as cpSpawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';

import type { NativeBinding } from '../../src/native/binding';
import { loadNative } from '../../src/native/load';
import type { Native } from '../../src/native/native';

export const ROOT = join(__dirname, '..', '..');
export const EPOLLIN = 0x1;
export const EPOLLHUP = 0x10;
export const CLD_EXITED = 1;
export const CLD_KILLED = 2;

/**
 * The qemu-user interpreter when these suites run in an emulated Node (test/arm64/run.sh sets
 * it), else null. Under emulation a few things are the emulator's, not the kernel's: clone3 is
 * ENOSYS (spawn takes fork + pidfd_open), unknown ioctls are ENOSYS, and /proc/<pid>/cmdline of
 * an emulated program starts with the interpreter (docs/shipping.md).
 */
export const emulator: string | null = process.env.FFRTMP_TEST_EMULATOR || null;

/**
 * `/proc/<pid>/cmdline` as argv. Under binfmt_misc + qemu-user the kernel shows
 * `<interpreter> <program path> <argv[1]>...`: that is given back as `<basename> <argv[1]>...`.
 */
export function cmdline(pid: number): string[] {
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
  if (emulator !== null && argv[0] === emulator && argv.length >= 2) return [basename(argv[1]), ...argv.slice(2)];
  return argv;
}

/** `FFRTMP_FORCE_NO_NATIVE=1` runs the fallback suites only; otherwise a missing build is a failure. */
export const nativeDisabled = process.env.FFRTMP_FORCE_NO_NATIVE === '1';

/** The owner every product module uses (src/native/native.ts): SystemErrors, subscribe(). */
export function owner(): Native {
  const r = loadNative();
  if (!r.available) throw new Error(`native addon unavailable: ${r.reason} (run npm run build:native)`);
  return r.native;
}

/**
 * The raw addon, for the suites that test its own contract (src/native/binding.ts). It is the
 * very object the owner wraps (Node's require cache), so watching still goes through the owner.
 */
export function native(): NativeBinding {
  owner();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('node-gyp-build') as (dir: string) => NativeBinding)(ROOT);
}

export interface Ev {
  events: number;
  at: number;
}

/**
 * Watch `fd` through the owner's subscribe() (the one dispatcher of this addon instance);
 * collects events; `next(mask)` resolves on the first event having a bit of `mask`.
 */
export function watchFd(fd: number) {
  const seen: Ev[] = [];
  const waiters: Array<{ mask: number; resolve: (e: Ev) => void }> = [];
  const sub = owner().subscribe(fd, (events, at) => {
    const ev = { events, at };
    seen.push(ev);
    for (const w of [...waiters]) {
      if (ev.events & w.mask) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(ev);
      }
    }
  });
  return {
    seen,
    next(mask: number, timeoutMs = 5000): Promise<Ev> {
      const hit = seen.find((e) => e.events & mask);
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no event with mask ${mask} in ${timeoutMs} ms`)), timeoutMs);
        waiters.push({ mask, resolve: (e) => (clearTimeout(t), resolve(e)) });
      });
    },
    stop() {
      sub.close();
    },
  };
}

export const sleepMs = (ms: number) => new Promise((r) => setTimeout(r, ms));

let hupProbe: Promise<boolean> | undefined;

/**
 * Whether this kernel reports the reap of a watched process as EPOLLHUP. Measured, not assumed:
 * 6.18 does (pidfs), Debian's 6.1 reports EPOLLIN at exit and nothing at the reap.
 */
export function kernelReportsReap(b: NativeBinding): Promise<boolean> {
  hupProbe ??= (async () => {
    const r = b.spawn({ ...baseReq, candidates: ['/bin/true'], argv: ['true'] });
    const w = watchFd(r.pidfd);
    try {
      await w.next(EPOLLIN);
      b.waitidPidfd(r.pidfd);
      await w.next(EPOLLHUP, 500);
      return true;
    } catch {
      return false;
    } finally {
      w.stop();
      b.closeFd(r.pidfd);
    }
  })();
  return hupProbe;
}

/** Synchronous sleep (lets the watcher thread run while the JS thread is busy). */
export function blockMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Fields of /proc/<pid>/stat after the command name: [state, ppid, pgrp, session, ...]. */
export function procStat(pid: number): string[] | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).trim().split(' ');
  } catch {
    return null;
  }
}

export async function waitForState(pid: number, state: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (procStat(pid)?.[0] !== state) {
    if (Date.now() > end) throw new Error(`pid ${pid} never reached state ${state}`);
    await sleepMs(2);
  }
}

export function procStatus(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

export const fdCount = () => readdirSync('/proc/self/fd').length;

/** Our direct children (all threads), from /proc/self/task/<tid>/children. */
export function ourChildren(): number[] {
  const out: number[] = [];
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const s = readFileSync(`/proc/self/task/${tid}/children`, 'utf8').trim();
      if (s) out.push(...s.split(' ').map(Number));
    } catch {
      /* thread gone */
    }
  }
  return out;
}

export const baseReq = {
  envp: ['PATH=/usr/bin:/bin'],
  cwd: null as string | null,
  cgroupFd: -1,
  cgroupProcsPaths: [] as string[],
};

export const SH = '/bin/sh';

/** Run a `node -e` script with the addon available as `addon`; resolves with exit code/signal/output. */
/** Children of runNode still running: killed if this test process ends first (a test timeout
 * that tears the worker down would otherwise leave a hung child behind, as one arm64 run did). */
const liveChildren = new Set<ReturnType<typeof cpSpawn>>();
process.once('exit', () => {
  for (const cp of liveChildren) cp.kill('SIGKILL');
});

export function runNode(
  script: string,
  // generous: only a real hang pays it, and emulated VMs (TCG) are 20-50x slower
  timeoutMs = 25_000,
  /** 'ignore' when the script leaves children behind that would hold the pipes open. */
  stdio: 'pipe' | 'ignore' = 'pipe',
  /** A command to run node under, e.g. strace with fault injection. */
  wrap: string[] = [],
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; timedOut: boolean }> {
  const prelude = `const addon = require(${JSON.stringify(join(ROOT, 'node_modules', 'node-gyp-build'))})(${JSON.stringify(ROOT)});\n`;
  return new Promise((resolve) => {
    const argv = [...wrap, process.execPath, '-e', prelude + script];
    const cp = cpSpawn(argv[0], argv.slice(1), { stdio: ['ignore', stdio, stdio] });
    liveChildren.add(cp);
    let stdout = '';
    let stderr = '';
    cp.stdout?.on('data', (d) => (stdout += d));
    cp.stderr?.on('data', (d) => (stderr += d));
    let timedOut = false;
    const t = setTimeout(() => {
      timedOut = true;
      cp.kill('SIGKILL');
    }, timeoutMs);
    cp.on('close', (code, signal) => {
      clearTimeout(t);
      liveChildren.delete(cp);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}
