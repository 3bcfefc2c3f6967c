import { App, Stack } from 'aws-cdk-lib';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { synthStack } from '../support/infra.ts';
import { alpha, beta, delta, gamma } from './dataflows.ts';

/** The AwsSolutions findings nobody fixed or acknowledged, as `rule at path` lines. */
function findings(app: App): string[] {
  const report = new AwsSolutionsChecks(app, { verbose: true }).validateScope(app);
  return report.violations.flatMap((v) =>
    v.violatingResources.map(
      (r) => `${v.ruleName} at ${(r as { constructPath?: string }).constructPath ?? r.resourceLogicalId}`,
    ),
  );
}

describe('cdk-nag AwsSolutions', () => {
  it('finds nothing unfixed or unacknowledged in a stack of dataflows with secrets, schedules, emails and S3 folders', () => {
    // Prepare
    const { app } = synthStack([alpha(), beta(), gamma()]);

    // Act
    const left = findings(app);

    // Assess
    expect(left).toEqual([]);
  });

  it('finds nothing unfixed or unacknowledged in the Scheduler schedules and the run at deployment', () => {
    // Prepare: its own stack, as one synth and check of every kind of schedule at once keeps a worker busy too long.
    const { app } = synthStack([delta()]);

    // Act
    const left = findings(app);

    // Assess
    expect(left).toEqual([]);
  });

  it('reports what it finds in a stack that ignores the rules', () => {
    // Prepare
    const app = new App();
    new Bucket(new Stack(app, 'Careless'), 'Open');

    // Act
    const left = findings(app);

    // Assess
    expect(left).toEqual(
      expect.arrayContaining([
        'AwsSolutions-S1 at Careless/Open/Resource',
        'AwsSolutions-S10 at Careless/Open/Resource',
      ]),
    );
  });
});
