/**
 * Placing a `run` workload: how the child is born inside its leaves (CLONE_INTO_CGROUP into the
 * one v2 leaf, or writing its own PID into every leaf's cgroup.procs before exec), what the child
 * reported back, and where /proc says a process is.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CgroupEnv } from './detect';
import { errnoCode } from './fsutil';
import type { CgroupLedger } from './ledger';
import { readProcCgroup } from './procs';
import type { LeafState } from './types';

export interface RunPlacement {
  /** O_RDONLY|O_DIRECTORY fd of the v2 leaf for clone3(CLONE_INTO_CGROUP), or -1. Close with `close()`. */
  readonly cgroupFd: number;
  /** cgroup.procs files the child writes its PID into before exec. */
  readonly cgroupProcsPaths: readonly string[];
  /** When `cgroupFd` is used and the kernel refuses CLONE_INTO_CGROUP: the procs paths to fall back to. */
  readonly fallbackProcsPaths: readonly string[];
  /** How it will be placed: `clone_into_cgroup`, `cgroup_procs`, or `none` (no usable leaf). */
  readonly how: 'clone_into_cgroup' | 'cgroup_procs' | 'none';
  close(): void;
}

const procsFile = (l: LeafState): string => path.join(l.dir, 'cgroup.procs');

/** run: how the child is born governed. Call `close()` after the spawn. */
export function placementForRun(leaves: readonly LeafState[], ledger: CgroupLedger, opts: { cloneIntoCgroup: boolean }): RunPlacement {
  const usable = leaves.filter((l) => l.usable);
  const procs = usable.map(procsFile);
  if (opts.cloneIntoCgroup && usable.length === 1 && usable[0]!.kind === 'v2') {
    try {
      const fd = fs.openSync(usable[0]!.dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
      let closed = false;
      return {
        cgroupFd: fd,
        cgroupProcsPaths: [],
        fallbackProcsPaths: procs,
        how: 'clone_into_cgroup',
        close: () => {
          if (!closed) {
            closed = true;
            fs.closeSync(fd);
          }
        },
      };
    } catch (e) {
      ledger.warnings.push(`cannot open ${usable[0]!.dir} for CLONE_INTO_CGROUP (${errnoCode(e)}): the child writes cgroup.procs instead`);
    }
  }
  return { cgroupFd: -1, cgroupProcsPaths: procs, fallbackProcsPaths: procs, how: procs.length > 0 ? 'cgroup_procs' : 'none', close: () => undefined };
}

/** Failed `cgroup.procs` writes the child reported (NativeSpawnResult.placementErrors). */
export function notePlacementErrors(leaves: readonly LeafState[], ledger: CgroupLedger, errors: readonly { index: number; errno: number }[], paths: readonly string[]): void {
  for (const e of errors) {
    const file = paths[e.index] ?? '?';
    const leaf = leaves.find((l) => procsFile(l) === file);
    const detail = `the child could not join ${file}: errno ${e.errno}`;
    ledger.trouble(leaf?.governs ?? true, e.errno === 1 || e.errno === 13 ? 'cgroup_permission_denied' : 'cgroup_placement_failed', detail, file);
    if (leaf) leaf.usable = false;
  }
}

/** The path a leaf has in /proc/<pid>/cgroup (relative to its hierarchy's root). */
export function expectedCgroupPath(env: CgroupEnv, leaf: LeafState): string {
  const h = leaf.kind === 'v2' ? env.v2 : env.v1.find((x) => x.mountPoint === leaf.mountPoint);
  const rel = path.relative(leaf.mountPoint, leaf.dir);
  return path.posix.join(h?.mountRoot ?? '/', rel);
}

/** Where /proc/<pid>/cgroup says the process is, in the hierarchy of `leaf`. */
export function currentCgroupPath(entries: ReturnType<typeof readProcCgroup>, leaf: Pick<LeafState, 'kind' | 'controllers'>): string | undefined {
  return leaf.kind === 'v2'
    ? entries?.find((e) => e.hierarchyId === 0 && e.controllers.length === 0)?.path
    : entries?.find((e) => e.hierarchyId !== 0 && leaf.controllers.every((c) => e.controllers.includes(c)))?.path;
}

/**
 * Does /proc/<pid>/cgroup show the job's leaf in each usable hierarchy? Returns the mismatches
 * (empty = all in place).
 */
export function membershipMismatches(env: CgroupEnv, leaves: readonly LeafState[], pid: number): { leaf: LeafState; detail: string }[] {
  const entries = readProcCgroup(pid);
  if (entries === null) return leaves.filter((l) => l.usable).map((leaf) => ({ leaf, detail: `/proc/${pid}/cgroup is gone` }));
  const bad: { leaf: LeafState; detail: string }[] = [];
  for (const leaf of leaves.filter((l) => l.usable)) {
    const want = expectedCgroupPath(env, leaf);
    const have = currentCgroupPath(entries, leaf);
    if (have !== want) {
      bad.push({ leaf, detail: `PID ${pid} is in ${have ?? '(nothing)'} in the ${leaf.kind === 'v2' ? 'v2' : leaf.controllers.join(',')} hierarchy, not ${want}` });
    }
  }
  return bad;
}
