/**
 * ffrtmp-keeper (native/keeper.c) through the addon's spawn, on real processes: what it is (its
 * command line, session, fds, signals), what it gives the workload (a clean start, the same PATH
 * search), and what it writes (the exit file) -- and that it never stands in the workload's way.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import type { NativeSpawnRequest, NativeSpawnResult } from '../../src/native/binding';
import { toSystemError, type SystemError } from '../../src/native/errors';
import { locateKeeper } from '../../src/native/keeper-path';
import { commandCandidates } from '../../src/observer/command-path';
import { readExitFile } from '../../src/observer/keeper';
import { CLD_EXITED, EPOLLIN, cmdline, emulator, native, nativeDisabled, ourChildren, procStat, procStatus, sleepMs, watchFd } from './helpers';

const tmp = mkdtempSync(join(tmpdir(), 'ffrtmp-keeper-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const location = locateKeeper();
const KEEPER = location.available ? location.path : '/nonexistent/ffrtmp-keeper';
let n = 0;
const exitFileName = () => join(tmp, `exit-${++n}.json`);

function request(argv: string[], opts: { env?: Record<string, string>; exitFile?: string; jobId?: string; keeperPath?: string } = {}): NativeSpawnRequest {
  const env = opts.env ?? { PATH: '/usr/bin:/bin' };
  return {
    candidates: commandCandidates(argv[0]!, env),
    argv,
    envp: Object.entries(env).map(([k, v]) => `${k}=${v}`),
    cwd: null,
    cgroupFd: -1,
    cgroupProcsPaths: [],
    keeper: { path: opts.keeperPath ?? KEEPER, jobId: opts.jobId ?? 'keeper-test', exitFile: opts.exitFile ?? exitFileName() },
  };
}

/** Waits for the keeper (our child) to exit and reaps it; returns its own exit code. */
async function keeperExit(r: NativeSpawnResult): Promise<number> {
  const b = native();
  const w = watchFd(r.keeperPidfd);
  try {
    await w.next(EPOLLIN, 15_000);
  } finally {
    w.stop();
  }
  const s = b.waitidPidfd(r.keeperPidfd)!;
  b.closeFd(r.keeperPidfd);
  if (r.pidfd >= 0) b.closeFd(r.pidfd);
  expect(s.siCode).toBe(CLD_EXITED);
  return s.siStatus;
}

/** spawn + keeperGo: the workload runs (or its exec error is thrown). */
function spawnKept(req: NativeSpawnRequest): NativeSpawnResult {
  const b = native();
  const r = b.spawn(req);
  if (r.controlFd >= 0) {
    try {
      b.keeperGo(r.controlFd, r.keeperPidfd, req.candidates, true);
    } catch (err) {
      b.closeFd(r.keeperPidfd);
      if (r.pidfd >= 0) b.closeFd(r.pidfd);
      throw err;
    }
  }
  return r;
}

function spawnError(req: NativeSpawnRequest): SystemError {
  try {
    const r = spawnKept(req);
    throw new Error(`spawn did not fail (pid ${r.pid})`);
  } catch (raw) {
    return toSystemError(raw) as SystemError;
  }
}

const sigMask = (pid: number, field: 'SigIgn' | 'SigBlk' | 'SigCgt') => BigInt(`0x${procStatus(pid)[field]}`);
const bit = (signo: number) => 1n << BigInt(signo - 1);

