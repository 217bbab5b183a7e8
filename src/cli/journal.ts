/** The journal a command works with (loaded by the actions, not by the definitions). */
import { randomHex } from '../model/random';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CURRENT_FILE } from '../journal/files';
import { Journal, type JournalRecorder } from '../journal/journal';
import { resolveStateDir, STATE_DIR_ENV, type ResolvedStateDir } from '../journal/state-dir';
import { UsageError } from '../model/errors';
import { shown } from '../model/quote';

/**
 * How a command uses its journal: `write` (run, attach, recover append records), `read` (jobs,
 * recover --dry-run, serve: a directory that does not exist yet is an empty journal).
 */
export type JournalUse = 'write' | 'read';

/**
 * The journal for a `--state-dir` value (or the default chain). An EXPLICIT state dir (the flag,
 * or `$FFRTMP_STATE_DIR`: both are somebody's choice) that cannot be used for `use` is a usage
 * error, thrown before anything starts (exit 2). The default state dir is not checked here: a
 * journal that cannot be written never stops a workload, and stderr then says which Results were
 * not persisted. Creates nothing (a write check probes with an entry it removes at once).
 */
export function openJournal(flag: string | undefined, use: JournalUse): Journal {
  if (flag === '') throw new UsageError('--state-dir must not be empty');
  const resolved = resolveStateDir(flag !== undefined ? { explicit: flag } : {});
  if (resolved.source === 'flag' || resolved.source === 'env') {
    const why = use === 'write' ? unusableForWriting(resolved.dir) : unusableForReading(resolved.dir);
    if (why !== null) throw new UsageError(`${named(resolved, flag)} cannot be used: ${why}`);
  }
  return new Journal({ dir: resolved.dir });
}

/** `--state-dir /x` or `FFRTMP_STATE_DIR=/x`, as the user gave it. */
function named(r: ResolvedStateDir, flag: string | undefined): string {
  return r.source === 'flag' ? `--state-dir ${shown(flag ?? r.dir)}` : `${STATE_DIR_ENV}=${shown(process.env[STATE_DIR_ENV] ?? r.dir)}`;
}

function codeOf(err: unknown): string {
  return (err as NodeJS.ErrnoException)?.code ?? (err as Error)?.message ?? String(err);
}

/** An errno code in words, with the code (for a search engine). */
function plain(code: string): string {
  const words: Record<string, string> = {
    ENOTDIR: 'a component of the path is not a directory',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EROFS: 'read-only file system',
    ENOENT: 'no such file or directory',
    ENOSPC: 'no space left on device',
    ENAMETOOLONG: 'name too long',
    ELOOP: 'too many levels of symbolic links',
    EISDIR: 'is a directory',
  };
  return words[code] ? `${words[code]} (${code})` : code;
}

/**
 * Why `dir` cannot hold a journal we append to, or null. An existing directory must take a new
 * entry (a probe file, removed at once) and its journal file, if any, must open for appending; a
 * missing one must be creatable: its nearest existing ancestor must be a directory that takes a
 * new directory (a probe, removed at once). `/proc/x`, a regular file, a read-only mount and a
 * directory we may not write all fail here.
 */
export function unusableForWriting(dir: string): string | null {
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(dir);
  } catch (err) {
    if (codeOf(err) !== 'ENOENT') return plain(codeOf(err));
  }
  if (st !== undefined) {
    if (!st.isDirectory()) return 'it is not a directory';
    const probe = path.join(dir, `.ffrtmp-probe-${process.pid}-${randomHex(4)}`);
    try {
      fs.closeSync(fs.openSync(probe, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600));
    } catch (err) {
      return `cannot write in it: ${plain(codeOf(err))}`;
    }
    try {
      fs.unlinkSync(probe);
    } catch {
      /* it was created, so the directory takes entries; nothing more to learn */
    }
    const file = path.join(dir, CURRENT_FILE);
    if (fs.existsSync(file)) {
      try {
        fs.closeSync(fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_APPEND)); // no O_CREAT: touches nothing
      } catch (err) {
        return `its ${CURRENT_FILE} cannot be appended to: ${plain(codeOf(err))}`;
      }
    }
    return null;
  }
  // Missing: it will be created (mode 0750) at the first record. Can it be?
  let ancestor = path.dirname(dir);
  for (;;) {
    try {
      st = fs.statSync(ancestor);
      break;
    } catch (err) {
      if (codeOf(err) !== 'ENOENT') return `${ancestor}: ${plain(codeOf(err))}`;
      const up = path.dirname(ancestor);
      if (up === ancestor) return 'no existing parent directory';
      ancestor = up;
    }
  }
  if (!st.isDirectory()) return `${ancestor} is not a directory`;
  try {
    fs.rmdirSync(fs.mkdtempSync(path.join(ancestor, '.ffrtmp-probe-')));
  } catch (err) {
    return `it does not exist and cannot be created in ${ancestor}: ${plain(codeOf(err))}`;
  }
  return null;
}

/**
 * Why `dir` cannot be read as a journal, or null. A directory that does not exist is an empty
 * journal; anything else must be a directory we can list, with a readable journal file if any.
 */
export function unusableForReading(dir: string): string | null {
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch (err) {
    return codeOf(err) === 'ENOENT' ? null : plain(codeOf(err));
  }
  if (!st.isDirectory()) return 'it is not a directory';
  try {
    fs.readdirSync(dir);
  } catch (err) {
    return `cannot list it: ${plain(codeOf(err))}`;
  }
  const file = path.join(dir, CURRENT_FILE);
  if (fs.existsSync(file)) {
    try {
      fs.closeSync(fs.openSync(file, 'r'));
    } catch (err) {
      return `its ${CURRENT_FILE} cannot be read: ${plain(codeOf(err))}`;
    }
  }
  return null;
}

/**
 * The stderr lines saying plainly which Results were not persisted (empty when all were). The
 * summary line has been printed regardless; the workload and the exit status are unaffected.
 */
export function notPersistedLines(recorder: JournalRecorder, journal: Journal, jobIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const id of jobIds) {
    const p = recorder.persistence(id);
    if (p.result) continue;
    const why = p.error ? p.error.message : 'not written';
    out.push(`ffrtmp: the Result of job ${id} was NOT persisted to the journal in ${journal.dir} (${why})`);
  }
  return out;
}
