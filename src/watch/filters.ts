/**
 * The filters of `ffrtmp watch` (the original's, with its bugs fixed): users and uids allowed /
 * blocked, parents, min / max runtime, working directories by PREFIX (on whole path components).
 * A command's own filters are checked first, then the global ones: both must pass.
 *
 * Pure: the caller gives what it read of the process. A process too young for `min_runtime` is
 * not rejected: the verdict says when to look again.
 */
import { statSync, readFileSync } from 'node:fs';
import type { WatchFilters } from './types';

export interface FilterSubject {
  readonly uid: number;
  /** The user name of `uid`, or null when /etc/passwd has none. */
  readonly user: string | null;
  readonly ppid: number;
  readonly ageMs: number;
  readonly cwd: string | null;
}

export type Verdict =
  | { readonly pass: true }
  /** Failed a filter: `why` names it (logged once, at debug level). */
  | { readonly pass: false; readonly why: string }
  /** Too young: look again in `retryInMs`. */
  | { readonly pass: 'later'; readonly retryInMs: number; readonly why: string };

/** `dir` is `prefix` or below it (`/tmp` covers `/tmp` and `/tmp/x`, not `/tmpx`). */
export function underDir(dir: string, prefix: string): boolean {
  if (prefix === '/') return dir.startsWith('/');
  return dir === prefix || dir.startsWith(`${prefix}/`);
}

function check(f: WatchFilters, s: FilterSubject, where: string): Verdict {
  const no = (why: string): Verdict => ({ pass: false, why: `${where}${why}` });
  if (f.blockedUids?.includes(s.uid)) return no(`blocked_uids has uid ${s.uid}`);
  if (f.allowedUids !== undefined && !f.allowedUids.includes(s.uid)) return no(`uid ${s.uid} is not in allowed_uids`);
  if (f.blockedUsers !== undefined && s.user !== null && f.blockedUsers.includes(s.user)) return no(`blocked_users has ${s.user}`);
  if (f.allowedUsers !== undefined && (s.user === null || !f.allowedUsers.includes(s.user))) return no(`user ${s.user ?? `uid ${s.uid}`} is not in allowed_users`);
  if (f.blockedParents?.includes(s.ppid)) return no(`blocked_parents has its parent ${s.ppid}`);
  if (f.allowedParents !== undefined && !f.allowedParents.includes(s.ppid)) return no(`its parent ${s.ppid} is not in allowed_parents`);
  if (f.blockedDirs !== undefined && s.cwd !== null) {
    const d = f.blockedDirs.find((p) => underDir(s.cwd!, p));
    if (d !== undefined) return no(`its working directory ${s.cwd} is under blocked_dirs ${d}`);
  }
  if (f.allowedDirs !== undefined && (s.cwd === null || !f.allowedDirs.some((p) => underDir(s.cwd!, p)))) {
    return no(`its working directory ${s.cwd ?? '(unreadable)'} is not under allowed_dirs`);
  }
  if (f.maxRuntimeMs !== undefined && s.ageMs > f.maxRuntimeMs) return no(`it has run ${Math.round(s.ageMs)} ms, more than max_runtime`);
  if (f.minRuntimeMs !== undefined && s.ageMs < f.minRuntimeMs) {
    return { pass: 'later', retryInMs: Math.max(1, Math.ceil(f.minRuntimeMs - s.ageMs)), why: `${where}younger than min_runtime` };
  }
  return { pass: true };
}

/** The command's filters first, then the global ones. */
export function evaluate(subject: FilterSubject, command: WatchFilters | undefined, global: WatchFilters, commandName: string): Verdict {
  if (command !== undefined) {
    const v = check(command, subject, `commands.${commandName}.filters: `);
    if (v.pass !== true) return v;
  }
  return check(global, subject, 'filters: ');
}

/** uid → user name from /etc/passwd, re-read when the file changes. */
export class UserNames {
  private names = new Map<number, string>();
  private stamp = '';

  constructor(private readonly file = '/etc/passwd') {}

  nameOf(uid: number): string | null {
    this.refresh();
    return this.names.get(uid) ?? null;
  }

  private refresh(): void {
    let stamp: string;
    try {
      const st = statSync(this.file);
      stamp = `${st.mtimeMs}:${st.size}:${st.ino}`;
    } catch {
      stamp = 'missing';
    }
    if (stamp === this.stamp) return;
    this.stamp = stamp;
    const names = new Map<number, string>();
    try {
      for (const line of readFileSync(this.file, 'utf8').split('\n')) {
        const f = line.split(':');
        if (f.length >= 3 && /^\d+$/.test(f[2]!) && !names.has(Number(f[2]))) names.set(Number(f[2]), f[0]!);
      }
    } catch {
      // no passwd: every user is unnamed (allowed_users then admits nobody, said in the verdict)
    }
    this.names = names;
  }
}
