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
  /**
   * Created by an earlier owner of this very run (a wrapper that died or detached) and taken
   * over from the journal by whoever records the job's end: ours to read and remove.
   */
  adopted: boolean;
  /** The directory exists and is ours to place processes in. */
  usable: boolean;
}
