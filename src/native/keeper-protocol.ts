/**
 * The parts of native/keeper_protocol.h that TypeScript reads: the keeper's name and its own exit
 * codes (how the wrapper, its parent, learns whether the exit file was written).
 */
export const KEEPER_NAME = 'ffrtmp-keeper';

/** FFRTMP_KEEPER_PROTOCOL: what `ffrtmp-keeper --version` must say. */
export const KEEPER_PROTOCOL = 1;

export const KEEPER_EXIT = {
  /** The exit file is written and durable. */
  recorded: 0,
  /** Not started by ffrtmp. */
  usage: 64,
  /** pipe/fork failed: no workload. */
  setup: 71,
  /** The workload ended but the exit file could not be written. */
  notWritten: 74,
  /** The workload's execve failed: no exit file. */
  notStarted: 127,
} as const;
