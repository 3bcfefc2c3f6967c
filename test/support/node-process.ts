/**
 * Runs Node.js in a child process without blocking the test worker: a test that waits for a child for a minute
 * with spawnSync also stops the worker from answering the test runner, which then reports a timeout.
 */
import { spawn } from 'node:child_process';

/** How a child ended and what it wrote. */
export interface NodeRun {
  /** The exit code, or null when a signal ended it. */
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `node <args>` to its end. */
export function runNode(args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<NodeRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.once('error', reject);
    child.once('close', (status, signal) => resolve({ status, signal, stdout, stderr }));
  });
}
