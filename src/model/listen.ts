/** `--listen` for `ffrtmp serve` and `ffrtmp watch`: parsed apart from the servers so the CLI can check it without loading HTTP. */
import { UsageError } from './errors';
import { quote } from './quote';

export const DEFAULT_LISTEN = '127.0.0.1:9090';

export interface ListenAddress {
  host: string;
  port: number;
}

/** `host:port`, `[v6]:port` or `:port` (all interfaces). Throws UsageError. */
export function parseListen(value: string): ListenAddress {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:\s[\]]*)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new UsageError(`--listen ${quote(value)} is not HOST:PORT (e.g. 127.0.0.1:9090, [::1]:9090, :9090)`);
  }
  const host = m[1] ?? (m[2] === '' ? '0.0.0.0' : m[2]!);
  return { host, port };
}
