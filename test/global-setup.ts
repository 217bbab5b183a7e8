import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { detectCgroups } from '../src/cgroup/detect';

/**
 * One private cgroup root for the whole test run: every `ffrtmp run/attach` a test starts (and
 * every in-process run()) creates its job cgroups under it instead of the machine's default
 * `<controller>/ffrtmp`, and it is removed at the end. Tests that detach on purpose leave empty
 * job leaves behind (the workload was still inside when the wrapper let go): this is where they
 * are cleaned up. Only directories under our own root are touched.
 */
export default function setup(): (() => Promise<void>) | undefined {
  if (process.env.FFRTMP_CGROUP_ROOT) return undefined; // the caller chose one
  const env = detectCgroups();
  const rel = `ffrtmp-test-run-${process.pid}-${randomBytes(3).toString('hex')}`;
  const mem = env.v1.find((h) => h.controllers.includes('memory'));
  const base = mem?.mountPoint ?? env.v2?.mountPoint;
  if (base === undefined) return undefined; // no cgroups: the tests say so themselves
  process.env.FFRTMP_CGROUP_ROOT = path.join(base, rel);
  const tops = [...env.v1.map((h) => path.join(h.mountPoint, rel)), ...(env.v2 ? [path.join(env.v2.mountPoint, rel)] : [])];

  return async () => {
    const leftovers: string[] = [];
    for (const top of new Set(tops)) {
      if (!fs.existsSync(top)) continue;
      const dirs: string[] = [];
      const walk = (d: string): void => {
        for (const e of fs.readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(path.join(d, e.name));
        dirs.push(d); // children before parents
      };
      walk(top);
      for (const d of dirs) {
        // Test workloads killed at the end may still be zombies waiting for PID 1 (seen: seconds).
        for (let i = 0; ; i++) {
          try {
            fs.rmdirSync(d);
            break;
          } catch (e) {
            const code = (e as NodeJS.ErrnoException).code;
            if (code === 'ENOENT') break;
            if (i >= 100) {
              leftovers.push(`${d} (${code})`);
              break;
            }
            await new Promise((r) => setTimeout(r, 100));
          }
        }
      }
    }
    if (leftovers.length > 0) console.warn(`test cgroups left behind:\n  ${leftovers.join('\n  ')}`);
  };
}
