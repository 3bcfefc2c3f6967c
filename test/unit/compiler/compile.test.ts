import { describe, expect, it } from 'vitest';
import { type AslState, compile, taskStateNames } from '../../../lib/compiler/compile.ts';
import { readDataflow } from '../../../lib/dataflow/load.ts';
import type { Dataflow } from '../../../lib/dataflow/types.ts';
import { aslVerdict } from '../../support/asl.ts';
import { testRegistry } from '../../support/scripts.ts';

const registry = testRegistry();
const load = (json: unknown): Dataflow => {
  const { dataflow, problems } = readDataflow(json);
  if (!dataflow) throw new Error(JSON.stringify(problems));
  return dataflow;
};
const rename = (next: string[] = []) => ({
  type: 'field.rename',
  params: { fields: [{ sourceField: 'a', targetField: 'b' }] },
  next,
});
/** An SFTP reader or writer step, its password from a secret. */
const sftp = (type: string, remotePath: string, next: string[] = []) => ({
  type,
  params: { host: 'h', username: 'u', password: '${secret:PW}', remotePath },
  next,
});
const payload = (s: AslState) => (s.Parameters as { Payload: Record<string, unknown> }).Payload;

const linear = load({
  id: 'linear',
  name: 'Linear',
  steps: [
    { id: 'read', type: 'test.generate', params: { count: 3 }, next: ['rename'] },
    { id: 'rename', ...rename(['remove']) },
    { id: 'remove', type: 'field.remove', params: { fields: ['x'] } },
  ],
});

