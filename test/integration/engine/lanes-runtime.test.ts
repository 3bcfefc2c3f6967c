import { describe, expect, it } from 'vitest';
import { runChild } from '../../support/child.ts';
import { lambdaNode, lambdaNodeMajor } from '../../support/lambda-node.ts';

const ROOT = new URL('../../..', import.meta.url).pathname;

describe('lanes on the Lambda runtime', () => {
  it(`pass their tests on Node.js ${lambdaNodeMajor()}, which deployed step functions run`, async () => {
    // Prepare
    const node = lambdaNode();

    // Act
    const run = await runChild(
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
        timeoutMs: 240_000,
      },
    );

    // Assess
    const version = (await runChild(node, ['-v'])).stdout.trim();
    expect(version.startsWith(`v${lambdaNodeMajor()}.`)).toBe(true);
    expect(run.status, `${run.stdout}\n${run.stderr}`.slice(-4000)).toBe(0);
    expect(run.stdout).toMatch(/Tests\s+\d+ passed/);
  }, 600_000);
});
