/**
 * Runs a child process without blocking the test worker: a synchronous spawn freezes the worker's event loop
 * for the child's whole run, and on a loaded machine vitest's own messages from that worker then time out.
 */
import { spawn } from 'node:child_process';

/** What a finished child process left. */
export interface ChildResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `command` with `args` to its end (killed after `timeoutMs`); output is kept up to `maxBytes` each, the tail. */
export function runChild(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; maxBytes?: number } = {},
): Promise<ChildResult> {
  const maxBytes = options.maxBytes ?? 1 << 20;
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], {
      ...(options.cwd ? { cwd: options.cwd } : {}),
      ...(options.env ? { env: options.env } : {}),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out = { stdout: '', stderr: '' };
    const keep = (key: 'stdout' | 'stderr') => (chunk: Buffer) => {
      out[key] = (out[key] + chunk.toString('utf8')).slice(-maxBytes);
    };
    child.stdout.on('data', keep('stdout'));
    child.stderr.on('data', keep('stderr'));
    const timer = options.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), options.timeoutMs) : undefined;
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, ...out });
    });
  });
}
