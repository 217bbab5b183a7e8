import { delimiter, join } from 'node:path';

/** glibc's execvp default when PATH is unset. */
const DEFAULT_PATH = '/bin:/usr/bin';

/**
 * The execve(2) candidates for a command, in execvp's order: the command itself when it
 * contains a slash, else each PATH entry joined with it (an empty entry means the current
 * directory, as in execvp). Done here, before the fork, so the child allocates nothing.
 */
export function commandCandidates(command: string, env: NodeJS.ProcessEnv): string[] {
  if (command.includes('/')) return [command];
  const path = env.PATH ?? DEFAULT_PATH;
  return path.split(delimiter).map((dir) => (dir === '' ? command : join(dir, command)));
}

/** `KEY=value` strings for execve's envp; undefined values are dropped. */
export function envp(env: NodeJS.ProcessEnv): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out.push(`${k}=${v}`);
  return out;
}
