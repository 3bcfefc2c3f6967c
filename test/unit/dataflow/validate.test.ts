import { describe, expect, it } from 'vitest';
import { defineScript } from '../../../lib/core/script.ts';
import { readDataflow } from '../../../lib/dataflow/load.ts';
import { validateDataflow, validateText } from '../../../lib/dataflow/validate.ts';
import { baseDataflow } from '../../support/dataflows.ts';
import { testRegistry } from '../../support/scripts.ts';

const filesOnly = defineScript({
  type: 'test.files',
  summary: 'Consumes files (tests only).',
  consumes: 'files',
  produces: 'nothing',
  params: {},
  create: () => ({ file: async () => undefined }),
});
const registry = testRegistry().register(filesOnly);

type Mutate = (d: ReturnType<typeof baseDataflow>) => unknown;
const step = (d: ReturnType<typeof baseDataflow>, i: number) => d.steps[i] as Record<string, unknown>;
/** Changes fields of step i and returns the dataflow. */
const withStep = (d: ReturnType<typeof baseDataflow>, i: number, patch: Record<string, unknown>) => {
  Object.assign(step(d, i), patch);
  return d;
};
/** Sets one param of step i and returns the dataflow. */
const withParam = (d: ReturnType<typeof baseDataflow>, i: number, key: string, value: unknown) => {
  (step(d, i).params as Record<string, unknown>)[key] = value;
  return d;
};

