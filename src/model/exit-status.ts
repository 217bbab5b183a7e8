import { constants } from 'node:os';
import type { ExitSource, ExitStatus } from './result';

/** CLD_* si_code values from <signal.h>: how waitid(2) says a child ended. */
const CLD_EXITED = 1;
const CLD_KILLED = 2;
const CLD_DUMPED = 3;

const SIGNAL_NAMES = new Map<number, string>(
  Object.entries(constants.signals).map(([name, num]) => [num, name]),
);

/** `SIGKILL` for 9; `SIG<n>` for numbers Node has no name for (real-time signals). */
export function signalName(signo: number): string {
  return SIGNAL_NAMES.get(signo) ?? `SIG${signo}`;
}

export function signalNumber(name: string): number | undefined {
  return (constants.signals as Record<string, number>)[name];
}

function frozen(exit_code: number | null, signal: string | null, exit_source: ExitSource): ExitStatus {
  return Object.freeze({ exit_code, signal, exit_source });
}

/** From waitid(2)'s siginfo, for a child we reaped ourselves. */
export function fromWaitid(siCode: number, siStatus: number): ExitStatus {
  switch (siCode) {
    case CLD_EXITED:
      return frozen(siStatus, null, 'waitid');
    case CLD_KILLED:
    case CLD_DUMPED:
      return frozen(null, signalName(siStatus), 'waitid');
    default:
      // CLD_STOPPED/CONTINUED/TRAPPED cannot come back for WEXITED; never invent a code.
      return frozen(null, null, 'unknown');
  }
}

/** From a raw wait(2) status word, as PIDFD_INFO_EXIT reports it (`42 << 8`, or `9`). */
export function fromWaitStatus(status: number, source: ExitSource = 'pidfd_info'): ExitStatus {
  const termsig = status & 0x7f;
  if (termsig === 0) return frozen((status >> 8) & 0xff, null, source);
  if (termsig !== 0x7f) return frozen(null, signalName(termsig), source);
  return frozen(null, null, 'unknown'); // a "stopped" word: not an exit
}

/**
 * From the keeper's exit file: the workload's exit code, or the number of the signal that ended
 * it (exactly one of the two is a number).
 */
export function fromKeeper(exitCode: number | null, signo: number | null): ExitStatus {
  if (exitCode !== null) return frozen(exitCode, null, 'keeper');
  if (signo !== null) return frozen(null, signalName(signo), 'keeper');
  return frozen(null, null, 'unknown');
}

/** From Node's ChildProcess 'exit' event (libuv reaped it with waitpid as the parent). */
export function fromNodeExit(code: number | null, signal: NodeJS.Signals | null): ExitStatus {
  if (code !== null) return frozen(code, null, 'waitid');
  if (signal !== null) return frozen(null, signal, 'waitid');
  return frozen(null, null, 'unknown');
}
