import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it, vi } from 'vitest';

import { SystemError, isNativeErrnoError, isSystemErrorLike, toSystemError } from '../../src/native/errors';
import { loadNative } from '../../src/native/load';
import { native, nativeDisabled, owner } from './helpers';

describe('SystemError', () => {
  it('is shaped like the errors fs throws', () => {
    const e = new SystemError(3, 'pidfd_open');
    expect(e).toBeInstanceOf(Error);
    expect(e.code).toBe('ESRCH');
    expect(e.errno).toBe(-3);
    expect(e.syscall).toBe('pidfd_open');
    expect(e.path).toBeUndefined();
    expect('path' in e).toBe(false);
    expect(e.message).toBe('ESRCH: no such process, pidfd_open');
  });

  it('adds the path the way Node does', () => {
    const e = new SystemError(2, 'execve', '/nope');
    expect(e.message).toBe("ENOENT: no such file or directory, execve '/nope'");
    expect(e.path).toBe('/nope');
  });

  it('matches a real fs error message byte for byte', async () => {
    const { openSync } = await import('node:fs');
    let fsErr: NodeJS.ErrnoException | undefined;
    try {
      openSync('/nonexistent/ffrtmp', 'r');
    } catch (e) {
      fsErr = e as NodeJS.ErrnoException;
    }
    const ours = new SystemError(-fsErr!.errno!, 'open', '/nonexistent/ffrtmp');
    expect(ours.message).toBe(fsErr!.message);
    expect(ours.code).toBe(fsErr!.code);
    expect(ours.errno).toBe(fsErr!.errno);
  });

  it('knows errnos libuv has no name for (ECHILD, ENOEXEC)', () => {
    expect(new SystemError(10, 'waitid').message).toBe('ECHILD: no child processes, waitid');
    expect(new SystemError(8, 'execve', '/x').code).toBe('ENOEXEC');
    expect(new SystemError(4000, 'ioctl').code).toMatch(/^Unknown system error -4000$/);
  });

  it('toSystemError converts native errno data and passes everything else through', () => {
    const raw = Object.assign(new Error('chdir'), { errno: 2, syscall: 'chdir', path: '/d' });
    expect(isNativeErrnoError(raw)).toBe(true);
    const e = toSystemError(raw) as SystemError;
    expect(e).toBeInstanceOf(SystemError);
    expect(e.message).toBe("ENOENT: no such file or directory, chdir '/d'");
    const t = new TypeError('Usage: x');
    expect(toSystemError(t)).toBe(t);
    expect(toSystemError(e)).toBe(e);
    expect(isNativeErrnoError(e)).toBe(false);
    expect(isSystemErrorLike(e)).toBe(true);
    expect(toSystemError('str')).toBe('str');
  });
});

