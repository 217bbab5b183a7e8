/**
 * "Exits by itself" tests: a fresh node process uses the addon and must end on its own,
 * exit code 0, well within the timeout. A leaked Ref, a thread left joinable or a
 * teardown crash shows up here as a timeout, a signal or a non-zero code.
 */
import { describe, expect, it } from 'vitest';

import { emulator, nativeDisabled, runNode } from './helpers';

const SPAWN = (script: string) =>
  `addon.spawn({ candidates: ['/bin/sh'], argv: ['sh', '-c', ${JSON.stringify(script)}], envp: [], cwd: null, cgroupFd: -1, cgroupProcsPaths: [] })`;

async function expectCleanExit(script: string, expectStdout?: string | RegExp, timeoutMs?: number) {
  const t0 = Date.now();
  const r = await runNode(script, timeoutMs);
  const ms = Date.now() - t0;
  expect({ timedOut: r.timedOut, signal: r.signal, code: r.code, stderr: r.stderr }).toEqual({
    timedOut: false,
    signal: null,
    code: 0,
    stderr: '',
  });
  if (expectStdout !== undefined) expect(r.stdout).toMatch(expectStdout);
  return ms;
}

describe.skipIf(nativeDisabled)('the process exits by itself', () => {
  it('after loading the addon and starting the watcher, idle', async () => {
    await expectCleanExit(`addon.watcherStart(() => {}); addon.capabilities();`);
  });

  it('after watch then unwatch', async () => {
    await expectCleanExit(`
      addon.watcherStart(() => { throw new Error('no event expected'); });
      const fd = addon.pidfdOpen(process.pid);
      addon.watch(fd, 1);
      addon.unwatch(fd);
      addon.closeFd(fd);`);
  });

  it('while a watch is active, the loop stays alive until the exit arrives; unwatch in the callback', async () => {
    await expectCleanExit(
      `
      const r = ${SPAWN('sleep 0.2; exit 3')};
      addon.watcherStart((token, events) => {
        const st = addon.waitidPidfd(r.pidfd);
        addon.unwatch(r.pidfd);
        addon.closeFd(r.pidfd);
        console.log(token, events, JSON.stringify(st));
      });
      addon.watch(r.pidfd, 9);`,
      /^9 1 \{"siCode":1,"siStatus":3\}\n$/,
    );
  });

  it('closeFd inside the callback (without unwatch) also releases the loop', async () => {
    await expectCleanExit(`
      const r = ${SPAWN('exit 0')};
      addon.watcherStart(() => { addon.waitidPidfd(r.pidfd); addon.closeFd(r.pidfd); });
      addon.watch(r.pidfd, 1);`);
  });

  it('process.exit() while watching does not hang or crash', async () => {
    await expectCleanExit(`
      const r = addon.spawn({ candidates: ['/bin/sleep'], argv: ['sleep', '0.5'], envp: [], cwd: null, cgroupFd: -1, cgroupProcsPaths: [] });
      addon.watcherStart(() => {});
      addon.watch(r.pidfd, 1);
      setTimeout(() => process.exit(0), 20);`);
  });

  it('an exception in the callback reaches uncaughtException, and the other events still arrive', async () => {
    const r = await runNode(`
      const a = ${SPAWN('exit 0')}, b = ${SPAWN('exit 0')};
      process.on('uncaughtException', (e) => console.log('uncaught', e.message));
      addon.watcherStart((token) => {
        const fd = token === 1 ? a.pidfd : b.pidfd;
        addon.waitidPidfd(fd);
        addon.closeFd(fd);
        throw new Error('boom' + token);
      });
      addon.watch(a.pidfd, 1); addon.watch(b.pidfd, 2);`);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n').filter(Boolean).sort()).toEqual(['uncaught boom1', 'uncaught boom2']);
  });

  it('without a handler, an exception in the callback kills the process like any uncaught throw', async () => {
    const r = await runNode(`
      const a = ${SPAWN('exit 0')};
      addon.watcherStart(() => { throw new Error('boom-unhandled'); });
      addon.watch(a.pidfd, 1);`);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('boom-unhandled');
  });

  it('a worker thread loads its own addon instance, watches, and ends; the main thread too', async () => {
    await expectCleanExit(
      `
      const { Worker } = require('worker_threads');
      const code = \`
        const { parentPort } = require('worker_threads');
        const addon = require(\${JSON.stringify(require.resolve('node-gyp-build', { paths: [process.cwd()] }))})(\${JSON.stringify(process.cwd())});
        const r = addon.spawn({ candidates: ['/bin/sh'], argv: ['sh', '-c', 'exit 4'], envp: [], cwd: null, cgroupFd: -1, cgroupProcsPaths: [] });
        addon.watcherStart((t, ev) => {
          const st = addon.waitidPidfd(r.pidfd);
          addon.unwatch(r.pidfd); addon.closeFd(r.pidfd);
          parentPort.postMessage(st.siStatus);
        });
        addon.watch(r.pidfd, 1);\`;
      // main env has its own instance and watcher at the same time
      const m = ${SPAWN('sleep 0.1; exit 6')};
      addon.watcherStart(() => { const st = addon.waitidPidfd(m.pidfd); addon.closeFd(m.pidfd); console.log('main', st.siStatus); });
      addon.watch(m.pidfd, 1);
      const w = new Worker(code, { eval: true });
      w.on('message', (s) => console.log('worker', s));
      w.on('exit', (c) => console.log('worker exit', c));`,
      /worker 4\n/,
    );
  });

  // Not under qemu-user (the arm64 suite): it passed there once and hung past its 60 s once in
  // CI (four workers, each spawning nine processes, terminated with events in flight, all
  // emulated). Whether qemu-user's thread emulation or a teardown race that only such timing
  // shows is to blame is not known yet; on x64 it runs on Node 20, 22 and 24 (npm test and
  // test/node-versions).
  it.skipIf(emulator !== null)('terminating workers with active watches and in-flight events tears down cleanly', async () => {
    await expectCleanExit(
      `
      const { Worker } = require('worker_threads');
      const code = \`
        const { parentPort } = require('worker_threads');
        const addon = require(\${JSON.stringify(require.resolve('node-gyp-build', { paths: [process.cwd()] }))})(\${JSON.stringify(process.cwd())});
        addon.watcherStart(() => {});
        const spawnOne = (s) => addon.spawn({ candidates: ['/bin/sh'], argv: ['sh', '-c', s], envp: [], cwd: null, cgroupFd: -1, cgroupProcsPaths: [] });
        // sleep itself, not sh -c: a grandchild would keep our stdout pipe open after the kill
        const long = addon.spawn({ candidates: ['/bin/sleep'], argv: ['sleep', '5'], envp: [], cwd: null, cgroupFd: -1, cgroupProcsPaths: [] });
        addon.watch(long.pidfd, 0);
        for (let i = 1; i <= 8; i++) addon.watch(spawnOne('exit 0').pidfd, i);
        parentPort.postMessage(long.pid);\`;
      let done = 0;
      const N = 4;
      for (let i = 0; i < N; i++) {
        const w = new Worker(code, { eval: true });
        w.on('message', (pid) => { process.kill(pid, 'SIGKILL'); setTimeout(() => w.terminate(), i % 3); });
        w.on('exit', () => { if (++done === N) console.log('all workers gone'); });
      }`,
      /all workers gone\n/,
      60_000, // emulated VMs need ~30 s for this one
    );
  }, 90_000);
});
