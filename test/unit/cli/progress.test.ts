import { describe, expect, it } from 'vitest';
import { finishedLine, progressPrinter } from '../../../lib/cli/run.ts';
import { type StepCounters, type StepResult, zeroCounters } from '../../../lib/core/refs.ts';

const counters = (c: Partial<StepCounters>): StepCounters => ({ ...zeroCounters(), ...c });

const finished = (stepId: string, type: string, c: Partial<StepCounters>, files?: StepResult['files']): StepResult => ({
  stepId,
  type,
  out: { kind: 'nothing' },
  rejected: { kind: 'records', parts: [], count: 0 },
  counters: counters({ invocations: 1, ...c }),
  done: true,
  iteration: 1,
  ...(files ? { files } : {}),
});

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

  it("rewrites one live line on a terminal with a reader's pages, its share of the announced total and the time left", () => {
    // Prepare
    const live: string[] = [];
    const print = progressPrinter({ line: () => undefined, live: (l) => live.push(l) }, () => 0);

    // Act
    print({ kind: 'step-started', stepId: 'account', type: 'datasource.read.gigya.account', iteration: 0 });
    print({
      kind: 'step-progress',
      stepId: 'account',
      counters: counters({ recordsOut: 50_000, pages: 50, expected: 200_000 }),
      elapsedMs: 20_000,
    });
    print({
      kind: 'step-progress',
      stepId: 'account',
      counters: counters({ recordsOut: 150_000, pages: 150, expected: 200_000 }),
      elapsedMs: 3_000_000,
    });

    // Assess
    expect(live).toEqual([
      '  … account: 50,000 of 200,000 records (25%), 50 pages, 2,500/s after 20 s, ~60 s left',
      '  … account: 150,000 of 200,000 records (75%), 150 pages, 50/s after 50 min 0 s, ~16 min 40 s left',
    ]);
  });

  it('measures the rate over every invocation of a continuing step, as the engine reports its elapsed time', () => {
    // Prepare
    let clock = 0;
    const live: string[] = [];
    const print = progressPrinter({ line: () => undefined, live: (l) => live.push(l) }, () => clock);

    // Act
    // The third invocation started a second ago; the step ran 40 s over all three.
    print({ kind: 'step-started', stepId: 'account', type: 'datasource.read.gigya.account', iteration: 2 });
    clock = 1_000;
    print({
      kind: 'step-progress',
      stepId: 'account',
      counters: counters({ recordsOut: 40_000, pages: 40 }),
      elapsedMs: 40_000,
    });

    // Assess
    expect(live).toEqual(['  … account: 40,000 records out, 40 pages, 1,000/s after 40 s']);
  });

  it('shows files and bytes of a file step while it runs, and speaks for the Task with its first running step', () => {
    // Prepare
    const live: string[] = [];
    const print = progressPrinter({ line: () => undefined, live: (l) => live.push(l) }, () => 2_000);

    // Act
    print({ kind: 'step-started', stepId: 'parse', type: 'file.parse.dsv', iteration: 0 });
    print({ kind: 'step-started', stepId: 'rename', type: 'field.rename', iteration: 0 });
    print({ kind: 'step-progress', stepId: 'rename', counters: counters({ recordsIn: 500, recordsOut: 500 }) });
    print({
      kind: 'step-progress',
      stepId: 'parse',
      counters: counters({ filesIn: 1, bytesIn: 2048, recordsOut: 500, recordsRejected: 3 }),
      elapsedMs: 2_000,
    });

    // Assess
    expect(live).toEqual(['  … parse: 503 records out, 252/s after 2 s, 3 rejected, 1 file(s) 2.0 KB in']);
  });
  it("adds to the lead's line the bytes the file steps of its Task wrote so far", () => {
    // Prepare
    const live: string[] = [];
    const print = progressPrinter({ line: () => undefined, live: (l) => live.push(l) }, () => 0);
    print({ kind: 'step-started', stepId: 'account', type: 'datasource.read.gigya.account', iteration: 0 });
    print({ kind: 'step-started', stepId: 'dsv', type: 'file.format.dsv', iteration: 0 });

    // Act
    for (const [out, size] of [
      [1_000, 0],
      [2_000, 90_000],
    ] as const) {
      print({ kind: 'step-progress', stepId: 'account', counters: counters({ recordsOut: out }), elapsedMs: 1_000 });
      print({
        kind: 'step-progress',
        stepId: 'dsv',
        counters: counters({ recordsIn: out, filesOut: 1, bytesOut: size }),
        elapsedMs: 1_000,
      });
    }
    print({ kind: 'step-progress', stepId: 'account', counters: counters({ recordsOut: 2_000 }), elapsedMs: 1_000 });

    // Assess
    expect(live).toEqual([
      '  … account: 1,000 records out, 1,000/s after 1 s',
      '  … account: 2,000 records out, 2,000/s after 1 s',
      '  … account: 2,000 records out, 2,000/s after 1 s; dsv: 87.9 KB out',
    ]);
  });
});