/** Each case breaks the valid base dataflow in one way and names the code it must produce. */
const cases: [string, Mutate, string, string?][] = [
  ['the file is not an object', () => [1, 2], 'IDX_DATAFLOW_SHAPE'],
  ['the name is missing', (d) => ({ ...d, name: undefined }), 'IDX_DATAFLOW_SHAPE'],
  ['steps is empty', (d) => ({ ...d, steps: [] }), 'IDX_DATAFLOW_SHAPE'],
  [
    'a step has no id',
    (d) => ({ ...d, steps: [...d.steps, { type: 'field.remove', params: { fields: [] } }] }),
    'IDX_STEP_SHAPE',
  ],
  ['a step has no type', (d) => ({ ...d, steps: [...d.steps, { id: 'x' }] }), 'IDX_STEP_SHAPE'],
  ['next is not a list', (d) => withStep(d, 0, { next: 'rename' }), 'IDX_STEP_SHAPE', 'read'],
  ['a type nobody knows', (d) => withStep(d, 2, { type: 'field.teleport' }), 'IDX_STEP_TYPE_UNKNOWN', 'remove'],
  [
    'an IdentitySync type not implemented here',
    (d) => withStep(d, 2, { type: 'datasource.write.bluekai' }),
    'IDX_STEP_TYPE_NOT_IMPLEMENTED',
    'remove',
  ],
  ['an unknown param', (d) => withParam(d, 2, 'feilds', ['x']), 'IDX_PARAM_UNKNOWN', 'remove'],
  ['a mistyped param', (d) => withStep(d, 2, { params: { fields: 'profile' } }), 'IDX_PARAM_TYPE', 'remove'],
  [
    'a mistyped nested param',
    (d) => withStep(d, 1, { params: { fields: [{ sourceField: 1, targetField: 'A' }] } }),
    'IDX_PARAM_TYPE',
    'rename',
  ],
  ['a missing required param', (d) => withStep(d, 1, { params: {} }), 'IDX_PARAM_MISSING', 'rename'],
  [
    'a missing required nested param',
    (d) => withStep(d, 1, { params: { fields: [{ sourceField: 'a' }] } }),
    'IDX_PARAM_MISSING',
    'rename',
  ],
  ['a number out of range', (d) => withStep(d, 0, { params: { count: 1.5 } }), 'IDX_PARAM_TYPE', 'read'],
  [
    'a duplicate step id',
    (d) => ({ ...d, steps: [...d.steps, { id: 'remove', type: 'field.remove', params: { fields: [] } }] }),
    'IDX_STEP_DUPLICATE_ID',
    'remove',
  ],
  ['next names a missing step', (d) => withStep(d, 2, { next: ['nowhere'] }), 'IDX_EDGE_MISSING_STEP', 'remove'],
  ['error names a missing step', (d) => withStep(d, 1, { error: ['nowhere'] }), 'IDX_EDGE_MISSING_STEP', 'rename'],
  ['no entry point', (d) => withStep(d, 2, { next: ['read'] }), 'IDX_GRAPH_NO_ENTRY'],
  [
    'two entry points',
    (d) => ({ ...d, steps: [...d.steps, { id: 'other', type: 'test.generate', next: ['remove'] }] }),
    'IDX_GRAPH_MULTIPLE_ENTRIES',
  ],
  ['a cycle', (d) => withStep(d, 2, { next: ['rename'] }), 'IDX_GRAPH_CYCLE'],
  [
    'an unreachable step',
    (d) => ({
      ...d,
      steps: [
        ...d.steps,
        { id: 'x', type: 'field.remove', params: { fields: [] }, next: ['y'] },
        { id: 'y', type: 'field.remove', params: { fields: [] }, next: ['x'] },
      ],
    }),
    'IDX_GRAPH_UNREACHABLE',
    'x',
  ],
  [
    'records into a step that consumes files',
    (d) => ({
      ...d,
      steps: [...d.steps.slice(0, 2), { ...step(d, 2), next: ['files'] }, { id: 'files', type: 'test.files' }],
    }),
    'IDX_EDGE_KIND',
    'remove',
  ],
  [
    'a step that produces nothing feeding another',
    (d) => ({
      ...d,
      steps: [
        ...d.steps.slice(0, 2),
        { ...step(d, 2), next: ['files'] },
        { id: 'files', type: 'test.files', next: ['more'] },
        { id: 'more', type: 'test.files' },
      ],
    }),
    'IDX_EDGE_KIND',
    'files',
  ],
  [
    'a reader in the middle of the flow',
    (d) => ({
      ...d,
      steps: [...d.steps.slice(0, 2), { ...step(d, 2), next: ['again'] }, { id: 'again', type: 'test.generate' }],
    }),
    'IDX_EDGE_KIND',
    'remove',
  ],
  ['an entry step that needs input', (d) => ({ ...d, steps: d.steps.slice(1) }), 'IDX_GRAPH_ENTRY_KIND', 'rename'],
  ['a plaintext password', (d) => withParam(d, 2, 'password', 'hunter22'), 'IDX_CREDENTIAL_PLAINTEXT', 'remove'],
  [
    'a plaintext nested secretKey',
    (d) => withParam(d, 1, 'fields', [{ sourceField: 'a', targetField: 'b', secretKey: 'AKIAxyz' }]),
    'IDX_CREDENTIAL_PLAINTEXT',
    'rename',
  ],
  [
    'an unknown placeholder',
    (d) => withStep(d, 1, { params: { fields: [{ sourceField: 'a', targetField: '${tomorrow}' }] } }),
    'IDX_PLACEHOLDER_UNKNOWN',
    'rename',
  ],
  [
    'an unsupported date pattern letter',
    (d) => withStep(d, 1, { params: { fields: [{ sourceField: 'a', targetField: 'x_${now:yyyyQQ}' }] } }),
    'IDX_PLACEHOLDER_PATTERN',
    'rename',
  ],
  [
    'a schedule with an unknown frequency',
    (d) => ({ ...d, schedules: [{ name: 'n', frequencyType: 'fortnight' }] }),
    'IDX_SCHEDULE_FIELD',
  ],
  [
    'a schedule with a bad start time',
    (d) => ({
      ...d,
      schedules: [{ name: 'n', frequencyType: 'day', frequencyInterval: 1, nextJobStartTime: 'tomorrow at two' }],
    }),
    'IDX_SCHEDULE_FIELD',
  ],
  ['schedules that is not a list', (d) => ({ ...d, schedules: { name: 'n' } }), 'IDX_SCHEDULE_SHAPE'],
];

