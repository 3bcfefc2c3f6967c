import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateFile } from '../../../lib/dataflow/validate.ts';
import { deployProblems } from '../../../lib/infra/deploy-checks.ts';
import { defaultRegistry } from '../../../lib/scripts/index.ts';
import { FIXTURES_DIR } from '../../support/dataflows.ts';

/** The params a deployment of a public dataflow reports empty, as `step.param`. */
function emptyParams(file: string): string[] {
  const { dataflow } = validateFile(join(FIXTURES_DIR, file), defaultRegistry());
  return deployProblems(dataflow!, {}, defaultRegistry())
    .filter((p) => p.code === 'IDX_DEPLOY_PARAM_EMPTY')
    .map((p) => `${p.stepId}.${p.path?.split('.').pop()}`);
}

describe('deployProblems', () => {
  it('names the Marketing Cloud auth base URI and client id a deployed dataflow 09 still lacks', () => {
    // Act
    const empty = emptyParams('09-sfmc-exacttarget-outbound.json');

    // Assess
    expect(empty).toEqual(['exacttarget.authBaseUrl', 'exacttarget.clientId']);
  });

  it('names the External ID field a deployed dataflow 08 still lacks', () => {
    // Act
    const empty = emptyParams('08-salesforce-outbound.json');

    // Assess
    expect(empty).toEqual(['salesforce.primaryId']);
  });
});
