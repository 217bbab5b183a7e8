/**
 * Visibility is derived, never driving (seed 003): the code that runs, attaches to, observes or
 * governs workloads must not import the metrics, violation or serve modules. It hands Results to
 * a JobRecorder (src/journal/types.ts) and that is all. Imports are found with a regex over the
 * TypeScript sources (static `import ... from`, `export ... from`, `import('...')`, `require('...')`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '..');
const GUARDED = ['src/core', 'src/observer', 'src/native', 'src/cgroup'];
const FORBIDDEN = path.join(ROOT, 'src/visibility');

const IMPORT_RE = /(?:\bimport\s+(?:type\s+)?(?:[^'"`;]*?\sfrom\s+)?|\bexport\s+(?:type\s+)?[^'"`;]*?\sfrom\s+|\bimport\s*\(\s*|\brequire\s*\(\s*)['"]([^'"]+)['"]/g;

function tsFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return tsFiles(p);
    return /\.(c|m)?tsx?$/.test(e.name) ? [p] : [];
  });
}

function importsOf(source: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(IMPORT_RE)) out.push(m[1]!);
  return out;
}

function resolvesIntoVisibility(fromFile: string, spec: string): boolean {
  if (!spec.startsWith('.')) return /(^|\/)visibility(\/|$)/.test(spec) && spec.includes('ffrtmp');
  const target = path.resolve(path.dirname(fromFile), spec);
  return target === FORBIDDEN || target.startsWith(FORBIDDEN + path.sep);
}

describe('architecture: visibility is derived, never driving', () => {
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
    const from = path.join(ROOT, 'src/core/run.ts');
    expect(resolvesIntoVisibility(from, '../visibility/metrics')).toBe(true);
    expect(resolvesIntoVisibility(from, '../visibility')).toBe(true);
    expect(resolvesIntoVisibility(from, '../journal/types')).toBe(false);
    expect(resolvesIntoVisibility(from, './visibility-ish')).toBe(false);
  });

  it('src/core, src/observer, src/native and src/cgroup never import src/visibility', () => {
    const offenders: string[] = [];
    let scanned = 0;
    for (const dir of GUARDED) {
      for (const file of tsFiles(path.join(ROOT, dir))) {
        scanned++;
        for (const spec of importsOf(fs.readFileSync(file, 'utf8'))) {
          if (resolvesIntoVisibility(file, spec)) offenders.push(`${path.relative(ROOT, file)} imports ${spec}`);
        }
      }
    }
    expect(scanned).toBeGreaterThan(0);
    expect(offenders).toEqual([]);
  });
});