describe('validateDataflow', () => {
  it('accepts the base dataflow with no problems', () => {
    // Act
    const { dataflow, problems } = readDataflow(baseDataflow());
    const all = [...problems, ...validateDataflow(dataflow!, registry)];

    // Assess
    expect(all).toEqual([]);
  });

  it.each(cases)('rejects %s with its code', (_name, mutate, code, stepId) => {
    // Prepare
    const json = JSON.stringify(mutate(baseDataflow()));

    // Act
    const result = validateText(json, registry, { file: 'flows/broken.json' });

    // Assess
    expect(result.valid).toBe(false);
    const found = result.problems.find((p) => p.code === code && (stepId === undefined || p.stepId === stepId));
    expect(found, `${code} in ${JSON.stringify(result.problems, null, 1)}`).toBeDefined();
    expect(found).toMatchObject({ severity: 'error', file: 'flows/broken.json' });
    expect(found?.path).toMatch(/^\$/);
    expect(found?.message.length).toBeGreaterThan(10);
    if (stepId) expect(found?.stepId).toBe(stepId);
  });

  it('reports every problem of a dataflow at once', () => {
    // Prepare
    const d = baseDataflow();
    step(d, 1).params = {};
    step(d, 2).type = 'field.teleport';
    step(d, 2).next = ['nowhere'];

    // Act
    const codes = validateText(JSON.stringify(d), registry).problems.map((p) => p.code);

    // Assess
    expect(codes).toEqual(
      expect.arrayContaining(['IDX_PARAM_MISSING', 'IDX_STEP_TYPE_UNKNOWN', 'IDX_EDGE_MISSING_STEP']),
    );
  });

  it('reports a file that is not JSON with its own code', () => {
    // Act
    const result = validateText('{"name": "x", steps: []', registry, { file: 'x.json' });

    // Assess
    expect(result.problems.map((p) => p.code)).toEqual(['IDX_JSON_SYNTAX']);
  });

  it('never echoes a plaintext credential in the problem', () => {
    // Prepare
    const d = baseDataflow();
    (step(d, 2).params as Record<string, unknown>).password = 'correct-horse-battery';

    // Act
    const text = JSON.stringify(validateText(JSON.stringify(d), registry).problems);

    // Assess
    expect(text).not.toContain('correct-horse-battery');
  });

  it('accepts secret references, the console mask, and warns about blank template credentials', () => {
    // Prepare
    const d = baseDataflow();
    step(d, 1).params = { fields: [{ sourceField: 'a', targetField: 'b', password: '${secret:SFTP_PASSWORD}' }] };
    (step(d, 2).params as Record<string, unknown>).secretKey = '********';
    (step(d, 2).params as Record<string, unknown>).passphrase = '{{ passphrase }}';

    // Act
    const problems = validateText(JSON.stringify(d), registry).problems.filter(
      (p) => p.code === 'IDX_CREDENTIAL_UNSET' || p.code === 'IDX_CREDENTIAL_PLAINTEXT',
    );

    // Assess
    expect(problems.map((p) => [p.code, p.severity])).toEqual([['IDX_CREDENTIAL_UNSET', 'warning']]);
  });

  it('keeps the fields a console export carries', () => {
    // Prepare
    const json = {
      ...baseDataflow(),
      apiKey: '3_abc',
      siteId: 123,
      status: 'published',
      version: 4,
      updatedByEmail: 'a@b.c',
    };

    // Act
    const { dataflow } = readDataflow(json);

    // Assess
    expect(dataflow?.apiKey).toBe('3_abc');
    expect(dataflow?.extra).toEqual({ siteId: 123, status: 'published', version: 4, updatedByEmail: 'a@b.c' });
  });
});
