/**
 * A command's work, loaded only when the command runs: `ffrtmp run` never loads the HTTP server
 * or prom-client, `ffrtmp serve` never loads the spawn path. The loaded module's `action`
 * returns the exit status (always computed by a pure function of src/cli/exit-codes.ts);
 * errors go to src/cli/cli.ts, which maps them to messages and statuses.
 */
export interface ActionModule<A extends unknown[]> {
  action(...args: A): Promise<number>;
}

export function lazy<A extends unknown[]>(load: () => Promise<ActionModule<A>>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    const mod = await load();
    process.exitCode = await mod.action(...args);
  };
}
