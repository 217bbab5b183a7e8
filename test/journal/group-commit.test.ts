/**
 * The `started` records written in one turn of the event loop share one fsync (group commit):
 * counted with strace on the real built module, in a child process.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readJournal } from '../../src/journal/reader';
import { ROOT, testTempDir } from '../helpers';

const dir = testTempDir('group-commit');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!existsSync('/usr/bin/strace'))('journal: group commit of started records', () => {
  it('50 started records in one turn: all durable, with a handful of fsyncs instead of 50', () => {
    const state = join(dir, 'state');
    const script = join(dir, 'burst.js');
    writeFileSync(script, `
      const { Journal } = require(${JSON.stringify(join(ROOT, 'dist/journal/journal.js'))});
      const rec = new Journal({ dir: ${JSON.stringify(state)} }).recorder();
      const n = Number(process.argv[2]);
      const jobs = Array.from({ length: n }, (_, i) => ({ run_id: (i + 1).toString(16).padStart(16, '0'), job_id: 'burst-' + i, mode: 'attach' }));
      rec.claim(jobs);
      for (const j of jobs) rec.started({ type: 'started', run_id: j.run_id, job_id: j.job_id, pid: process.pid, mode: 'attach',
        identity: { pid: process.pid, start_time_ticks: '1' }, cgroup: null, start_time: new Date().toISOString() });
    `);
    const count = (n: number): number => {
      rmSync(state, { recursive: true, force: true });
      const r = spawnSync('strace', ['-f', '-qq', '-e', 'trace=fsync,fdatasync', '-o', join(dir, `trace-${n}`), process.execPath, script, String(n)], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const lines = require('node:fs').readFileSync(join(dir, `trace-${n}`), 'utf8').split('\n').filter((l: string) => /fsync|fdatasync/.test(l));
      return lines.length;
    };
    const one = count(1);
    const fifty = count(50);
    expect(readJournal(state).records.filter((r) => r.type === 'started')).toHaveLength(50);
    // One record: its fsync (and its directory's, for a new file). Fifty: the same.
    expect(fifty).toBe(one);
    expect(fifty).toBeLessThanOrEqual(3);
  });
});
