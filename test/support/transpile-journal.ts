/**
 * Builds plain-JS copies of the real journal modules (src/journal/*.ts) for child processes,
 * with the TypeScript compiler's transpileModule (no dist/ build, no tsx): children `require()`
 * exactly the code under test.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll } from 'vitest';

const SRC = path.resolve(__dirname, '../../src');
/** The journal modules, plus what they import from elsewhere in src/ (same relative layout). */
const DIRS = ['journal', 'model'];
const EXTRA_FILES = ['observer/procfs.ts'];

function transpileTo(out: string, rel: string): void {
  const { outputText } = ts.transpileModule(fs.readFileSync(path.join(SRC, rel), 'utf8'), {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    fileName: path.basename(rel),
  });
  const target = path.join(out, rel.replace(/\.ts$/, '.js'));
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.writeFileSync(target, outputText);
}

/** Returns the directory holding `journal.js`, `reader.js`, ... (in a fresh temp dir). */
export function transpileJournal(): string {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'ffrtmp-journal-js-'));
  for (const dir of DIRS) {
    for (const name of fs.readdirSync(path.join(SRC, dir))) if (name.endsWith('.ts')) transpileTo(out, `${dir}/${name}`);
  }
  for (const rel of EXTRA_FILES) transpileTo(out, rel);
  return path.join(out, 'journal');
}

/**
 * A child script: `node writer.js <moduleDir> <stateDir> <writerId> <jobs> <maxBytes> <padBytes> [startAtMs]`
 * (all children sleep until startAtMs, so their appends overlap)
 * records `jobs` jobs (started + result each) and prints `{ok, failed, errors}` as JSON.
 */
export const WRITER_JS = `
const [moduleDir, dir, id, jobs, maxBytes, pad, startAt] = process.argv.slice(2);
const wait = Number(startAt || 0) - Date.now();
if (wait > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, wait);
const { Journal } = require(moduleDir + '/journal.js');
const j = new Journal({ dir, maxBytes: Number(maxBytes), keepRotated: 100000 });
let ok = 0, failed = 0; const errors = [];
for (let i = 0; i < Number(jobs); i++) {
  const job_id = 'w' + id + '-' + i;
  const rec = j.recorder();
  const now = new Date().toISOString();
  const run_id = require('crypto').randomBytes(8).toString('hex');
  rec.started({ type: 'started', run_id, job_id, pid: process.pid, mode: 'run',
    ...(Number(pad) > 0 && i % 3 === 0 ? { intent: 'x'.repeat(Number(pad)) } : {}),
    identity: { pid: process.pid, start_time_ticks: '1' }, cgroup: null, start_time: now });
  rec.finished({ job_id, pid: process.pid, mode: 'run', start_time: now, end_time: now, processing_seconds: 0,
    exit_code: 0, signal: null, exit_source: 'waitid', platform_sla_compliant: true, platform_sla_reason: 'completed_successfully' }, run_id);
  const p = rec.persistence(job_id);
  if (p.started && p.result) ok++; else { failed++; if (errors.length < 3) errors.push(p.error); }
}
process.stdout.write(JSON.stringify({ ok, failed, errors }));
`;

/**
 * A child script for fault tests: `node ops.js <moduleDir> append <stateDir> <jobs> <tag>` prints
 * `{ok, failed, errors, outcomes}`; `node ops.js <moduleDir> read <stateDir>` prints
 * `{jobs: [job_id of each record], types, problems}`.
 */
