/** One capability as `ffrtmp doctor` reports it (the core and the cgroup layer both produce them). */
export interface Check {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
  /** What the user loses without it (only when !ok). */
  readonly cost?: string;
  readonly fix?: string;
}