describe('finishedLine', () => {
  it("says a reader's records out and its own time, without an input it does not have", () => {
    // Act
    const line = finishedLine(
      finished('account', 'datasource.read.gigya.account', { recordsOut: 200_000, durationMs: 41_230, pages: 200 }),
    );

    // Assess
    expect(line).toBe('✓ account: 200,000 records out, 0 rejected, 41.2 s');
  });

  it('says what a formatter took in as records and gave out as a file, with its bytes', () => {
    // Act
    const line = finishedLine(
      finished('dsv', 'file.format.dsv', { recordsIn: 20, recordsOut: 20, filesOut: 1, bytesOut: 2048 }, [
        { name: 'out.csv', size: 2048 },
      ]),
    );

    // Assess
    expect(line).toBe('✓ dsv: 20 records in, 1 file 2.0 KB out, 0 rejected, 0.0 s: out.csv (2.0 KB)');
  });

  it('says what a file writer took in and what its target holds, never "0 in, 0 out"', () => {
    // Act
    const line = finishedLine(
      finished(
        'sftp',
        'datasource.write.sftp',
        { filesIn: 2, bytesIn: 3_000_000, filesOut: 2, bytesDelivered: 3_000_000, durationMs: 1_500, invocations: 2 },
        [
          { name: 'sftp://idx@embedded/a.csv', size: 1_000_000 },
          { name: 'sftp://idx@embedded/b.csv', size: 2_000_000 },
        ],
      ),
    );

    // Assess
    expect(line).toBe(
      '✓ sftp: 2 files 2.9 MB in, 2 files 2.9 MB delivered, 0 rejected, 1.5 s, 2 invocations: sftp://idx@embedded/a.csv (976.6 KB), sftp://idx@embedded/b.csv (1.9 MB)',
    );
  });

  it('says how many records a Gigya writer took in and passed on as accepted', () => {
    // Act
    const line = finishedLine(
      finished('write', 'datasource.write.gigya.account', {
        recordsIn: 24,
        recordsOut: 21,
        recordsRejected: 3,
        recordsDelivered: 21,
      }),
    );

    // Assess
    expect(line).toBe('✓ write: 24 records in, 21 records out, 3 rejected, 0.0 s');
  });

  it("ends a dry run's writer with what it would have written", () => {
    // Prepare
    const lines: string[] = [];
    const print = progressPrinter((l) => lines.push(l));
    const finished = (stepId: string, type: string, c: Partial<StepCounters>, wouldWrite: Record<string, unknown>) =>
      print({
        kind: 'step-finished',
        result: {
          stepId,
          type,
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
      'datasource.write.sftp',
      { filesIn: 1, bytesIn: 2048 },
      { bytes: 2048, files: [{ name: 'a.csv', target: 'sftp://u@h:22/out/a.csv', size: 2048 }] },
    );
    finished(
      'gigya',
      'datasource.write.gigya.account',
      { recordsIn: 3, recordsOut: 2, recordsRejected: 1 },
      { records: 2, calls: 2 },
    );

    // Assess
    expect(lines).toEqual([
      '✓ sftp: 1 file 2.0 KB in, 0 files 0 B delivered, 0 rejected, 0.0 s, would write sftp://u@h:22/out/a.csv (2.0 KB)',
      '✓ gigya: 3 records in, 2 records out, 1 rejected, 0.0 s, would write 2 record(s) in 2 call(s)',
    ]);
  });
});
