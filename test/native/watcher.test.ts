import { spawn as cpSpawn } from 'node:child_process';
import { existsSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { SystemError, toSystemError } from '../../src/native/errors';
import {
  CLD_EXITED,
  CLD_KILLED,
  EPOLLHUP,
  EPOLLIN,
  SH,
  baseReq,
  blockMs,
  emulator,
  fdCount,
  kernelReportsReap,
  native,
  nativeDisabled,
  procStat,
  runNode,
  sleepMs,
  waitForState,
  watchFd,
} from './helpers';

const caps = nativeDisabled ? null : native().capabilities();
const noInfoExit = !caps?.pidfdInfoExit; // kernel < 6.15
const noGetInfo = !caps?.pidfdGetInfo; // kernel < 6.13

function spawnSh(script: string) {
  return native().spawn({ ...baseReq, candidates: [SH], argv: ['sh', '-c', script] });
}

describe.skipIf(nativeDisabled)('exit watcher', () => {
  it('reports EPOLLIN at exit and EPOLLHUP once we reap; waitidPidfd gives the status', async () => {
    const b = native();
    const before = Date.now(); // before the spawn: under emulation the exit can come before the watch
    const r = spawnSh('sleep 0.05; exit 42');
    expect(b.waitidPidfd(r.pidfd)).toBeNull(); // still running: WNOHANG
    const w = watchFd(r.pidfd);
    expect(b.watchCount()).toBeGreaterThanOrEqual(1);
    const inEv = await w.next(EPOLLIN);
    expect(inEv.events & EPOLLHUP).toBe(0); // a zombie: exited, not reaped
    expect(inEv.at).toBeGreaterThan(before - 1);
    expect(inEv.at).toBeLessThanOrEqual(Date.now() + 1);
    expect(b.waitidPidfd(r.pidfd)).toEqual({ siCode: CLD_EXITED, siStatus: 42 });
    if (await kernelReportsReap(b)) {
      const hup = await w.next(EPOLLHUP);
      expect(hup.events & EPOLLHUP).toBe(EPOLLHUP);
    }
    await sleepMs(20);
    expect(w.seen.length).toBeLessThanOrEqual(2); // edge-triggered: one event per change, no spinning
    w.stop();
    b.closeFd(r.pidfd);
  });

  it.each([0, 1, 42])('waitidPidfd reports exit %i', async (code) => {
    const b = native();
    const r = spawnSh(`exit ${code}`);
    const w = watchFd(r.pidfd);
    await w.next(EPOLLIN);
    expect(b.waitidPidfd(r.pidfd)).toEqual({ siCode: CLD_EXITED, siStatus: code });
    w.stop();
    b.closeFd(r.pidfd);
  });

  it.each([
    ['SIGKILL', 9],
    ['SIGTERM', 15],
  ] as const)('waitidPidfd reports a kill by %s', async (sig, num) => {
    const b = native();
    const r = b.spawn({ ...baseReq, candidates: ['/bin/sleep'], argv: ['sleep', '30'] });
    const w = watchFd(r.pidfd);
    process.kill(r.pid, sig); // default disposition in the child: it dies
    await w.next(EPOLLIN);
    expect(b.waitidPidfd(r.pidfd)).toEqual({ siCode: CLD_KILLED, siStatus: num });
    w.stop();
    b.closeFd(r.pidfd);
  });

  it('reports an already-exited pidfd as soon as it is watched', async () => {
    const b = native();
    const r = spawnSh('exit 5');
    await waitForState(r.pid, 'Z');
    const w = watchFd(r.pidfd);
    const ev = await w.next(EPOLLIN, 1000);
    expect(ev.events & EPOLLIN).toBe(EPOLLIN);
    expect(b.waitidPidfd(r.pidfd)).toEqual({ siCode: CLD_EXITED, siStatus: 5 });
    if (await kernelReportsReap(b)) await w.next(EPOLLHUP);
    w.stop();
    b.closeFd(r.pidfd);
  });

  it('delivers no event for an fd after unwatch() returned, even one already in flight', async () => {
    const b = native();
    const r = spawnSh('exit 0');
    const w = watchFd(r.pidfd);
    // Never yield to the loop between watch and unwatch: wait for the zombie synchronously.
    for (let i = 0; i < 5000 && procStat(r.pid)?.[0] !== 'Z'; i++) blockMs(1);
    blockMs(30); // the watcher thread has seen EPOLLIN and queued the batch meanwhile
    b.unwatch(r.pidfd); // native unwatch only: our listener stays registered and would see a stale event
    await sleepMs(30);
    expect(w.seen).toEqual([]);
    w.stop();
    expect(b.waitidPidfd(r.pidfd)).toEqual({ siCode: CLD_EXITED, siStatus: 0 });
    b.closeFd(r.pidfd);
  });

  it.skipIf(noInfoExit)('a non-child (reaped by libuv): EPOLLHUP, then PIDFD_INFO_EXIT gives the wait status', async () => {
    const b = native();
    const cp = cpSpawn('sh', ['-c', 'exit 7'], { stdio: 'ignore' });
    // Synchronously after spawn: libuv cannot have reaped it before the loop runs again.
    const fd = b.pidfdOpen(cp.pid!);
    const w = watchFd(fd);
    const hup = await w.next(EPOLLHUP);
    expect(hup.events & EPOLLHUP).toBe(EPOLLHUP);
    expect(b.pidfdGetExitInfo(fd)).toEqual({ exited: true, waitStatus: 7 << 8 });
    // Not ours to reap: waitid says ECHILD.
    let err: unknown;
    try {
      b.waitidPidfd(fd);
    } catch (e) {
      err = toSystemError(e);
    }
    expect(err).toBeInstanceOf(SystemError);
    expect((err as SystemError).code).toBe('ECHILD');
    w.stop();
    b.closeFd(fd);
  });

  it.skipIf(noInfoExit)('a non-child killed by a signal: waitStatus is the signal number', async () => {
    const b = native();
    const cp = cpSpawn('sleep', ['30'], { stdio: 'ignore' });
    const fd = b.pidfdOpen(cp.pid!);
    const w = watchFd(fd);
    expect(b.pidfdGetExitInfo(fd)).toEqual({ exited: false });
    cp.kill('SIGKILL');
    await w.next(EPOLLHUP);
    expect(b.pidfdGetExitInfo(fd)).toEqual({ exited: true, waitStatus: 9 });
    w.stop();
    b.closeFd(fd);
  });

  it.skipIf(noGetInfo)('pidfdGetExitInfo on a zombie says exited: false (the info exists only after the reap)', async () => {
    const b = native();
    const r = spawnSh('exit 3');
    await waitForState(r.pid, 'Z');
    expect(b.pidfdGetExitInfo(r.pidfd)).toEqual({ exited: false });
    expect(b.waitidPidfd(r.pidfd)).toEqual({ siCode: CLD_EXITED, siStatus: 3 });
    if (!noInfoExit) expect(b.pidfdGetExitInfo(r.pidfd)).toEqual({ exited: true, waitStatus: 3 << 8 });
    b.closeFd(r.pidfd);
  });

  it('watch count follows watch/unwatch/closeFd; unknown fds are ignored', () => {
    const b = native();
    const base = b.watchCount();
    const a = b.pidfdOpen(process.pid);
    const c = b.pidfdOpen(process.pid);
    b.watch(a, 1);
    b.watch(c, 2);
    expect(b.watchCount()).toBe(base + 2);
    expect(() => b.watch(a, 3)).toThrow(expect.objectContaining({ errno: 17, syscall: 'epoll_ctl' })); // EEXIST
    b.unwatch(a);
    b.unwatch(a);
    b.unwatch(123456);
    expect(b.watchCount()).toBe(base + 1);
    b.closeFd(c); // closing a watched fd unwatches it
    expect(b.watchCount()).toBe(base);
    b.closeFd(a);
  });

  it('10,000 pidfdOpen+watch+unwatch+closeFd cycles leave the fd count flat', () => {
    const b = native();
    const base = b.watchCount();
    for (let i = 0; i < 100; i++) b.closeFd(b.pidfdOpen(process.pid)); // warm up
    const before = fdCount();
    for (let i = 0; i < 10_000; i++) {
      const fd = b.pidfdOpen(process.pid);
      b.watch(fd, i);
      b.unwatch(fd);
      b.closeFd(fd);
    }
    expect(fdCount()).toBe(before);
    expect(b.watchCount()).toBe(base);
  });

  // strace fault injection stands in for an older kernel: PIDFD_GET_INFO (6.13) answers ENOTTY.
  // Not under qemu-user: it answers ENOSYS itself for an ioctl it does not know, before the kernel.
  it.skipIf(!existsSync('/usr/bin/strace') || emulator !== null)('without PIDFD_GET_INFO: capabilities say so and pidfdGetExitInfo throws ENOTTY', async () => {
    const res = await runNode(
      `const caps = addon.capabilities();
      const fd = addon.pidfdOpen(process.pid);
      let err;
      try { addon.pidfdGetExitInfo(fd); } catch (e) { err = { errno: e.errno, syscall: e.syscall }; }
      require('fs').writeSync(1, JSON.stringify({ caps, err })); // process.stdout itself would ioctl`,
      60_000,
      'pipe',
      ['/usr/bin/strace', '-f', '-qq', '-o', '/dev/null', '-e', 'trace=ioctl', '-e', 'inject=ioctl:error=ENOTTY'],
    );
    expect(res.code).toBe(0);
    const out = JSON.parse(res.stdout);
    expect(out.caps).toMatchObject({ pidfdOpen: true, pidfdGetInfo: false, pidfdInfoExit: false });
    expect(out.err).toEqual({ errno: 25, syscall: 'ioctl' });
    expect((toSystemError(Object.assign(new Error('ioctl'), out.err)) as SystemError).message).toBe(
      'ENOTTY: inappropriate ioctl for device, ioctl',
    );
   }, 90_000);
});