describe.skipIf(nativeDisabled)('ffrtmp-keeper', () => {
  it('is built beside the addon, answers --version, and refuses to run when not started by ffrtmp', () => {
    expect(location, JSON.stringify(location)).toMatchObject({ available: true });
    const v = spawnSync(KEEPER, ['--version'], { encoding: 'utf8' });
    expect(v.status).toBe(0);
    expect(v.stderr).toBe('ffrtmp-keeper protocol 1\n');
    const here = mkdtempSync(join(tmp, 'by-hand-'));
    const byHand = spawnSync(KEEPER, ['job', '--', 'touch', 'ran'], { encoding: 'utf8', cwd: here });
    expect(byHand.status).toBe(64);
    expect(byHand.stderr.trim().split('\n')).toHaveLength(1);
    expect(byHand.stderr).toMatch(/^ffrtmp-keeper: started by `ffrtmp run` only/);
    expect(readdirSync(here)).toEqual([]); // it started nothing and created nothing
  });

  it('is the workload\'s parent and session leader, shows as `ffrtmp-keeper <job-id> -- <command>`, holds only /dev/null, ignores the signals that would end it', async () => {
    const r = spawnKept(request(['sleep', '30'], { jobId: 'cam-7' }));
    try {
      expect(r.keeperPid).toBeGreaterThan(0);
      expect(r.pid).not.toBe(r.keeperPid);
      expect(cmdline(r.keeperPid)).toEqual(['ffrtmp-keeper', 'cam-7', '--', 'sleep', '30']);
      expect(readFileSync(`/proc/${r.keeperPid}/comm`, 'utf8').trim()).toBe('ffrtmp-keeper');
      expect(cmdline(r.pid)).toEqual(['sleep', '30']);
      const k = procStat(r.keeperPid)!;
      const w = procStat(r.pid)!;
      expect(k[1]).toBe(String(process.pid)); // ppid: the keeper is our child ...
      expect(w[1]).toBe(String(r.keeperPid)); // ... and the workload's parent
      expect([k[2], k[3]]).toEqual([String(r.keeperPid), String(r.keeperPid)]); // its own process group and session
      expect([w[2], w[3]]).toEqual([String(r.keeperPid), String(r.keeperPid)]); // the workload in them
      expect(procStat(process.pid)![3]).not.toBe(k[3]);
      // the workload's pidfd came over the socket (SCM_RIGHTS), close-on-exec
      expect(/Pid:\s*(\d+)/.exec(readFileSync(`/proc/self/fdinfo/${r.pidfd}`, 'utf8'))![1]).toBe(String(r.pid));
      expect(parseInt(/flags:\s*(\d+)/.exec(readFileSync(`/proc/self/fdinfo/${r.pidfd}`, 'utf8'))![1]!, 8) & 0o2000000).toBe(0o2000000);

      // Once the workload runs, the keeper holds nothing of anyone's: /dev/null on 0-2, cwd /.
      const deadline = Date.now() + 5000;
      while (readlinkSync(`/proc/${r.keeperPid}/fd/0`) !== '/dev/null' && Date.now() < deadline) await sleepMs(5);
      const fds = readdirSync(`/proc/${r.keeperPid}/fd`).map((fd) => [fd, readlinkSync(`/proc/${r.keeperPid}/fd/${fd}`)]);
      expect(fds).toEqual([['0', '/dev/null'], ['1', '/dev/null'], ['2', '/dev/null']]);
      expect(readlinkSync(`/proc/${r.keeperPid}/cwd`)).toBe('/');
      // The workload keeps what it was given: the wrapper's stdio, 0-2 only.
      expect(readdirSync(`/proc/${r.pid}/fd`).sort()).toEqual(['0', '1', '2']);

      // Signals: the keeper ignores every one that would stop or end it, except SIGCHLD (which it
      // needs) and synchronous faults; the workload gets the default dispositions and no mask.
      for (const s of [1, 2, 3, 10, 12, 13, 14, 15, 20, 21, 22]) expect(sigMask(r.keeperPid, 'SigIgn') & bit(s)).toBe(bit(s));
      for (const s of [11, 17]) expect(sigMask(r.keeperPid, 'SigIgn') & bit(s)).toBe(0n);
      // no handler at all (under qemu-user the kernel sees the emulator's own handlers instead)
      if (emulator === null) expect(sigMask(r.keeperPid, 'SigCgt')).toBe(0n);
      expect([sigMask(r.pid, 'SigIgn'), sigMask(r.pid, 'SigBlk'), sigMask(r.pid, 'SigCgt')]).toEqual([0n, 0n, 0n]);
      for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGPIPE'] as const) process.kill(r.keeperPid, s);
      await sleepMs(100);
      expect(procStat(r.keeperPid)![0]).toMatch(/[SR]/);
      expect(procStat(r.pid)![0]).toMatch(/[SR]/);
    } finally {
      process.kill(r.pid, 'SIGKILL');
    }
    expect(await keeperExit(r)).toBe(0);
  });

  it('gives the workload a clean environment (its own, without the keeper\'s variables) and the oom_score_adj it had', async () => {
    const out = join(tmp, 'env.txt');
    const r = spawnKept(request(['sh', '-c', `cat /proc/self/oom_score_adj > ${out}.oom; env > ${out}`], { env: { PATH: '/usr/bin:/bin', MARK: 'x y' } }));
    expect(await keeperExit(r)).toBe(0);
    const env = readFileSync(out, 'utf8');
    expect(env).toMatch(/^MARK=x y$/m);
    expect(env).not.toMatch(/FFRTMP_KEEPER/);
    expect(readFileSync(`${out}.oom`, 'utf8').trim()).toBe(readFileSync('/proc/self/oom_score_adj', 'utf8').trim());
  });

  it('lowers its own oom_score_adj as far as it may, never the workload\'s', async () => {
    // Whether this process may lower its oom_score_adj (CAP_SYS_RESOURCE) decides what the keeper can.
    const mine = readFileSync('/proc/self/oom_score_adj', 'utf8').trim();
    const probe = spawnSync('sh', ['-c', 'echo -1000 > /proc/self/oom_score_adj && cat /proc/self/oom_score_adj'], { encoding: 'utf8' });
    const mayLower = probe.status === 0 && probe.stdout.trim() === '-1000';
    const r = spawnKept(request(['sleep', '30']));
    try {
      expect(readFileSync(`/proc/${r.keeperPid}/oom_score_adj`, 'utf8').trim()).toBe(mayLower ? '-1000' : mine);
      expect(readFileSync(`/proc/${r.pid}/oom_score_adj`, 'utf8').trim()).toBe(mine);
    } finally {
      process.kill(r.pid, 'SIGKILL');
    }
    expect(await keeperExit(r)).toBe(0);
  });

  it('holds the workload before its exec until go: it runs nothing of its own before the job is recorded, and never without a go', async () => {
    const b = native();
    const marker = join(tmp, 'held');
    const req = request(['sh', '-c', `touch ${marker}`]);
    const r = b.spawn(req);
    await sleepMs(150);
    // the held process is a copy of the keeper, not yet the workload
    expect(cmdline(r.pid)[0]).toBe('ffrtmp-keeper');
    expect(existsSync(marker)).toBe(false);
    b.keeperGo(r.controlFd, r.keeperPidfd, req.candidates, true);
    expect(await keeperExit(r)).toBe(0);
    expect(existsSync(marker)).toBe(true);

    // no go (the wrapper died before recording the job): nothing starts, and the exit file says so
    const never = join(tmp, 'never');
    const req2 = request(['sh', '-c', `touch ${never}`]);
    const r2 = b.spawn(req2);
    const before = ourChildren();
    b.keeperGo(r2.controlFd, r2.keeperPidfd, req2.candidates, false); // closes the socket, reaps the keeper
    b.closeFd(r2.keeperPidfd);
    b.closeFd(r2.pidfd);
    expect(ourChildren()).toEqual(before.filter((p) => p !== r2.keeperPid));
    await sleepMs(100);
    expect(existsSync(never)).toBe(false);
    const read = readExitFile(req2.keeper!.exitFile, { pid: r2.pid, keeperPid: r2.keeperPid });
    expect(read).toMatchObject({ ok: true, started: false, status: { exit_code: null, signal: null, exit_source: 'unknown' } });
    expect(procStat(r2.pid)).toBeNull(); // the held process is gone too (reaped by its keeper)
  });

  it('writes the exit file durably when the workload ends: code, end time and rusage; no temp file left', async () => {
    const exitFile = exitFileName();
    const before = Date.now();
    // a little CPU, then exit 5
    const r = spawnKept(request(['sh', '-c', 'i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done; exit 5'], { jobId: 'j:5@x+y', exitFile }));
    expect(await keeperExit(r)).toBe(0);
    const after = Date.now();
    const read = readExitFile(exitFile, { pid: r.pid, keeperPid: r.keeperPid });
    expect(read.ok, JSON.stringify(read)).toBe(true);
    if (!read.ok) return;
    expect(read.status).toEqual({ exit_code: 5, signal: null, exit_source: 'keeper' });
    expect(read.file).toMatchObject({ v: 1, job_id: 'j:5@x+y', pid: r.pid, keeper_pid: r.keeperPid, exit_code: 5, signal: null, core_dumped: false });
    expect(read.endedAtMs).toBeGreaterThanOrEqual(before);
    expect(read.endedAtMs).toBeLessThanOrEqual(after);
    expect(read.file.utime_us + read.file.stime_us).toBeGreaterThan(0);
    expect(read.file.maxrss_kb).toBeGreaterThan(0);
    expect(readFileSync(exitFile, 'utf8')).toMatch(/^\{"v":1,.*\}\n$/);
    expect(existsSync(`${exitFile}.tmp`)).toBe(false);
    // a file about another process never decides this one
    expect(readExitFile(exitFile, { pid: r.pid + 1 })).toMatchObject({ ok: false, missing: false });
  });

  it('records a death by signal as the signal', async () => {
    const exitFile = exitFileName();
    const r = spawnKept(request(['sleep', '30'], { exitFile }));
    process.kill(r.pid, 'SIGTERM');
    expect(await keeperExit(r)).toBe(0);
    const read = readExitFile(exitFile, { pid: r.pid, keeperPid: r.keeperPid });
    expect(read).toMatchObject({ ok: true, status: { exit_code: null, signal: 'SIGTERM', exit_source: 'keeper' } });
  });

  it('a keeper that cannot write its exit file exits 74, and the workload was not disturbed', async () => {
    const marker = join(tmp, 'ran-to-its-end');
    const r = spawnKept(request(['sh', '-c', `sleep 0.1; touch ${marker}; exit 3`], { exitFile: join(tmp, 'no-such-dir', 'x.json') }));
    expect(await keeperExit(r)).toBe(74);
    expect(existsSync(marker)).toBe(true);
    expect(existsSync(join(tmp, 'no-such-dir'))).toBe(false);
  });

  describe('exec failures come back as they do without a keeper: same errno, same candidate path, nothing left behind', () => {
    const bin = join(tmp, 'bin');
    const noexec = join(bin, 'noexec-tool');
    const other = join(tmp, 'other');
    mkdirSync(bin, { recursive: true });
    mkdirSync(other, { recursive: true });
    writeFileSync(noexec, '#!/bin/sh\nexit 0\n');
    chmodSync(noexec, 0o644);
    writeFileSync(join(other, 'garbage'), 'not an executable format\n');
    chmodSync(join(other, 'garbage'), 0o755);
    const cases: Array<[string, string[], Record<string, string>]> = [
      ['not found anywhere on PATH', ['no-such-command-xyz'], { PATH: '/usr/bin:/bin' }],
      ['PATH with an empty entry and .. in it', ['no-such-command-xyz'], { PATH: `${bin}/../bin::/bin` }],
      ['not executable (EACCES is remembered, then reported)', ['noexec-tool'], { PATH: `${bin}:/usr/bin` }],
      ['a path with a slash', [join(bin, 'missing')], { PATH: '/bin' }],
      ['ENOEXEC stops the search', ['garbage'], { PATH: `${other}:${bin}` }],
      ['PATH unset: /bin:/usr/bin', ['no-such-command-xyz'], {}],
    ];
    it.each(cases)('%s', (_name, argv, env) => {
      const before = ourChildren();
      const direct = spawnError({ ...request(argv, { env }), keeper: null });
      const exitFile = exitFileName();
      const kept = spawnError(request(argv, { env, exitFile }));
      expect({ code: kept.code, syscall: kept.syscall, path: kept.path }).toEqual({ code: direct.code, syscall: 'execve', path: direct.path });
      expect(existsSync(exitFile)).toBe(false); // no workload ran: no exit file
      expect(ourChildren()).toEqual(before); // keeper and workload reaped
    });
  });

  it('a keeper path that cannot be executed is an execve error naming the keeper (the caller then starts the workload directly)', () => {
    const e = spawnError(request(['true'], { keeperPath: join(tmp, 'no-keeper-here') }));
    expect({ code: e.code, syscall: e.syscall, path: e.path }).toEqual({ code: 'ENOENT', syscall: 'execve', path: join(tmp, 'no-keeper-here') });
  });

  it('a keeper given a job id it cannot write safely refuses before it starts anything', () => {
    const exitFile = exitFileName();
    const before = ourChildren();
    const e = spawnError(request(['true'], { jobId: 'a"b', exitFile }));
    expect({ code: e.code, syscall: e.syscall, path: e.path }).toEqual({ code: 'EINVAL', syscall: 'keeper', path: KEEPER });
    expect(existsSync(exitFile)).toBe(false);
    expect(ourChildren()).toEqual(before);
  });
});
