import { execFile, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { lambdaNode, lambdaNodeMajor } from '../../support/lambda-node.ts';

const ROOT = new URL('../../..', import.meta.url).pathname;

describe('lanes on the Lambda runtime', () => {
  it(`pass their tests on Node.js ${lambdaNodeMajor()}, which deployed step functions run`, async () => {
    // Prepare
    const node = lambdaNode();

    // Act: without blocking this worker, which would miss its runner's calls during a run of a minute or more.
    const run = await new Promise<{ status: number; stdout: string; stderr: string }>((done) => {
      execFile(
        node,
        [
          'node_modules/vitest/vitest.mjs',
          'run',
          '--reporter=dot',
          'test/integration/engine/lanes.test.ts',
          'test/unit/engine/lanes.test.ts',
        ],
        {
          cwd: ROOT,
          env: { ...process.env, IDX_LAMBDA_NODE: '', NO_COLOR: '1', FORCE_COLOR: '0' },
          timeout: 240_000,
          maxBuffer: 16 * 1024 * 1024,
        },
        (error, stdout, stderr) =>
          done({ status: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
      );
    });

    // Assess
    const version = spawnSync(node, ['-v'], { encoding: 'utf8' }).stdout.trim();
    expect(version.startsWith(`v${lambdaNodeMajor()}.`)).toBe(true);
    expect(run.status, `${run.stdout}\n${run.stderr}`.slice(-4000)).toBe(0);
    expect(run.stdout).toMatch(/Tests\s+\d+ passed/);
  }, 600_000);
});
