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
