/**
 * Journal faults on real filesystems: a read-only state directory and a full disk, each on a
 * small tmpfs mounted inside a private mount namespace (`unshare -m`; chmod does not stop root).
 * Skipped loudly when mount namespaces are not available.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { OPS_JS, useJournalChildren } from '../support/transpile-journal';

const canUnshare = spawnSync('unshare', ['-m', 'sh', '-c', 'mount -t tmpfs -o size=4k tmpfs /mnt && umount /mnt'], { stdio: 'ignore' }).status === 0;
if (!canUnshare) {
  console.warn('\n*** SKIPPING journal fault tests: `unshare -m` + tmpfs mount not permitted here (needs root / CAP_SYS_ADMIN) ***\n');
}


const kids = useJournalChildren('faults', { ops: OPS_JS });

/** Runs a shell script in a private mount namespace; each line of output `@name {json}` is collected. */
function inNamespace(script: string): Record<string, any> {
  const mnt = fs.mkdtempSync(path.join(kids.work, 'mnt-'));
  const r = spawnSync('unshare', ['-m', 'sh', '-ec', script], {
    env: { ...process.env, MNT: mnt, NODE: process.execPath, OPS: kids.scripts.ops, MOD: kids.moduleDir },
    encoding: 'utf8',
  });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  const out: Record<string, any> = {};
  for (const line of r.stdout.split('\n')) {
    const m = /^@(\S+) (.*)$/.exec(line);
    if (m) out[m[1]!] = JSON.parse(m[2]!);
  }
  return out;
}

describe.skipIf(!canUnshare)('journal faults (tmpfs in a private mount namespace)', () => {
  it('read-only state dir: the append fails with a reported EROFS, nothing recorded before is lost', () => {
    const out = inNamespace(`
      mount -t tmpfs -o size=1m tmpfs "$MNT"
      echo "@before $("$NODE" "$OPS" "$MOD" append "$MNT/state" 3 a)"
      mount -o remount,ro "$MNT"
      echo "@ro $("$NODE" "$OPS" "$MOD" append "$MNT/state" 2 b)"
      echo "@read $("$NODE" "$OPS" "$MOD" read "$MNT/state")"
    `);
    expect(out.before).toEqual({ ok: 3, failed: 0, errors: [] });
    expect(out.ro.ok).toBe(0);
    expect(out.ro.failed).toBe(2);
    expect(out.ro.errors[0].persisted).toEqual({ started: false, result: false });
    expect(out.ro.errors[0].error).toMatchObject({ op: 'open', code: 'EROFS' });
    expect(out.read.problems).toEqual([]);
    expect(out.read.jobs).toEqual(['started:a-0', 'result:a-0', 'started:a-1', 'result:a-1', 'started:a-2', 'result:a-2']);
  });

  it('full disk: the failing append is reported (ENOSPC or a short write), earlier records survive, later ones resync', () => {
    const out = inNamespace(`
      mount -t tmpfs -o size=64k tmpfs "$MNT"
      echo "@before $("$NODE" "$OPS" "$MOD" append "$MNT/state" 3 a)"
      dd if=/dev/zero of="$MNT/fill" bs=1k 2>/dev/null || true
      echo "@full $("$NODE" "$OPS" "$MOD" append "$MNT/state" 12 b)"
      echo "@read1 $("$NODE" "$OPS" "$MOD" read "$MNT/state")"
      rm "$MNT/fill"
      echo "@after $("$NODE" "$OPS" "$MOD" append "$MNT/state" 2 c)"
      echo "@read2 $("$NODE" "$OPS" "$MOD" read "$MNT/state")"
    `);
    expect(out.before).toEqual({ ok: 3, failed: 0, errors: [] });
    // The last page of the file may still hold a record or two; after that, every append fails.
    expect(out.full.failed).toBeGreaterThan(0);
    for (const e of out.full.errors) expect(['ENOSPC', 'ESHORTWRITE']).toContain(e.error.code);
    const firstSix = ['started:a-0', 'result:a-0', 'started:a-1', 'result:a-1', 'started:a-2', 'result:a-2'];
    expect(out.read1.jobs.slice(0, 6)).toEqual(firstSix);
    // Whatever was reported as persisted is there; whatever failed is not.
    const persistedB = out.read1.jobs.filter((j: string) => j.includes(':b-'));
    expect(persistedB.length).toBe(out.full.ok * 2 + out.full.errors.filter((e: any) => e.persisted.started).length);
    for (const p of out.read1.problems) expect(p).toMatch(/incomplete last line/);
    // After space is freed, new records are readable again, even if glued to a torn fragment.
    expect(out.after).toEqual({ ok: 2, failed: 0, errors: [] });
    expect(out.read2.jobs.slice(0, 6)).toEqual(firstSix);
    expect(out.read2.jobs.slice(-4)).toEqual(['started:c-0', 'result:c-0', 'started:c-1', 'result:c-1']);
    for (const p of out.read2.problems) expect(p).toMatch(/torn record fragment/);
    console.log(`full-disk run: ${out.full.ok} jobs fitted, ${out.full.failed} failed (${out.full.errors.map((e: any) => e.error.code).join(',')}); problems after: ${JSON.stringify(out.read2.problems)}`);
  });
});
