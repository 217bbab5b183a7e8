import { closeSync, openSync, readSync } from 'node:fs';

/**
 * `n` random bytes as hex, for ids and temp names. Read from the kernel's CSPRNG
 * (/dev/urandom, what OpenSSL seeds from too) rather than through `node:crypto`, whose loading
 * (about fifteen internal modules) is a measurable part of a `ffrtmp run` start
 * (docs/benchmarks.md, "Start-up"). Falls back to node:crypto where /dev/urandom cannot be read.
 */
export function randomHex(n: number): string {
  const buf = Buffer.allocUnsafe(n);
  try {
    const fd = openSync('/dev/urandom', 'r');
    try {
      let got = 0;
      while (got < n) {
        const r = readSync(fd, buf, got, n - got, null);
        if (r <= 0) throw new Error('short read from /dev/urandom');
        got += r;
      }
    } finally {
      closeSync(fd);
    }
    return buf.toString('hex');
  } catch {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require('node:crypto') as typeof import('node:crypto')).randomBytes(n).toString('hex');
  }
}
