
/** glibc's execvp default when PATH is unset. */
const DEFAULT_PATH = '/bin:/usr/bin';

/**
 * The execve(2) candidates for a command, in execvp's order: the command itself when it
 * contains a slash, else each PATH entry, `/`, and the command, byte for byte as glibc's
 * execvpe builds them (no normalisation: `/a/../b` stays, as the kernel will resolve it); an
 * empty entry means the command as it is (the current directory). Done here, before the fork,
 * so the child allocates nothing. ffrtmp-keeper (native/keeper.c) builds the same list from the
 * same PATH, so an error's candidate index means the same path on both sides.
 */
export function commandCandidates(command: string, env: NodeJS.ProcessEnv): string[] {
  if (command.includes('/')) return [command];
  const path = env.PATH ?? DEFAULT_PATH;
  return path.split(':').map((dir) => (dir === '' ? command : `${dir}/${command}`));
}

/** `KEY=value` strings for execve's envp; undefined values are dropped. */
export function envp(env: NodeJS.ProcessEnv): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out.push(`${k}=${v}`);
  return out;
}
