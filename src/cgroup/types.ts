/** The cgroup layer's internal state. The shapes that reach the Result are in src/model/cgroup-report.ts. */
import type { Resource } from './detect';

/** One job directory in one hierarchy. */
export interface LeafState {
  readonly kind: 'v2' | 'v1';
  readonly mountPoint: string;
  readonly dir: string;
  /** v1: controllers of the hierarchy; v2: controllers we needed enabled for it. */
  readonly controllers: readonly string[];
  /** What this leaf is used for. */
  readonly resources: readonly Resource[];
  /** Carries at least one requested limit (placement failure here is a violation). */
  readonly governs: boolean;
  /** We made the directory (mkdir succeeded). */
  created: boolean;
  /** It existed, empty, and we took it over (a leftover of a crashed run with the same id). */
  reused: boolean;
  /** The directory exists and is ours to place processes in. */
  usable: boolean;
}
