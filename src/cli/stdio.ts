/**
 * The CLI's own output, written with write(2) to fds 1 and 2 rather than through process.stdout
 * and process.stderr: Node builds those streams on first use, and building one loads its stream
 * machinery, ~4-5 ms of every `ffrtmp run` (docs/benchmarks.md, "Start-up"). On Linux the streams
 * are synchronous for files, pipes and terminals alike, so order and semantics are the same, and
 * commander's own writes (help, usage errors) interleave correctly with ours.
 *
 * A non-blocking descriptor that is full (EAGAIN) hands the rest to the stream, which waits for
 * it. A reader that has gone (EPIPE) or no descriptor at all (EBADF) drops the rest: output is
 * for whoever reads it, and a job's outcome never depends on it (the journal has it).
 */
import { writeSync } from 'node:fs';

export interface Out {
  write(text: string): void;
}

function writeAll(fd: 1 | 2, text: string): void {
  const buf = Buffer.from(text, 'utf8');
  let off = 0;
  while (off < buf.length) {
    try {
      off += writeSync(fd, buf, off, buf.length - off);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') {
        (fd === 1 ? process.stdout : process.stderr).write(buf.subarray(off));
        return;
      }
      if (code === 'EPIPE' || code === 'EBADF') return;
      throw err;
    }
  }
}

export const stdout: Out = { write: (text) => writeAll(1, text) };
export const stderr: Out = { write: (text) => writeAll(2, text) };
