/**
 * Who may adopt an orphan: generation-numbered claim files, created atomically, no locks.
 *
 * `<state-dir>/claims/<run_id>.<gen>.json` holds `{run_id, job_id, owner: identity, at}`. It is
 * written to a temporary file first and then hard-linked into place: link(2) fails with EEXIST
 * when the name exists, so exactly one process creates each generation, and a claim is never
 * seen half written. To claim a job:
 *
 * 1. find the highest generation g;
 * 2. if claim g's owner is still alive (same pid AND start time), the job is taken: back off;
 * 3. otherwise create generation g + 1 (or 0); on EEXIST someone was faster: look again.
 *
 * The wrapper that wrote the `started` record is the implicit owner before any claim (the caller
 * only claims orphans, whose wrapper is dead). A dead owner's claim is simply superseded by the
 * next generation: nothing is deleted while it could still matter, so there is no
 * check-then-delete race. After the claim, the caller MUST re-read the journal and back off if a
 * Result for the run_id exists: a previous owner writes its Result before it dies, so this
 * re-read sees it.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeDirs, readdirOrEmpty } from '../journal/files';
import { isSameProcessAlive, ownIdentity } from '../journal/identity';
import type { ProcessIdentity } from '../journal/types';

export interface Claim {
  readonly run_id: string;
  readonly job_id: string;
  readonly owner: ProcessIdentity;
  readonly at: string;
}

export type ClaimOutcome =
  | { readonly claimed: true; readonly generation: number; readonly file: string }
  | { readonly claimed: false; readonly heldBy: ProcessIdentity | null; readonly reason: string };

const RUN_ID = /^[A-Za-z0-9_-]{1,64}$/;

export function claimsDir(stateDir: string): string {
  return path.join(stateDir, 'claims');
}

function generations(dir: string, runId: string): number[] {
  const names = readdirOrEmpty(dir);
  const prefix = `${runId}.`;
  const out: number[] = [];
  for (const n of names) {
    if (!n.startsWith(prefix) || !n.endsWith('.json')) continue;
    const g = n.slice(prefix.length, -'.json'.length);
    if (/^\d{1,9}$/.test(g)) out.push(Number(g));
  }
  return out.sort((a, b) => a - b);
}

function readClaim(file: string): Claim | null {
  try {
    const v = JSON.parse(fs.readFileSync(file, 'utf8')) as Claim;
    return v && typeof v === 'object' && v.owner && typeof v.owner.pid === 'number' ? v : null;
  } catch {
    return null;
  }
}

/**
 * Tries to become the adopter of `runId`. Never waits. Throws only on filesystem errors other
 * than a lost race (EROFS, EACCES...), which the caller reports.
 */
export function claimOrphan(
  stateDir: string,
  runId: string,
  jobId: string,
  opts: { owner?: ProcessIdentity; isAlive?: (id: ProcessIdentity) => boolean } = {},
): ClaimOutcome {
  if (!RUN_ID.test(runId)) return { claimed: false, heldBy: null, reason: `unusable run_id ${JSON.stringify(runId)}` };
  const owner = opts.owner ?? ownIdentity();
  const isAlive = opts.isAlive ?? ((id: ProcessIdentity) => isSameProcessAlive(id));
  const dir = claimsDir(stateDir);
  makeDirs(dir, 0o750);
  const body: Claim = { run_id: runId, job_id: jobId, owner, at: new Date().toISOString() };
  const tmp = path.join(dir, `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  fs.writeFileSync(tmp, JSON.stringify(body) + '\n', { mode: 0o640 });
  try {
    for (let attempt = 0; attempt < 16; attempt++) {
      const gens = generations(dir, runId);
      const top = gens.length > 0 ? gens[gens.length - 1]! : -1;
      if (top >= 0) {
        const current = readClaim(path.join(dir, `${runId}.${top}.json`));
        if (current !== null) {
          const same = current.owner.pid === owner.pid && current.owner.start_time_ticks === owner.start_time_ticks;
          if (same) return { claimed: true, generation: top, file: path.join(dir, `${runId}.${top}.json`) };
          if (isAlive(current.owner)) return { claimed: false, heldBy: current.owner, reason: 'claimed by a live process' };
        }
        // unreadable (cannot happen: claims appear whole via link) or dead owner: supersede it
      }
      const file = path.join(dir, `${runId}.${top + 1}.json`);
      try {
        fs.linkSync(tmp, file);
        return { claimed: true, generation: top + 1, file };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        // lost the race for this generation: look again
      }
    }
    return { claimed: false, heldBy: null, reason: 'too much contention for the claim' };
  } finally {
    try {
      fs.unlinkSync(tmp);
    } catch {
      /* ignore */
    }
  }
}

/**
 * Removes every claim of `runId`. Call only after its Result is in the journal (a claimer that
 * arrives later re-reads the journal, sees the Result and backs off).
 */
export function releaseClaims(stateDir: string, runId: string): void {
  const dir = claimsDir(stateDir);
  let gens: number[];
  try {
    gens = generations(dir, runId);
  } catch {
    return;
  }
  for (const g of gens) {
    try {
      fs.unlinkSync(path.join(dir, `${runId}.${g}.json`));
    } catch {
      /* ignore */
    }
  }
}
