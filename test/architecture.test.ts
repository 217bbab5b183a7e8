/**
 * The layers are a one-way street. Every folder of src/ has a rank; a file may import from its
 * own folder and from folders of a LOWER rank, never from the same rank or above. Type-only
 * imports count too: a type that lives too high drags its layer's vocabulary up with it.
 *
 * The table below is the architecture. docs/architecture.md shows it rendered (the last test
 * here keeps the two identical), so the picture cannot drift from the code.
 *
 * "Visibility is derived, never driving" is one consequence: visibility ranks above the layers
 * that run, attach, observe or govern workloads, so none of them can reach it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '..');
const SRC = path.join(ROOT, 'src');

/** Lowest first. Folders on one row share a rank: they may not import each other. */
const LAYERS: readonly (readonly [rank: string, folders: readonly string[], what: string])[] = [
  ['1', ['native'], 'the addon, typed once; the only loader; errno → SystemError; the one watcher owner'],
  ['2', ['model'], 'shared vocabulary: Result, exit status, SLA reasons, errors, job ids, summary line, usage/cgroup report shapes, doctor checks'],
  ['3', ['observer', 'http'], 'exit observers (pidfd, polling) behind one contract; /proc readers; the read-only HTTP endpoint under serve, watch and agent'],
  ['4', ['cgroup', 'journal'], 'job cgroups (plan, create, place, move, finish; delegation, the supervisor leaf); the durable journal and its readers'],
  ['5', ['core'], 'run, attach, doctor: one job from start to its one Result'],
  ['6', ['recover', 'visibility', 'watch', 'agent'], 'capabilities built on the core: adoption, metrics and endpoints, auto-attach, the queue worker'],
  ['7', ['index.ts', 'cli'], 'the public library door (src/index.ts) and the commander CLI'],
];

const RANK = new Map<string, number>();
LAYERS.forEach(([, folders], i) => folders.forEach((f) => RANK.set(f, i)));

const IMPORT_RE = /(?:\bimport\s+(?:type\s+)?(?:[^'"`;]*?\sfrom\s+)?|\bexport\s+(?:type\s+)?[^'"`;]*?\sfrom\s+|\bimport\s*\(\s*|\brequire\s*\(\s*)['"]([^'"]+)['"]/g;

function tsFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return tsFiles(p);
    return /\.(c|m)?tsx?$/.test(e.name) ? [p] : [];
  });
}

function importsOf(source: string): string[] {
  return [...source.matchAll(IMPORT_RE)].map((m) => m[1]!);
}

/** `src/core/run.ts` → `core`; `src/index.ts` → `index.ts`. */
function folderOf(file: string): string {
  return path.relative(SRC, file).split(path.sep)[0]!;
}

/** The problem with one import, or null when it is allowed. */
function violation(fromFile: string, spec: string): string | null {
  if (!spec.startsWith('.')) return null; // packages and node: builtins
  const target = path.resolve(path.dirname(fromFile), spec);
  const rel = path.relative(SRC, target);
  if (rel.startsWith('..')) return target === path.join(ROOT, 'package.json') ? null : 'imports from outside src/';
  const from = folderOf(fromFile);
  const to = rel.split(path.sep).length === 1 ? `${rel.replace(/\.(js|ts)$/, '')}.ts` : rel.split(path.sep)[0]!;
  if (from === to) return null;
  const a = RANK.get(from);
  const b = RANK.get(to);
  if (a === undefined) return `its folder ${from} has no rank in the layer table`;
  if (b === undefined) return `${to} has no rank in the layer table`;
  if (b < a) return null;
  return b === a ? `${to} has the same rank as ${from}` : `${to} ranks above ${from}`;
}

function renderTable(): string {
  const rows = LAYERS.map(([rank, folders, what]) => `| ${rank} | ${folders.map((f) => (f.endsWith('.ts') ? `\`src/${f}\`` : `\`src/${f}/\``)).join(', ')} | ${what} |`);
  return ['| rank | folders | what lives there |', '|---|---|---|', ...rows].join('\n');
}

describe('architecture: the layers are a one-way street', () => {
  it('the import regex sees every import form', () => {
    const src = `
      import { a } from '../visibility/metrics';
      import type { B } from "../visibility/violations";
      import * as s from '../visibility/server';
      import '../visibility/side-effect';
      export { c } from '../visibility/metrics';
      const d = require('../visibility/metrics');
      const e = await import('../visibility/server');
      import {
        f,
        g,
      } from '../visibility/metrics';
    `;
    expect(importsOf(src)).toEqual([
      '../visibility/metrics', '../visibility/violations', '../visibility/server', '../visibility/side-effect',
      '../visibility/metrics', '../visibility/metrics', '../visibility/server', '../visibility/metrics',
    ]);
  });

  it('the rule itself: down is allowed, sideways and up are not', () => {
    const core = path.join(SRC, 'core/run.ts');
    expect(violation(core, '../model/result')).toBeNull();
    expect(violation(core, './attach')).toBeNull();
    expect(violation(core, '../visibility/metrics')).toMatch(/ranks above/);
    expect(violation(path.join(SRC, 'cgroup/job.ts'), '../journal/types')).toMatch(/same rank/);
    expect(violation(path.join(SRC, 'model/result.ts'), '../cgroup/types')).toMatch(/ranks above/);
    expect(violation(path.join(SRC, 'index.ts'), './core/run')).toBeNull();
    expect(violation(path.join(SRC, 'cli/main.ts'), '../index')).toMatch(/same rank/);
    expect(violation(path.join(SRC, 'core/run.ts'), 'commander')).toBeNull();
  });

  it('every folder of src/ has a rank', () => {
    const folders = fs.readdirSync(SRC);
    expect(folders.filter((f) => !RANK.has(f))).toEqual([]);
  });

  it('no import in src/ runs sideways or up', () => {
    const offenders: string[] = [];
    let scanned = 0;
    for (const file of tsFiles(SRC)) {
      scanned++;
      for (const spec of importsOf(fs.readFileSync(file, 'utf8'))) {
        const why = violation(file, spec);
        if (why !== null) offenders.push(`${path.relative(ROOT, file)} imports ${spec}: ${why}`);
      }
    }
    expect(scanned).toBeGreaterThan(40);
    expect(offenders).toEqual([]);
  });

  it('docs/architecture.md shows this very table', () => {
    expect(fs.readFileSync(path.join(ROOT, 'docs/architecture.md'), 'utf8')).toContain(renderTable());
  });
});