export const OPS_JS = `
const [moduleDir, cmd, dir, jobs, tag] = process.argv.slice(2);
const { Journal } = require(moduleDir + '/journal.js');
const { readJournal } = require(moduleDir + '/reader.js');
if (cmd === 'read') {
  const r = readJournal(dir);
  process.stdout.write(JSON.stringify({ jobs: r.records.map((x) => x.type + ':' + x.job_id), problems: r.problems.map((p) => p.reason) }));
} else {
  const j = new Journal({ dir });
  let ok = 0, failed = 0; const errors = [];
  for (let i = 0; i < Number(jobs); i++) {
    const job_id = tag + '-' + i;
    const rec = j.recorder();
    const now = new Date().toISOString();
    const run_id = require('crypto').randomBytes(8).toString('hex');
    rec.started({ type: 'started', run_id, job_id, pid: process.pid, mode: 'run', identity: { pid: process.pid, start_time_ticks: '1' }, cgroup: null, start_time: now });
    rec.finished({ job_id, pid: process.pid, mode: 'run', start_time: now, end_time: now, processing_seconds: 0,
      exit_code: 0, signal: null, exit_source: 'waitid', platform_sla_compliant: true, platform_sla_reason: 'completed_successfully' }, run_id);
    const p = rec.persistence(job_id);
    if (p.started && p.result) ok++; else { failed++; errors.push({ persisted: { started: p.started, result: p.result }, error: p.error }); }
  }
  process.stdout.write(JSON.stringify({ ok, failed, errors }));
}
`;

/**
 * A fake wrapper for crash tests: `node fake-wrapper.js <moduleDir> <stateDir> <jobId> <shell cmd>`
 * starts the workload (`sh -c <cmd>`, its own session), appends the `started` record exactly as a
 * wrapper does (its own identity as `wrapper`), prints `{"pid":N}` and waits to be killed.
 */
export const FAKE_WRAPPER_JS = `
const [moduleDir, dir, jobId, cmd] = process.argv.slice(2);
const { spawn } = require('node:child_process');
const { Journal } = require(moduleDir + '/journal.js');
const { identityOf } = require(moduleDir + '/identity.js');
const child = spawn('sh', ['-c', cmd], { stdio: 'ignore', detached: true });
const rec = new Journal({ dir }).recorder();
rec.started({ type: 'started', run_id: require('crypto').randomBytes(8).toString('hex'), job_id: jobId, pid: child.pid, mode: 'run', intent: 'test',
  identity: identityOf(child.pid), cgroup: null, start_time: new Date().toISOString() });
process.stdout.write(JSON.stringify({ pid: child.pid, persisted: rec.persistence(jobId) }) + '\\n');
setInterval(() => {}, 1000);
`;

/** What useJournalChildren() gives a suite once its beforeAll has run. */
export interface JournalChildren<K extends string> {
  /** The transpiled journal modules (argument of the child scripts). */
  readonly moduleDir: string;
  /** A private work directory, removed after the suite. */
  readonly work: string;
  /** The path of each child script written into `work`. */
  readonly scripts: Readonly<Record<K, string>>;
  /** A fresh state directory inside `work`. */
  stateDir(): string;
}

/**
 * The one journal setup for suites that run real journal code in child processes: beforeAll
 * transpiles the journal and writes `scripts` (name → source) into a work dir; afterAll removes
 * both. Read the fields inside tests and hooks (they are set by beforeAll).
 */
export function useJournalChildren<K extends string>(name: string, scripts: Record<K, string>): JournalChildren<K> {
  const state = { moduleDir: '', work: '', scripts: {} as Record<K, string> };
  beforeAll(() => {
    state.moduleDir = transpileJournal();
    state.work = fs.mkdtempSync(path.join(os.tmpdir(), `ffrtmp-${name}-`));
    for (const [k, src] of Object.entries(scripts) as [K, string][]) {
      const file = path.join(state.work, `${k}.js`);
      fs.writeFileSync(file, src);
      state.scripts[k] = file;
    }
  });
  afterAll(() => {
    if (state.moduleDir) fs.rmSync(path.dirname(state.moduleDir), { recursive: true, force: true }); // the transpile root
    if (state.work) fs.rmSync(state.work, { recursive: true, force: true });
  });
  return {
    get moduleDir() {
      return state.moduleDir;
    },
    get work() {
      return state.work;
    },
    get scripts() {
      return state.scripts;
    },
    stateDir: () => fs.mkdtempSync(path.join(state.work, 'state-')),
  };
}
