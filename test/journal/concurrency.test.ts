import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { listJournalFiles } from '../../src/journal/files';
import { readJournal } from '../../src/journal/reader';
import { useJournalChildren, WRITER_JS } from '../support/transpile-journal';


const kids = useJournalChildren('conc', { writer: WRITER_JS });

function runWriter(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [kids.scripts.writer, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

async function concurrentWriters(dir: string, writers: number, jobs: number, maxBytes: number, pad: number): Promise<void> {
  const startAt = Date.now() + 1500;
  const runs = await Promise.all(
    Array.from({ length: writers }, (_, w) => runWriter([kids.moduleDir, dir, String(w), String(jobs), String(maxBytes), String(pad), String(startAt)])),
  );
  for (const r of runs) {
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ ok: jobs, failed: 0, errors: [] });
  }
}

function expectEveryRecordOnce(dir: string, writers: number, jobs: number): void {
  const { records, problems, files } = readJournal(dir);
  expect(problems).toEqual([]);
  expect(records).toHaveLength(writers * jobs * 2);
  const started = new Map<string, number>();
  const results = new Map<string, number>();
  for (const r of records) {
    const m = r.type === 'started' ? started : results;
    m.set(r.job_id, (m.get(r.job_id) ?? 0) + 1);
  }
  for (let w = 0; w < writers; w++) {
    for (let i = 0; i < jobs; i++) {
      expect(started.get(`w${w}-${i}`)).toBe(1);
      expect(results.get(`w${w}-${i}`)).toBe(1);
    }
  }
  // every line of every file is exactly one whole record
  let lines = 0;
  for (const f of files) {
    const text = fs.readFileSync(f, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    for (const line of text.slice(0, -1).split('\n')) {
      expect(line.startsWith('{"type":"')).toBe(true);
      JSON.parse(line);
      lines++;
    }
  }
  expect(lines).toBe(writers * jobs * 2);
  // and the writers really overlapped: consecutive records often come from different processes
  let switches = 0;
  for (let k = 1; k < records.length; k++) {
    if (records[k]!.job_id.split('-')[0] !== records[k - 1]!.job_id.split('-')[0]) switches++;
  }
  expect(switches).toBeGreaterThan(writers * 2);
}

describe('50 concurrent writer processes (the real module, transpiled)', () => {
  it('one file: no interleaved, torn or lost lines, records larger than PIPE_BUF included', async () => {
    const dir = path.join(kids.work, 'one');
    await concurrentWriters(dir, 50, 30, 1 << 30, 9000);
    expectEveryRecordOnce(dir, 50, 30);
    expect(listJournalFiles(dir)).toHaveLength(1);
  }, 120_000);

  it('with rotation racing between the writers: nothing lost, nothing split, nothing duplicated', async () => {
    const dir = path.join(kids.work, 'rot');
    await concurrentWriters(dir, 50, 30, 32 * 1024, 0);
    expectEveryRecordOnce(dir, 50, 30);
    const files = listJournalFiles(dir);
    expect(files.length).toBeGreaterThan(10);
  }, 120_000);
});
