/**
 * Error classes the library throws. The library never prints or exits: the CLI maps these
 * to messages and exit codes (src/cli/exit-codes.ts).
 */

/** Bad input from the caller (flags, job ids, PIDs, limits). Nothing has been started or created. */
export class UsageError extends Error {
  readonly code = 'ERR_USAGE';
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** `attach` was asked to adopt a PID that does not exist (pidfd_open said ESRCH). */
export class NoSuchProcessError extends Error {
  readonly code = 'ERR_NO_SUCH_PROCESS';
  constructor(readonly pid: number) {
    super(`process ${pid} does not exist`);
    this.name = 'NoSuchProcessError';
  }
}

/**
 * A request ffrtmp will not carry out, refused before anything was touched: a target it never
 * governs (PID 1, a kernel thread, ffrtmp itself or one of its ancestors), a process already
 * governed by a live ffrtmp job, or a job id that is running now. Exit 2, like a usage error.
 */
export class RefusedError extends Error {
  readonly code = 'ERR_REFUSED';
  constructor(
    message: string,
    /** What was refused: the target process, or the job id. */
    readonly what: 'target' | 'job_id',
  ) {
    super(message);
    this.name = 'RefusedError';
  }
}
