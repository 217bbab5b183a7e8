/**
 * Helpers for the real-cgroup tests: a private test root in every hierarchy, thorough
 * cleanup (only of what the tests created), and plain-JS copies of the library for child
 * processes that run in another mount namespace or as another user.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { detectCgroups, type CgroupEnv } from '../../src/cgroup/detect';

export const isRoot = process.geteuid?.() === 0;

/**
 * A fresh relative root name: `ffrtmp-test-<run tag>-<hex>`. The run tag (set by the global
 * setup) lets the global teardown find every suite root of this run, and only of this run.
 */
export function testRootName(): string {
  return `ffrtmp-test-${process.env.FFRTMP_TEST_RUN_TAG ?? 'norun'}-${randomBytes(4).toString('hex')}`;
}

/** The v1 hierarchies (or v2 mount) present here, for tests that need the real thing. */
export function hostEnv(): CgroupEnv {
  return detectCgroups();
}

/** `--cgroup-root` pointing at `rel` in the first hierarchy that holds `memory` (v1) or the v2 mount. */
export function rootFlagFor(env: CgroupEnv, rel: string): string {
  const mem = env.v1.find((h) => h.controllers.includes('memory'));
  if (mem) return path.join(mem.mountPoint, rel);
  if (env.v2) return path.join(env.v2.mountPoint, rel);
  throw new Error('no cgroup mount');
}

/** Every directory `rel` may exist as (one per hierarchy). */
export function dirsOf(env: CgroupEnv, rel: string): string[] {
  return [...env.v1.map((h) => path.join(h.mountPoint, rel)), ...(env.v2 ? [path.join(env.v2.mountPoint, rel)] : [])];
}

/** Kill what is inside our test dirs (only our own test processes can be there) and remove them, deepest first. */
export async function cleanupRoot(env: CgroupEnv, rel: string): Promise<string[]> {
  const leftovers: string[] = [];
  for (const top of dirsOf(env, rel)) {
    if (!fs.existsSync(top)) continue;
    const dirs: string[] = [];
    const walk = (d: string): void => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(path.join(d, e.name));
      dirs.push(d);
    };
    walk(top);
    for (const d of dirs) {
      for (let i = 0; i < 50; i++) {
        const pids = fs.readFileSync(path.join(d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
        for (const p of pids) {
          try {
            process.kill(p, 'SIGKILL');
          } catch {
            /* gone */
          }
        }
        try {
          fs.rmdirSync(d);
          break;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOENT') break;
          if (i === 49) leftovers.push(d);
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    }
  }
  return leftovers;
}

/** True when no directory named `rel` exists in any hierarchy. */
export function nothingUnder(env: CgroupEnv, rel: string): boolean {
  return dirsOf(env, rel).every((d) => !fs.existsSync(d));
}

/**
 * Runs `script` (JS that prints one JSON document) with `node`, optionally wrapped
 * (`unshare -m sh -c '<setup>; exec node ...'`). Returns the parsed JSON.
 */
export function runChild(argvPrefix: string[], script: string, env: NodeJS.ProcessEnv = {}): { json: unknown; status: number | null; stderr: string } {
  const file = path.join(os.tmpdir(), `ffrtmp-cg-child-${randomBytes(4).toString('hex')}.js`);
  fs.writeFileSync(file, script, { mode: 0o644 });
  try {
    const argv = [...argvPrefix, process.execPath, file];
    const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 20_000, env: { ...process.env, ...env } });
    let json: unknown = null;
    try {
      json = JSON.parse(r.stdout);
    } catch {
      json = null;
    }
    return { json, status: r.status, stderr: r.stderr + (json === null ? `\nstdout: ${r.stdout}` : '') };
  } finally {
    fs.rmSync(file, { force: true });
  }
}

/** All descendants of a process (children, grandchildren ...) from /proc/<pid>/task/<tid>/children. */
export function descendants(pid: number): number[] {
  const out: number[] = [];
  const visit = (p: number): void => {
    let tids: string[] = [];
    try {
      tids = fs.readdirSync(`/proc/${p}/task`);
    } catch {
      return;
    }
    for (const t of tids) {
      let kids: number[] = [];
      try {
        kids = fs.readFileSync(`/proc/${p}/task/${t}/children`, 'latin1').trim().split(/\s+/).filter(Boolean).map(Number);
      } catch {
        /* gone */
      }
      for (const k of kids) {
        out.push(k);
        visit(k);
      }
    }
  };
  visit(pid);
  return out;
}

export function sleepMs(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * afterEach of the real-cgroup suites: SIGKILL what a test started (the whole process group of
 * a native spawn, which is its own session) and remove the job cgroups it created.
 */
export async function endTestProcessesAndJobs(
  started: { pid?: number; kill?: (s: NodeJS.Signals) => boolean; watch?: unknown }[],
  jobs: { remove(o: { attempts: number; delayMs: number }): Promise<unknown> }[],
): Promise<void> {
  for (const c of started.splice(0)) {
    try {
      if ('watch' in c) process.kill(-(c.pid as number), 'SIGKILL');
      else c.kill?.('SIGKILL');
    } catch {
      /* gone */
    }
  }
  for (const j of jobs.splice(0)) await j.remove({ attempts: 50, delayMs: 50 });
}