describe('compile', () => {
  it('chains job start, one Task per step and job completion', () => {
    // Act
    const asl = compile(linear, registry, { fuse: false });

    // Assess
    expect(asl.StartAt).toBe('Job: prepare');
    expect(asl.States['Job: prepare']?.Next).toBe('Job: start');
    expect(asl.States['Job: start']?.Next).toBe('Resume: read');
    expect(asl.States['Resume: read']?.Default).toBe('Init: read');
    expect(asl.States['Init: read']).toMatchObject({ Type: 'Pass', ResultPath: '$.r.s0', Next: 'Step: read' });
    expect(asl.States['Step: read']?.Next).toBe('More: read');
    expect(asl.States['More: read']).toMatchObject({
      Type: 'Choice',
      Choices: [{ Variable: '$.r.s0.value.done', BooleanEquals: false, Next: 'Step: read' }],
      Default: 'Resume: rename',
    });
    expect(asl.States['Resume: rename']?.Default).toBe('Init: rename');
    expect(asl.States['Step: rename']?.Next).toBe('More: rename');
    expect(asl.States['More: rename']).toMatchObject({ Default: 'Resume: remove' });
    expect(asl.States['More: remove']).toMatchObject({ Default: 'Job: complete' });
    expect(asl.States['Job: complete']?.Next).toBe('Job: succeeded');
    expect(aslVerdict(asl)).toEqual({ isValid: true, errors: [] });
  });

  it('passes the job, the step and references to the predecessors’ staged output', () => {
    // Act
    const asl = compile(linear, registry, { fuse: false });

    // Assess
    const task = asl.States['Step: rename'] as AslState;
    expect(task).toMatchObject({
      Type: 'Task',
      Resource: 'arn:aws:states:::lambda:invoke',
      ResultSelector: { 'value.$': '$.Payload' },
      ResultPath: '$.r.s1',
    });
    expect(payload(task)).toEqual({
      action: 'step',
      'job.$': '$.job.value',
      step: {
        id: 'rename',
        type: 'field.rename',
        key: 's1',
        params: { fields: [{ sourceField: 'a', targetField: 'b' }] },
      },
      inputs: { 'i0.$': '$.r.s0.value.out' },
      'previous.$': '$.r.s1.value',
    });
    expect((task.Parameters as Record<string, unknown>).FunctionName).toBe('${StepFunctionArn}');
  });

  it('retries transient errors with backoff and catches everything into the failure path', () => {
    // Act
    const asl = compile(linear, registry, { fuse: false });

    // Assess
    const task = asl.States['Step: rename'] as AslState;
    expect(task.Retry).toEqual([
      expect.objectContaining({
        ErrorEquals: expect.arrayContaining(['IdxTransientError', 'Lambda.ServiceException']),
        BackoffRate: 2,
        MaxAttempts: 4,
      }),
    ]);
    expect(task.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Job: record failure' }]);
    expect(asl.States['Job: record failure']?.Next).toBe('Job: retry?');
    expect(asl.States['Job: retry?']?.Default).toBe('Job: failed');
    expect(asl.States['Job: failed']).toMatchObject({ Type: 'Fail' });
  });

  it('runs a job that failed on a transient cause again, after a backoff, from the steps it had not finished', () => {
    // Act
    const asl = compile(linear, registry, { fuse: false, attempts: { maxAttempts: 5 } });

    // Assess
    expect(payload(asl.States['Job: record failure'] as AslState).retry).toEqual({
      maxAttempts: 5,
      backoffSeconds: 60,
    });
    expect(asl.States['Job: retry?']).toEqual({
      Type: 'Choice',
      Choices: [{ Variable: '$.failure.value.retry', BooleanEquals: true, Next: 'Job: backoff' }],
      Default: 'Job: failed',
    });
    expect(asl.States['Job: backoff']).toEqual({
      Type: 'Wait',
      SecondsPath: '$.failure.value.waitSeconds',
      Next: 'Job: next attempt',
    });
    expect(asl.States['Job: next attempt']).toMatchObject({
      Type: 'Pass',
      InputPath: '$.failure.value.job',
      ResultPath: '$.job.value',
      Next: 'Resume: read',
    });
    const done = (value: boolean, at: string, next: string) => ({
      And: [
        { Variable: `${at}.value.done`, IsPresent: true },
        { Variable: `${at}.value.done`, BooleanEquals: value },
      ],
      Next: next,
    });
    // A looping step that stopped mid-way goes straight back to its Task, which reads its last result.
    expect(asl.States['Resume: read']).toEqual({
      Type: 'Choice',
      Choices: [done(true, '$.r.s0', 'Resume: rename'), done(false, '$.r.s0', 'Step: read')],
      Default: 'Init: read',
    });
    expect(asl.States['Resume: remove']).toEqual({
      Type: 'Choice',
      Choices: [done(true, '$.r.s2', 'Job: complete'), done(false, '$.r.s2', 'Step: remove')],
      Default: 'Init: remove',
    });
    expect(aslVerdict(asl)).toEqual({ isValid: true, errors: [] });
  });

  it('runs the branches of a split in a Parallel state and gives a fan-in step every predecessor’s output', () => {
    // Prepare
    const df = load({
      id: 'split',
      name: 'Split',
      steps: [
        { id: 'read', type: 'test.generate', next: ['a', 'b'] },
        { id: 'a', ...rename(['join']) },
        { id: 'b', type: 'test.reject', params: { every: 2 }, next: ['join'], error: ['join'] },
        { id: 'join', type: 'field.remove', params: { fields: [] } },
      ],
    });

    // Act
    const asl = compile(df, registry);

    // Assess
    const par = asl.States['Parallel: a, b'] as AslState;
    expect(par).toMatchObject({
      Type: 'Parallel',
      ResultSelector: { 's1.$': '$[0]', 's2.$': '$[1]' },
      ResultPath: '$.r.g1',
      Next: 'Resume: join',
    });
    const branches = par.Branches as { StartAt: string; States: Record<string, AslState> }[];
    expect(branches.map((b) => b.StartAt)).toEqual(['Init: a', 'Init: b']);
    expect(branches[0]?.States['Step: a']).toMatchObject({ ResultPath: '$.r.s1', Next: 'More: a' });
    expect(branches[0]?.States['More: a']).toMatchObject({
      Type: 'Choice',
      Choices: [{ Variable: '$.r.s1.value.done', BooleanEquals: false, Next: 'Step: a' }],
      Default: 'Done: a',
    });
    expect(branches[0]?.States['Done: a']).toEqual({ Type: 'Pass', OutputPath: '$.r.s1', End: true });
    expect(payload(asl.States['Step: join'] as AslState).inputs).toEqual({
      'i0.$': '$.r.g1.s1.value.out',
      'i1.$': '$.r.g1.s2.value.out',
      'i2.$': '$.r.g1.s2.value.rejected',
    });
    expect(aslVerdict(asl)).toEqual({ isValid: true, errors: [] });
  });

  it('lists every Task state, including those inside Parallel branches', () => {
    // Prepare
    const df = load({
      id: 'x',
      name: 'x',
      steps: [
        { id: 'read', type: 'test.generate', next: ['a', 'b'] },
        { id: 'a', ...rename() },
        { id: 'b', ...rename() },
      ],
    });

    // Act
    const names = taskStateNames(compile(df, registry));

    // Assess
    expect(names.sort()).toEqual([
      'Job: complete',
      'Job: record failure',
      'Job: start',
      'Step: a',
      'Step: b',
      'Step: read',
    ]);
  });

  it('keeps state names unique and within 80 characters for long or clashing step ids', () => {
    // Prepare
    const long = 'x'.repeat(120);
    const df = load({
      id: 'names',
      name: 'names',
      steps: [
        { id: 'read', type: 'test.generate', next: [`${long}1`] },
        { id: `${long}1`, ...rename([`${long}2`]) },
        { id: `${long}2`, ...rename(['Job: start']) },
        { id: 'Job: start', ...rename() },
      ],
    });

    // Act
    const asl = compile(df, registry);

    // Assess
    const names = Object.keys(asl.States);
    expect(new Set(names).size).toBe(names.length);
    expect(names.every((n) => n.length <= 80)).toBe(true);
    expect(aslVerdict(asl)).toEqual({ isValid: true, errors: [] });
  });

  it('fuses a run of record steps into one Task and points later steps into its chain', () => {
    // Prepare
    const df = load({
      id: 'fused',
      name: 'Fused',
      steps: [
        { id: 'read', type: 'test.generate', next: ['rename'] },
        { id: 'rename', ...rename(['reject']) },
        { id: 'reject', type: 'test.reject', next: ['remove'], error: ['errors'] },
        { id: 'remove', type: 'field.remove', params: { fields: [] } },
        { id: 'errors', type: 'field.remove', params: { fields: [] } },
      ],
    });

    // Act
    const asl = compile(df, registry);

    // Assess
    const task = asl.States['Steps: read → rename → reject → remove'] as AslState;
    expect(payload(task)).toMatchObject({
      step: { id: 'read', key: 's0' },
      fused: [
        { id: 'rename', key: 's1' },
        { id: 'reject', key: 's2' },
        { id: 'remove', key: 's3' },
      ],
      'previous.$': '$.r.s0.value',
    });
    expect(payload(asl.States['Step: errors'] as AslState).inputs).toEqual({
      'i0.$': '$.r.s0.value.chain[1].rejected',
    });
    expect(aslVerdict(asl)).toEqual({ isValid: true, errors: [] });
  });

  it('streams a gunzip into the parser after it and a CSV into gzip, but stages what a writer uploads', () => {
    // Prepare
    const df = load({
      id: 'files',
      name: 'Files',
      steps: [
        { id: 'read', ...sftp('datasource.read.sftp', '/in', ['gunzip']) },
        { id: 'gunzip', type: 'file.uncompress.gzip', next: ['parse'] },
        { id: 'parse', type: 'file.parse.dsv', next: ['rename'] },
        { id: 'rename', ...rename(['format']) },
        { id: 'format', type: 'file.format.dsv', params: { fileName: 'out.csv' }, next: ['gzip'] },
        { id: 'gzip', type: 'file.compress.gzip', next: ['write'] },
        { id: 'write', ...sftp('datasource.write.sftp', '/out') },
      ],
    });

    // Act
    const asl = compile(df, registry);

    // Assess
    expect(taskStateNames(asl)).toEqual(
      expect.arrayContaining(['Step: read', 'Steps: gunzip → parse → rename → format → gzip', 'Step: write']),
    );
    expect(taskStateNames(asl).filter((n) => n.includes('gzip') || n.includes('format'))).toEqual([
      'Steps: gunzip → parse → rename → format → gzip',
    ]);
    expect(aslVerdict(asl)).toEqual({ isValid: true, errors: [] });
  });

  it('runs PGP after a formatter as a step of its own, since a file that arrives in pieces needs one stream', () => {
    // Prepare
    const df = load({
      id: 'encrypted',
      name: 'Encrypted',
      steps: [
        { id: 'read', type: 'test.generate', next: ['format'] },
        { id: 'format', type: 'file.format.dsv', params: { fileName: 'out.csv' }, next: ['pgp'] },
        { id: 'pgp', type: 'file.encrypt.pgp', params: { publicKey: '${secret:KEY}' }, next: ['write'] },
        { id: 'write', ...sftp('datasource.write.sftp', '/out') },
      ],
    });

    // Act
    const asl = compile(df, registry);

    // Assess
    expect(taskStateNames(asl)).toEqual(expect.arrayContaining(['Steps: read → format', 'Step: pgp', 'Step: write']));
    expect(aslVerdict(asl)).toEqual({ isValid: true, errors: [] });
  });

  it('streams a gunzipped JSON file into file.parse.json in the same Task', () => {
    // Prepare
    const df = load({
      id: 'json-in',
      name: 'JSON in',
      steps: [
        { id: 'read', ...sftp('datasource.read.sftp', '/in', ['gunzip']) },
        { id: 'gunzip', type: 'file.uncompress.gzip', next: ['parse'] },
        { id: 'parse', type: 'file.parse.json', next: ['rename'] },
        { id: 'rename', ...rename([]) },
      ],
    });

    // Act
    const asl = compile(df, registry);

    // Assess
    expect(taskStateNames(asl)).toEqual(expect.arrayContaining(['Step: read', 'Steps: gunzip → parse → rename']));
    expect(aslVerdict(asl)).toEqual({ isValid: true, errors: [] });
  });

  it('does not fuse a step with several successors or a step fed by several', () => {
    // Prepare
    const df = load({
      id: 'split',
      name: 'Split',
      steps: [
        { id: 'read', type: 'test.generate', next: ['a', 'b'] },
        { id: 'a', ...rename(['join']) },
        { id: 'b', ...rename(['join']) },
        { id: 'join', type: 'field.remove', params: { fields: [] } },
      ],
    });

    // Act
    const names = taskStateNames(compile(df, registry));

    // Assess
    expect(names).toEqual(expect.arrayContaining(['Step: read', 'Step: a', 'Step: b', 'Step: join']));
  });

  it('is a pure function: the same dataflow gives the same definition and is not modified', () => {
    // Prepare
    const before = JSON.stringify(linear);

    // Act
    const a = compile(linear, registry);
    const b = compile(linear, registry, {});

    // Assess
    expect(a).toEqual(b);
    expect(JSON.stringify(linear)).toBe(before);
  });

  it('substitutes the function ARN it is given', () => {
    // Act
    const asl = compile(linear, registry, { functionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:step' });

    // Assess
    expect(JSON.stringify(asl)).not.toContain('${StepFunctionArn}');
  });

  it('refuses an invalid dataflow with a coded error listing the problems', () => {
    // Prepare
    const broken = load({ id: 'b', name: 'b', steps: [{ id: 'read', type: 'test.generate', next: ['gone'] }] });

    // Act / Assess
    expect(() => compile(broken, registry)).toThrow(expect.objectContaining({ code: 'IDX_COMPILE_INVALID' }));
  });

  it('hands the whole execution input to job start, and the job it starts (a dry run too) to every later Task', () => {
    // Prepare
    const split = load({
      id: 'split',
      name: 'Split',
      steps: [
        { id: 'read', type: 'test.generate', params: { count: 3 }, next: ['a', 'b'] },
        { id: 'a', ...rename() },
        { id: 'b', type: 'field.remove', params: { fields: ['x'] } },
      ],
    });
    const tasks = (states: Record<string, AslState>): [string, AslState][] =>
      Object.entries(states).flatMap(([name, state]) =>
        state.Type === 'Parallel'
          ? (state.Branches as { States: Record<string, AslState> }[]).flatMap((b) => tasks(b.States))
          : state.Type === 'Task'
            ? [[name, state] as [string, AslState]]
            : [],
      );

    // Act
    const asl = compile(split, registry);

    // Assess
    expect(asl.States['Job: prepare']?.Parameters).toMatchObject({ 'input.$': '$' });
    expect(payload(asl.States['Job: start'] as AslState)).toMatchObject({ 'input.$': '$.input' });
    expect(asl.States['Job: start']).toMatchObject({ ResultPath: '$.job' });
    const later = tasks(asl.States).filter(([name]) => name !== 'Job: start');
    expect(later.length).toBeGreaterThan(3);
    for (const [name, task] of later) expect(payload(task)['job.$'], name).toBe('$.job.value');
    expect(aslVerdict(asl)).toEqual({ isValid: true, errors: [] });
  });

  it('hands the schedules to job start for the first run’s window', () => {
    // Prepare
    const df = load({
      ...JSON.parse(JSON.stringify({ id: 'linear', name: 'Linear', steps: linear.steps })),
      schedules: [{ name: 'nightly', frequencyType: 'day', frequencyInterval: 1 }],
    });

    // Act
    const asl = compile(df, registry);

    // Assess
    expect(payload(asl.States['Job: start'] as AslState)).toMatchObject({
      action: 'start',
      dataflow: {
        id: 'linear',
        name: 'Linear',
        schedules: [{ name: 'nightly', frequencyType: 'day', frequencyInterval: 1 }],
      },
      'input.$': '$.input',
      'execution.$': '$$.Execution',
    });
  });
});
