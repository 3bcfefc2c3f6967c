import { describe, expect, it } from 'vitest';
import { type AslState, compile, taskStateNames } from '../../../lib/compiler/compile.ts';
import { readDataflow } from '../../../lib/dataflow/load.ts';
import type { Dataflow } from '../../../lib/dataflow/types.ts';
import { aslVerdict } from '../../support/asl.ts';
import { testRegistry } from '../../support/scripts.ts';

const registry = testRegistry();
const payload = (s: AslState) => (s.Parameters as { Payload: Record<string, unknown> }).Payload;

/** Accounts → rename → CSV, the reader's params as given. */
function exportFlow(reader: Record<string, unknown>): Dataflow {
  const { dataflow, problems } = readDataflow({
    id: 'export',
    name: 'Export',
    steps: [
      { id: 'account', type: 'datasource.read.gigya.account', params: { select: 'UID', ...reader }, next: ['rename'] },
      {
        id: 'rename',
        type: 'field.rename',
        params: { fields: [{ sourceField: 'UID', targetField: 'uid' }] },
        next: ['dsv'],
      },
      { id: 'dsv', type: 'file.format.dsv', params: { fileName: 'a.csv' } },
    ],
  });
  if (!dataflow) throw new Error(JSON.stringify(problems));
  return dataflow;
}

describe('compile: partitioned Gigya readers', () => {
  it('gives a partitioned reader a Plan Task, a Map of its partitions with bounded concurrency and a Join', () => {
    // Act
    const asl = compile(exportFlow({ maxCallsPerSecond: 10 }), registry);

    // Assess
    expect(asl.States['Resume: account']).toMatchObject({ Default: 'Plan: account' });
    expect(asl.States['Plan: account']).toMatchObject({ Type: 'Task', ResultPath: '$.r.s0', Next: 'Map: account' });
    expect(payload(asl.States['Plan: account'] as AslState)).toMatchObject({
      action: 'partitions',
      'job.$': '$.job.value',
      step: { id: 'account', key: 's0' },
    });
    const map = asl.States['Map: account'] as AslState;
    expect(map).toMatchObject({
      Type: 'Map',
      ItemsPath: '$.r.s0.value.items',
      ItemSelector: { 'job.$': '$.job', 'partition.$': '$$.Map.Item.Value', r: {} },
      // Two cursors per call of maxCallsPerSecond.
      MaxConcurrency: 20,
      ResultPath: '$.r.s0',
      Next: 'Join: account',
    });
    const iteration = (map.ItemProcessor as { StartAt: string; States: Record<string, AslState> }).States;
    expect(Object.keys(iteration)).toEqual([
      'Init: account (partition)',
      'Step: account (partition)',
      'More: account (partition)',
      'Done: account (partition)',
    ]);
    expect(payload(iteration['Step: account (partition)'] as AslState)).toMatchObject({
      action: 'step',
      'partition.$': '$.partition',
      'previous.$': '$.r.s0.value',
    });
    expect(iteration['More: account (partition)']).toMatchObject({
      Choices: [{ Variable: '$.r.s0.value.done', BooleanEquals: false, Next: 'Step: account (partition)' }],
      Default: 'Done: account (partition)',
    });
    expect(payload(asl.States['Join: account'] as AslState)).toMatchObject({ action: 'join', 'results.$': '$.r.s0' });
    expect(asl.States['Join: account']).toMatchObject({ ResultPath: '$.r.s0', Next: 'Resume: rename' });
    // What follows is not fused into the reader: it reads the partitions' staged parts, in order.
    expect(payload(asl.States['Steps: rename → dsv'] as AslState).inputs).toEqual({ 'i0.$': '$.r.s0.value.out' });
    expect(taskStateNames(asl)).toContain('Step: account (partition)');
    expect(aslVerdict(asl)).toEqual({ isValid: true, errors: [] });
  });

  it('runs at most 40 partitions at once, what an inline Map runs', () => {
    // Act
    const asl = compile(exportFlow({ maxCallsPerSecond: 50 }), registry);

    // Assess
    expect(asl.States['Map: account']).toMatchObject({ Type: 'Map', MaxConcurrency: 40 });
  });

  it('keeps the single-cursor Task loop, fused with what follows, for partitions: 1 and for a limit', () => {
    // Act
    const single = compile(exportFlow({ partitions: 1 }), registry);
    const limited = compile(exportFlow({ limit: 500 }), registry);

    // Assess
    for (const asl of [single, limited]) {
      expect(Object.values(asl.States).some((s) => s.Type === 'Map')).toBe(false);
      expect(asl.States['Steps: account → rename → dsv']).toMatchObject({ Type: 'Task' });
      expect(aslVerdict(asl)).toEqual({ isValid: true, errors: [] });
    }
  });
});
