/**
 * The dataflows this deployment ships (`dataflows/`): each compiles to a state machine `asl-validator` accepts,
 * and the CDK app synthesizes them offline, as `cdk synth` runs it (a child process of bin/app.ts with the
 * context and output folder in the environment, no AWS credentials, no network), with every deployed
 * definition valid too. The real esbuild bundling is covered once in app.test.ts; it is skipped here.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compile } from '../../lib/compiler/compile.ts';
import { validateFile } from '../../lib/dataflow/validate.ts';
import { defaultRegistry } from '../../lib/scripts/index.ts';
import { aslVerdict } from '../support/asl.ts';
import { runChild } from '../support/child.ts';
import { ELOQUA_DEPLOYMENT_PARAMS, render } from '../support/infra.ts';

const ROOT = resolve(__dirname, '../..');
const shipped = readdirSync(join(ROOT, 'dataflows'))
  .filter((f) => f.endsWith('.json'))
  .sort();

describe('the shipped dataflows', () => {
  it.each(shipped)('%s compiles to a state machine that passes asl-validator', (file) => {
    // Prepare
    const { dataflow, valid, problems } = validateFile(join(ROOT, 'dataflows', file), defaultRegistry());
    expect(valid, JSON.stringify(problems)).toBe(true);

    // Act
    const asl = compile(dataflow!, defaultRegistry(), {
      functionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:identity-sync-step',
    });

    // Assess
    expect(aslVerdict(asl)).toEqual({ isValid: true, errors: [] });
  });

  it('synthesize offline with the CDK app, every deployed definition passing asl-validator', async () => {
    // Prepare
    const out = mkdtempSync(join(tmpdir(), 'idx-cdkout-'));
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      // The shipped Eloqua flows leave their SFTP host and login to the deployment (local mode's embedded server).
      CDK_CONTEXT_JSON: JSON.stringify({
        'aws:cdk:bundling-stacks': [],
        'identity-sync:params': ELOQUA_DEPLOYMENT_PARAMS,
      }),
      CDK_OUTDIR: out,
      AWS_EC2_METADATA_DISABLED: 'true',
    };

    try {
      // Act
      const r = await runChild(process.execPath, ['--import', 'tsx', 'bin/app.ts'], {
        cwd: ROOT,
        env,
        timeoutMs: 240_000,
      });

      // Assess
      expect(r.status, r.stderr.slice(-4000)).toBe(0);
      const template = JSON.parse(readFileSync(join(out, 'IdentitySync.template.json'), 'utf8')) as {
        Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
      };
      const machines = Object.values(template.Resources).filter((x) => x.Type === 'AWS::StepFunctions::StateMachine');
      expect(machines.map((m) => m.Properties.StateMachineName).sort()).toEqual(
        shipped.map((f) => `identity-sync-${f.replace(/\.json$/, '')}`).sort(),
      );
      for (const m of machines) {
        const definition = JSON.parse(
          String(
            render(m.Properties.DefinitionString, (ref) => `arn:aws:lambda:eu-west-1:123456789012:function:${ref}`),
          ),
        ) as unknown;
        expect(aslVerdict(definition), String(m.Properties.StateMachineName)).toEqual({ isValid: true, errors: [] });
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 240_000);
});
