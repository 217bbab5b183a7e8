/**
 * The RTMP server the operator tests push to: Debian's nginx with libnginx-mod-rtmp, started by
 * the test itself on 127.0.0.1 in its own temp dir (no daemon, no master, its pid file there).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { exited, waitFor } from '../helpers';

export const RTMP_MODULE = '/usr/lib/nginx/modules/ngx_rtmp_module.so';

const have = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

/** Whether ffmpeg, nginx and the RTMP module are installed; warns loudly (once per file) if not. */
export function rtmpReady(what: string): boolean {
  const ready = have('ffmpeg') && have('nginx') && fs.existsSync(RTMP_MODULE);
  if (!ready) console.warn(`SKIPPED ${what}: needs ffmpeg, nginx and ${RTMP_MODULE} (apt-get install ffmpeg nginx libnginx-mod-rtmp)`);
  return ready;
}

export interface RtmpServer {
  process: ChildProcess;
  stop(): Promise<void>;
}

/** Starts nginx in `work` with `applications` (the body of `rtmp { server { … } }` after `listen`). */
export async function startRtmpServer(work: string, port: number, applications: string): Promise<RtmpServer> {
  const conf = path.join(work, 'nginx.conf');
  fs.writeFileSync(conf, `
load_module ${RTMP_MODULE};
daemon off;
master_process off;
pid ${work}/nginx.pid;
error_log ${work}/error.log info;
events { worker_connections 256; }
rtmp {
  server {
    listen 127.0.0.1:${port};
${applications}
  }
}
`);
  const nginx = spawn('nginx', ['-p', work, '-c', conf], { stdio: 'ignore' });
  await waitFor(() => fs.existsSync(path.join(work, 'nginx.pid')) || undefined, 10_000);
  return {
    process: nginx,
    async stop() {
      if (nginx.exitCode !== null || nginx.signalCode !== null) return;
      nginx.kill('SIGTERM');
      await exited(nginx);
    },
  };
}
