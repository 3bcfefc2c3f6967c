import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compile } from '../../../lib/compiler/compile.ts';
import { validateFile } from '../../../lib/dataflow/validate.ts';
import { defaultRegistry } from '../../../lib/scripts/index.ts';
import { aslVerdict } from '../../support/asl.ts';
import { fixtureFiles } from '../../support/dataflows.ts';

const files = fixtureFiles();

describe('public IdentitySync dataflows', () => {
  it('are all present beside the project', () => {
    // Assess
    expect(files).toHaveLength(21);
  });

  it('validate with no error but for the retired BlueKai service', () => {
    // Act
    const failing = files
      .map((file) => ({ file: basename(file), result: validateFile(file, defaultRegistry()) }))
      .filter(({ result }) => result.problems.some((p) => p.severity === 'error'));
    const bluekai = failing
      .find(({ file }) => file.startsWith('16-'))
      ?.result.problems.find((p) => p.code === 'IDX_STEP_TYPE_NOT_IMPLEMENTED');

    // Assess
    expect(failing.map(({ file }) => file)).toEqual(['16-bluekai-flatten.json']);
    expect(bluekai?.message).toContain('Oracle discontinued its advertising business');
  });

  it.each(files.map((f) => [basename(f), f]))(
    '%s loads unchanged and its only errors are types not implemented yet',
    (_name, file) => {
      // Act
      const result = validateFile(file, defaultRegistry());

      // Assess
      expect(result.dataflow).toBeDefined();
      const errors = result.problems.filter((p) => p.severity === 'error');
      expect(errors.filter((p) => p.code !== 'IDX_STEP_TYPE_NOT_IMPLEMENTED')).toEqual([]);
      const source = JSON.parse(readFileSync(file, 'utf8')) as { steps: unknown[] };
      expect(result.dataflow?.steps).toHaveLength(source.steps.length);
    },
  );

  it.each(files.map((f) => [basename(f), f]))('%s compiles to a valid state machine', (_name, file) => {
    // Prepare
    const { dataflow } = validateFile(file, defaultRegistry());

    // Act
    const asl = compile(dataflow!, defaultRegistry(), { allowNotImplemented: true });

    // Assess
    expect(aslVerdict(asl)).toEqual({ isValid: true, errors: [] });
  });
});