describe('loadNative', () => {
  const saved = { force: process.env.FFRTMP_FORCE_NO_NATIVE, prebuild: process.env.FFRTMP_PREBUILD };
  afterEach(() => {
    if (saved.force === undefined) delete process.env.FFRTMP_FORCE_NO_NATIVE;
    else process.env.FFRTMP_FORCE_NO_NATIVE = saved.force;
    if (saved.prebuild === undefined) delete process.env.FFRTMP_PREBUILD;
    else process.env.FFRTMP_PREBUILD = saved.prebuild;
    vi.resetModules();
  });

  async function freshLoad() {
    delete process.env.FFRTMP_FORCE_NO_NATIVE;
    vi.resetModules();
    return (await import('../../src/native/load')).loadNative();
  }

  // node-gyp-build's <PKG>_PREBUILD variable redirects where it looks for the build.
  it("reports node-gyp-build's 'No native build was found' as unavailable", async () => {
    process.env.FFRTMP_PREBUILD = join(tmpdir(), 'ffrtmp-no-such-dir');
    const r = await freshLoad();
    expect(r.available).toBe(false);
    if (!r.available) expect(r.reason).toMatch(/^No native build was found for platform=linux .*\n\s+loaded from: /);
  });

  it('reports a dlopen failure as unavailable, with the loader message', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ffrtmp-bad-build-'));
    try {
      mkdirSync(join(dir, 'build', 'Release'), { recursive: true });
      writeFileSync(join(dir, 'build', 'Release', 'ffrtmp.node'), 'not an ELF file');
      process.env.FFRTMP_PREBUILD = dir;
      const r = await freshLoad();
      expect(r.available).toBe(false);
      if (!r.available) expect(r.reason).toMatch(/ffrtmp\.node/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('FFRTMP_FORCE_NO_NATIVE=1 reports unavailable without loading', async () => {
    process.env.FFRTMP_FORCE_NO_NATIVE = '1';
    vi.resetModules();
    const fresh = await import('../../src/native/load');
    const r = fresh.loadNative();
    expect(r).toEqual({ available: false, reason: 'disabled by FFRTMP_FORCE_NO_NATIVE' });
    expect(fresh.loadNative()).toBe(r); // memoised
  });

  it.skipIf(nativeDisabled)('loads the local build with every function of the contract', () => {
    const r = loadNative();
    expect(r.available).toBe(true);
    expect(loadNative()).toBe(r);
    const b = native();
    expect(Object.keys(b).sort()).toEqual(
      [
        'capabilities',
        'closeFd',
        'getxattr',
        'keeperGo',
        'pidfdGetExitInfo',
        'pidfdOpen',
        'procEventsClose',
        'procEventsOpen',
        'procEventsSetTargets',
        'procEventsStats',
        'spawn',
        'unwatch',
        'waitidPidfd',
        'watch',
        'watchCount',
        'watcherStart',
      ].sort(),
    );
  });
});

describe.skipIf(nativeDisabled)('native basics', () => {
  it('pidfdOpen on a live pid gives a CLOEXEC fd', async () => {
    const b = native();
    const fd = b.pidfdOpen(process.pid);
    expect(fd).toBeGreaterThan(2);
    const { readFileSync } = await import('node:fs');
    const flags = parseInt(/flags:\s*(\d+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1], 8);
    expect(flags & 0o2000000).toBe(0o2000000); // O_CLOEXEC
    b.closeFd(fd);
  });

  it('pidfdOpen on a dead pid throws ESRCH as data, which maps to a SystemError', () => {
    const b = native();
    let raw: unknown;
    try {
      b.pidfdOpen(4194304 - 1); // above any pid_max we run with
    } catch (e) {
      raw = e;
    }
    expect(raw).toMatchObject({ errno: 3, syscall: 'pidfd_open', message: 'pidfd_open' });
    expect((raw as object).hasOwnProperty('path')).toBe(false);
    const e = toSystemError(raw) as SystemError;
    expect(e).toBeInstanceOf(SystemError);
    expect({ code: e.code, errno: e.errno, syscall: e.syscall, message: e.message }).toEqual({
      code: 'ESRCH',
      errno: -3,
      syscall: 'pidfd_open',
      message: 'ESRCH: no such process, pidfd_open',
    });
  });

  it('through the owner (src/native/native.ts) every syscall failure already is a SystemError', () => {
    const o = owner();
    let err: unknown;
    try {
      o.pidfdOpen(4194304 - 1);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SystemError);
    expect(err).toMatchObject({ code: 'ESRCH', errno: -3, syscall: 'pidfd_open' });
    expect(Object.keys(o).sort()).toEqual(
      [
        'capabilities', 'closeFd', 'ensureWatcher', 'getxattr', 'keeperGo', 'pidfdGetExitInfo', 'pidfdOpen', 'procEventsClose', 'procEventsOpen',
        'procEventsSetTargets', 'procEventsStats', 'spawn', 'subscribe', 'waitidPidfd', 'watchCount',
      ].sort(),
    );
  });

  it('checks argument types only, with Usage: TypeErrors', () => {
    const b = native();
    expect(() => (b.pidfdOpen as (x: unknown) => number)('1')).toThrow(/^Usage: pidfdOpen/);
    expect(() => (b.watch as (...a: unknown[]) => void)(3)).toThrow(TypeError);
    expect(() => b.watch(3, 2 ** 32)).toThrow(/^Usage: watch/);
    expect(() => (b.spawn as (x: unknown) => void)({ candidates: [] })).toThrow(/^Usage: spawn/);
    expect(() => b.spawn({ candidates: ['/bin/true'], argv: ['a\0b'], envp: [], cwd: null, cgroupFd: -1, cgroupProcsPaths: [] })).toThrow(
      /^Usage: spawn/,
    );
  });

  it('capabilities() reports the running kernel', async () => {
    const { release } = await import('node:os');
    const c = native().capabilities();
    expect(c.kernelRelease).toBe(release());
    expect(c.pidfdOpen).toBe(true);
    expect(c.clone3).toBe(true);
    expect(typeof c.pidfdGetInfo).toBe('boolean');
    expect(typeof c.pidfdInfoExit).toBe('boolean');
    expect(native().capabilities()).toEqual(c);
  });
});
