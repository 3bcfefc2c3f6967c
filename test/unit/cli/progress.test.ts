import { describe, expect, it } from 'vitest';
import { progressPrinter } from '../../../lib/cli/run.ts';
import { type StepCounters, zeroCounters } from '../../../lib/core/refs.ts';

const counters = (c: Partial<StepCounters>): StepCounters => ({ ...zeroCounters(), ...c });

describe('progressPrinter', () => {
  it("prints a reader's records so far with their rate, at most every ten seconds when output is a log", () => {
    // Prepare
    let clock = 0;
    const lines: string[] = [];
    const print = progressPrinter(
      (l) => lines.push(l),
      () => clock,
    );

    // Act
    print({ kind: 'step-started', stepId: 'account', type: 'datasource.read.gigya.account', iteration: 0 });
    for (const [at, out] of [
      [2_000, 0],
      [4_000, 8_000],
      [6_000, 12_000],
      [14_000, 28_000],
    ] as const) {
      clock = at;
      print({ kind: 'step-progress', stepId: 'account', counters: counters({ recordsOut: out }) });
    }

    // Assess
    expect(lines).toEqual([
      '▶ account (datasource.read.gigya.account)',
      '  … account: 8,000 records out, 2,000/s after 4 s',
      '  … account: 28,000 records out, 2,000/s after 14 s',
    ]);
  });

  it('rewrites one live line on a terminal, and shows files and bytes of file steps', () => {
    // Prepare
    let clock = 0;
    const lines: string[] = [];
    const live: string[] = [];
    const print = progressPrinter({ line: (l) => lines.push(l), live: (l) => live.push(l) }, () => clock);

    // Act
    print({ kind: 'step-started', stepId: 'parse', type: 'file.parse.dsv', iteration: 0 });
    clock = 2_000;
    print({
      kind: 'step-progress',
      stepId: 'parse',
      counters: counters({ filesIn: 1, bytesIn: 2048, recordsOut: 500 }),
    });
    clock = 4_000;
    print({
      kind: 'step-progress',
      stepId: 'parse',
      counters: counters({ filesIn: 1, bytesIn: 4096, recordsOut: 1000 }),
    });
    print({
      kind: 'step-finished',
      result: {
        stepId: 'parse',
        type: 'file.parse.dsv',
        out: { kind: 'records', parts: [], count: 1000 },
        rejected: { kind: 'records', parts: [], count: 0 },
        counters: counters({ filesIn: 1, bytesIn: 4096, recordsOut: 1000 }),
        done: true,
        iteration: 1,
      },
    });

    // Assess
    expect(live).toEqual([
      '  … parse: 500 records out, 250/s, 1 file(s) 2.0 KB in after 2 s',
      '  … parse: 1,000 records out, 250/s, 1 file(s) 4.0 KB in after 4 s',
    ]);
    expect(lines.at(-1)).toBe('✓ parse: 0 in, 1000 out, 0 rejected, 1 file(s) 4.0 KB in');
  });

  it("ends a dry run's writer with what it would have written", () => {
    // Prepare
    const lines: string[] = [];
    const print = progressPrinter((l) => lines.push(l));
    const finished = (stepId: string, c: Partial<StepCounters>, wouldWrite: Record<string, unknown>) =>
      print({
        kind: 'step-finished',
        result: {
          stepId,
          type: 't',
          out: { kind: 'nothing' },
          rejected: { kind: 'records', parts: [], count: 0 },
          counters: counters(c),
          done: true,
          iteration: 1,
          wouldWrite: { records: 0, calls: 0, bytes: 0, files: [], sampleCalls: [], ...wouldWrite },
        },
      });

    // Act
    finished(
      'sftp',
      { filesIn: 1, bytesIn: 2048 },
      { bytes: 2048, files: [{ name: 'a.csv', target: 'sftp://u@h:22/out/a.csv', size: 2048 }] },
    );
    finished('gigya', { recordsIn: 3, recordsOut: 2, recordsRejected: 1 }, { records: 2, calls: 2 });

    // Assess
    expect(lines).toEqual([
      '✓ sftp: 0 in, 0 out, 0 rejected, 1 file(s) 2.0 KB in, would write sftp://u@h:22/out/a.csv (2.0 KB)',
      '✓ gigya: 3 in, 2 out, 1 rejected, would write 2 record(s) in 2 call(s)',
    ]);
  });
});
