/**
 * Runs Lethe as a child process (`src/main.ts`, the code `npm start` runs, from source through
 * SWC: scripts/swc-register.mjs keeps the decorator metadata DTO validation needs), so a test or
 * a bench can SIGKILL it and start it again on the same data: what an in-process app cannot show
 * (a killed process runs no shutdown hook, no finally, no hand-back).
 *
 *   const svc = await startServiceProcess({ LETHE_DATA_DIR: dir, LETHE_ADMIN_KEY: key });
 *   await svc.kill('SIGKILL');
 *   const again = await startServiceProcess({ LETHE_DATA_DIR: dir, LETHE_ADMIN_KEY: key });
 *   await again.stop();
 */
import { spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const READY = /listening on (http:\/\/[^\s"]+?) \(docs/;
const KEEP_OUTPUT = 64 * 1024;

export interface ServiceProcess {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly pid: number;
  /** Milliseconds from spawn to the ready log line. */
  readonly readyMs: number;
  /** Sends `signal` and resolves when the process is gone. */
  kill(signal: NodeJS.Signals): Promise<void>;
  /** SIGTERM (graceful shutdown), SIGKILL after `timeoutMs`. */
  stop(timeoutMs?: number): Promise<void>;
  /** The last 64 KiB of stdout + stderr, for failure messages. */
  output(): string;
}

/**
 * Spawns the service with `env` over the parent's environment (PORT 0 on 127.0.0.1 and log level
 * info unless given: the ready line carries the URL) and resolves once it listens.
 */
export async function startServiceProcess(env: Record<string, string>, timeoutMs = 120_000): Promise<ServiceProcess> {
  const started = Date.now();
  const child = spawn(process.execPath, ['--import', './scripts/swc-register.mjs', 'src/main.ts'], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LETHE_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const append = (d: Buffer) => {
    out = (out + d.toString('utf8')).slice(-KEEP_OUTPUT);
  };
  child.stdout.on('data', append);
  child.stderr.on('data', append);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));

  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the service did not start within ${timeoutMs} ms:\n${out.slice(-4000)}`));
    }, timeoutMs);
    const look = () => {
      const m = READY.exec(out);
      if (!m) return;
      clearTimeout(timer);
      child.stdout.off('data', look);
      child.stderr.off('data', look);
      resolveUrl(m[1]);
    };
    child.stdout.on('data', look);
    child.stderr.on('data', look);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the service exited (${code ?? signal}) before it was ready:\n${out.slice(-4000)}`));
    });
  });
  const readyMs = Date.now() - started;

  const kill = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  return {
    url,
    pid: child.pid as number,
    readyMs,
    kill,
    async stop(stopTimeoutMs = 30_000) {
      const timer = setTimeout(() => child.kill('SIGKILL'), stopTimeoutMs);
      await kill('SIGTERM');
      clearTimeout(timer);
    },
    output: () => out,
  };
}
