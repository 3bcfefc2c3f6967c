/**
 * A Node.js binary of the Lambda runtime's major version, for tests of code that behaves differently between
 * Node versions (worker threads and what crosses between them). Found as `IDX_LAMBDA_NODE`, as this process when
 * it already is that version, or as the official build that the npm registry publishes as `node-<os>-<cpu>`,
 * fetched once into `node_modules/.cache`. Fails loudly, saying how to provide one, when none can be had.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { LAMBDA_RUNTIME } from '../../lib/infra/bundling.ts';

const ROOT = new URL('../..', import.meta.url).pathname;

/** The major version of the Lambda runtime (`nodejs22.x` → 22). */
export function lambdaNodeMajor(): number {
  const m = /^nodejs(\d+)\./.exec(LAMBDA_RUNTIME.name);
  if (!m) throw new Error(`the Lambda runtime ${LAMBDA_RUNTIME.name} is not a Node.js runtime`);
  return Number(m[1]);
}

function majorOf(node: string): number {
  return Number(/^v(\d+)\./.exec(execFileSync(node, ['-v'], { encoding: 'utf8' }).trim())?.[1]);
}

/** The path of a Node.js binary of the Lambda runtime's major version. */
export function lambdaNode(): string {
  const major = lambdaNodeMajor();
  const given = process.env.IDX_LAMBDA_NODE;
  if (given) {
    if (majorOf(given) !== major) throw new Error(`IDX_LAMBDA_NODE=${given} is not Node.js ${major}`);
    return given;
  }
  if (Number(process.versions.node.split('.')[0]) === major) return process.execPath;
  const os = { linux: 'linux', darwin: 'darwin' }[process.platform as string];
  const cpu = { x64: 'x64', arm64: 'arm64' }[process.arch as string];
  const pkg = os && cpu ? `node-${os}-${cpu}@${major}` : undefined;
  const dir = join(ROOT, 'node_modules', '.cache', 'identity-sync', `node-${major}`);
  const binary = join(dir, 'package', 'bin', 'node');
  if (existsSync(binary)) return binary;
  // Test files run in parallel workers, and more than one may need the binary at once: each fetches into a folder
  // of its own and renames it into place; a worker that finds the place taken uses what the other one put there.
  const work = `${dir}.${process.pid}-${Date.now()}`;
  try {
    if (!pkg) throw new Error(`no build for ${process.platform}-${process.arch} on the npm registry`);
    mkdirSync(work, { recursive: true });
    execFileSync('npm', ['pack', pkg, '--pack-destination', work, '--silent'], { stdio: 'pipe', timeout: 300_000 });
    const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
    if (!tarball) throw new Error(`npm pack ${pkg} gave no tarball`);
    execFileSync('tar', ['xzf', tarball], { cwd: work, stdio: 'pipe' });
    rmSync(join(work, tarball));
    try {
      renameSync(work, dir);
    } catch (error) {
      if (!existsSync(binary)) throw error;
      rmSync(work, { recursive: true, force: true });
    }
    if (majorOf(binary) !== major) throw new Error(`${pkg} is not Node.js ${major}`);
    return binary;
  } catch (error) {
    rmSync(work, { recursive: true, force: true });
    throw new Error(
      `Node.js ${major}, the Lambda runtime, is needed to run the lane tests as deployed functions run them, and ` +
        `could not be fetched (${pkg ?? 'no package'}): ${(error as Error).message.split('\n')[0]}. Set ` +
        `IDX_LAMBDA_NODE to a Node.js ${major} binary.`,
    );
  }
}
