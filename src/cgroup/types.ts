/** The cgroup layer's internal state. The shapes that reach the Result are in src/model/cgroup-report.ts. */
import type { LeafPlan } from './plan';

/** One job directory in one hierarchy: its plan, and what became of it. */
export interface LeafState extends LeafPlan {
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
