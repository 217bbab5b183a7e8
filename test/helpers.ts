import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

export const ROOT = join(__dirname, '..');
/** The built CLI: tests run what users run (`npm test` builds first). */
export const CLI = join(ROOT, 'dist', 'cli', 'main.js');

/**
 * A fresh temp directory `ffrtmp-<prefix>-XXXXXX`. The global setup points TMPDIR at a private
 * directory of the test run, and the global teardown FAILS the run if anything is left in it:
 * whoever makes a temp dir removes it (afterAll / finally).
 */
export function testTempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `ffrtmp-${prefix}-`));
}

/**
 * Every CLI run in the tests journals into a private state dir (not the machine's
 * /var/lib/ffrtmp), removed after the test file. Tests that care pass their own.
 */
export const TEST_STATE_DIR = testTempDir('test-state');
afterAll(() => rmSync(TEST_STATE_DIR, { recursive: true, force: true }));
const BASE_ENV = { FFRTMP_STATE_DIR: TEST_STATE_DIR };

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the built `ffrtmp` with args; resolves when it exits (killed after `timeoutMs`). */
export function ffrtmp(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, ...BASE_ENV, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.stdin.end(opts.input ?? '');
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 20_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/**
 * Closes the jobs a test left open on purpose (a detached or killed wrapper, after the test ended
 * the workload): `ffrtmp recover` records each one's end and removes its cgroup leaves, as an
 * operator would. Returns the recover run, for tests that look at it.
 */
export async function recoverJobs(stateDir: string = TEST_STATE_DIR, env?: NodeJS.ProcessEnv): Promise<CliRun> {
  const r = await ffrtmp(['recover', '--state-dir', stateDir], { env, timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`ffrtmp recover exited ${r.code}: ${r.stderr}`);
  return r;
}

/** Starts the built `ffrtmp` without waiting (for signal and crash tests). */
export function startFfrtmp(args: string[], env?: NodeJS.ProcessEnv): ChildProcess & { output(): { stdout: string; stderr: string } } {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...BASE_ENV, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => (stdout += d));
  child.stderr?.on('data', (d) => (stderr += d));
  return Object.assign(child, { output: () => ({ stdout, stderr }) });
}

export function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

export async function waitFor<T>(probe: () => T | undefined | null | false, timeoutMs = 10_000, stepMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`waitFor: timed out after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** The direct children of a process (all its threads), from /proc. */
export function childrenOf(pid: number): number[] {
  try {
    const { readdirSync } = require('node:fs') as typeof import('node:fs');
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
      readFileSync(`/proc/${pid}/task/${tid}/children`, 'latin1').trim().split(/\s+/).filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}

function commOf(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'latin1').trim();
  } catch {
    return null;
  }
}

/** The first direct child whose comm is `name` (the wrapper may briefly have other children, e.g. its capability probe). */
export function childNamed(pid: number, name: string): number | undefined {
  return childrenOf(pid).find((c) => commOf(c) === name);
}

/** The wrapper's `ffrtmp-keeper` child, if it started its workload under one. */
export function keeperOf(wrapperPid: number): number | undefined {
  return childNamed(wrapperPid, 'ffrtmp-keeper');
}

/**
 * A `run` wrapper's workload named `name`: its direct child (no keeper: `--no-keeper`, polling),
 * or the child of its keeper.
 */
export function workloadNamed(wrapperPid: number, name: string): number | undefined {
  const keeper = keeperOf(wrapperPid);
  return keeper !== undefined ? childNamed(keeper, name) : childNamed(wrapperPid, name);
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/\) [ZX] /.test(readFileSync(`/proc/${pid}/stat`, 'latin1'));
  } catch {
    return false; // gone (and reaped) between the two looks
  }
}

export function sessionOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]);
}

/** Test cleanup only: the test, not the wrapper, ends what it started. */
export function killQuietly(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}

export function parseJsonLines(text: string): Record<string, unknown>[] {
  return text.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** The summary line, with a named group per field. */
export const SUMMARY_LINE =
  /^JOB (?<job>\S+) \| (?:intent=(?<intent>\S+) \| )?sla=(?<sla>COMPLIANT|VIOLATION) \| reason=(?<reason>[a-z_]+) \| runtime=(?<runtime>\d+)s \| exit=(?<exit>-?\d+|SIG[A-Z0-9]+|unknown) \| pid=(?<pid>\d+|unknown)$/m;

export interface SummaryFields {
  job: string;
  intent?: string;
  sla: 'COMPLIANT' | 'VIOLATION';
  reason: string;
  runtime: string;
  exit: string;
  pid: string;
}

/** Every summary line in `text`, by field name (assertions never count regex groups). */
export function summaries(text: string): SummaryFields[] {
  return text.split('\n').flatMap((line) => {
    const g = SUMMARY_LINE.exec(line)?.groups;
    if (!g) return [];
    const { intent, ...rest } = g as unknown as SummaryFields;
    return [intent === undefined ? rest : { ...rest, intent }];
  });
}

/** The first summary line in `text` (throws when there is none). */
export function summary(text: string): SummaryFields {
  const s = summaries(text)[0];
  if (!s) throw new Error(`no summary line in:\n${text}`);
  return s;
}

/** True once the process has a handler for `signo` (its SigCgt mask): the wrapper is ready to detach. */
export function catches(pid: number, signo: number): boolean {
  try {
    // Before exec the child is a copy of the test runner, which has its own handlers.
    if (!readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes(CLI)) return false;
    const m = /^SigCgt:\s*([0-9a-f]+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return m !== null && (BigInt(`0x${m[1]}`) & (1n << BigInt(signo - 1))) !== 0n;
  } catch {
    return false;
  }
}

/**
 * Resolves once a wrapper has written the `started` record of `pid` to the test journal: it is
 * attached and waiting (the same for both observer backends). Use it before making a target exit,
 * so a slow wrapper start cannot turn into "process does not exist".
 */
export function waitStarted(pid: number, timeoutMs = 60_000): Promise<true> {
  const file = join(TEST_STATE_DIR, 'journal.jsonl');
  return waitFor(() => {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return false;
    }
    return text.split('\n').some((l) => l.startsWith('{"type":"started"') && l.includes(`"pid":${pid},`)) || false;
  }, timeoutMs);
}

/** A TCP port free on 127.0.0.1 right now (for servers a test starts: nginx, Prometheus). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** afterEach of suites that start ffrtmp processes: stop the ones still running (SIGTERM: they detach) and wait for them. */
export async function stopAll(children: ChildProcess[], signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  for (const c of children.splice(0)) {
    if (c.exitCode === null && c.signalCode === null) {
      c.kill(signal);
      await exited(c);
    }
  }
}
