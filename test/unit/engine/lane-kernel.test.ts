import { MessageChannel } from 'node:worker_threads';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { type StepCounters, zeroCounters } from '../../../lib/core/refs.ts';
import type { AnyScriptDefinition, JobContext } from '../../../lib/core/script.ts';
import { Redactor } from '../../../lib/core/secrets.ts';
import type { KernelCompiler, KernelOutput } from '../../../lib/engine/lanes/kernel.ts';
import type { LaneStep } from '../../../lib/engine/lanes/plan.ts';
import type { LaneMessage, MainMessage, TaskOutput } from '../../../lib/engine/lanes/protocol.ts';
import { serveLane } from '../../../lib/engine/lanes/worker.ts';
import { resolveParams } from '../../../lib/engine/resolve.ts';
import { fileCompressGzip } from '../../../lib/scripts/file.compress.gzip.ts';
import { fileFormatDsv } from '../../../lib/scripts/file.format.dsv.ts';
import { testJob } from '../../../lib/testing/harness.ts';

const JOB: JobContext = testJob({ id: 'job-1', dataflowId: 'lane-kernel' });

const DEFINITIONS = [fileFormatDsv, fileCompressGzip] as unknown as AnyScriptDefinition[];

/** The formatter (its body params, as a lane runs it) and gzip after it, params resolved as the engine does. */
async function steps(): Promise<LaneStep[]> {
  const given = [
    { fileName: 'out.csv', columns: ['a', 'b'], quoteFields: false, writeHeader: false },
    { compressionLevel: 6 },
  ];
  const resolver = { redactor: new Redactor(), resolve: async () => '' };
  return Promise.all(
    DEFINITIONS.map(async (d, i) => ({
      id: `${i + 1}-${d.type}`,
      type: d.type,
      params: await resolveParams(d.params, given[i] as Record<string, unknown>, JOB, resolver, `${i + 1}`),
    })),
  );
}

/**
 * A kernel for the formatter alone: it writes `a,b` rows for records whose two values are plain text and declines
 * a chunk with any other value. It counts what the formatter's driver counts for a chunk: its records in and out
 * (the file is counted by what takes it).
 */
const plainRows: KernelCompiler = (run) => {
  if (run.definitions[0]?.type !== 'file.format.dsv') return undefined;
  return {
    steps: 1,
    run(input) {
      const records = Buffer.from(input.bytes)
        .toString()
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      const plain = (v: unknown) => typeof v === 'string' && /^[a-z]+$/.test(v);
      if (!records.every((r) => plain(r.a) && plain(r.b))) return undefined;
      const data = Buffer.from(records.map((r) => `${r.a},${r.b}\n`).join(''));
      const counters: StepCounters = { ...zeroCounters(), recordsIn: records.length, recordsOut: records.length };
      return { file: { name: 'out.csv', data }, counters: [counters] };
    },
  };
};

/**
 * Serves a lane over `compilers`, posts `chunks` as tasks, and gives back its outputs and counters; `definitions`
 * stand for the steps' scripts (DEFINITIONS by default), `inlinePieces` as the pool sets it with workers.
 */
async function serve(
  compilers: readonly KernelCompiler[],
  chunks: readonly (readonly object[])[],
  options: { definitions?: readonly AnyScriptDefinition[]; inlinePieces?: boolean } = {},
): Promise<{ outputs: TaskOutput[]; counters: StepCounters[] }> {
  const definitions = options.definitions ?? DEFINITIONS;
  const { port1, port2 } = new MessageChannel();
  const outputs: TaskOutput[] = [];
  const finished = new Promise<StepCounters[]>((resolve, reject) => {
    port1.on('message', (m: LaneMessage) => {
      if (m.kind === 'output') outputs.push(m);
      else if (m.kind === 'finished') resolve(m.counters);
      else if (m.kind === 'failed') reject(new Error(m.error.message));
    });
  });
  serveLane(
    port2,
    { steps: await steps(), job: JOB, ...(options.inlinePieces ? { inlinePieces: true } : {}) },
    (type) => definitions.find((d) => d.type === type),
    compilers,
  );
  chunks.forEach((lines, index) => {
    const data = new Uint8Array(Buffer.from(lines.map((l) => `${JSON.stringify(l)}\n`).join('')));
    port1.postMessage({ kind: 'task', index, data, streamed: false, firstLine: 1 } satisfies MainMessage);
  });
  port1.postMessage({ kind: 'finish' } satisfies MainMessage);
  const counters = await finished;
  port1.close();
  return { outputs: outputs.sort((x, y) => x.index - y.index), counters };
}

/** Each output's file, gunzipped. */
const texts = (outputs: readonly TaskOutput[]) =>
  outputs.map((o) => o.files.map((f) => `${f.name}:${gunzipSync(f.data).toString()}`).join('|'));

/** Counters without the time, which differs from run to run. */
/** {@link plainRows}, each chunk's run going through `around`, which calls `run` for the kernel's output. */
const plainRowsAround =
  (around: (run: () => KernelOutput | undefined) => KernelOutput | undefined): KernelCompiler =>
  (plan) => {
    const kernel = plainRows(plan);
    return kernel && { steps: kernel.steps, run: (input) => around(() => kernel.run(input)) };
  };

const untimed = (counters: readonly StepCounters[]) => counters.map(({ durationMs: _, ...rest }) => rest);

describe('serveLane with a byte kernel', () => {
  it('gives the files and counters the scripts give, taking plain chunks and declining the others', async () => {
    // Prepare
    const chunks = [
      [
        { a: 'x', b: 'y' },
        { a: 'p', b: 'q' },
      ],
      [{ a: 'needs, quotes', b: 'z' }],
      [{ a: 'k', b: 'l' }],
    ];
    let taken = 0;
    const counting = plainRowsAround((run) => {
      const out = run();
      if (out) taken++;
      return out;
    });

    // Act
    const scripts = await serve([], chunks);
    const kernels = await serve([counting], chunks);

    // Assess
    expect(taken).toBe(2);
    expect(kernels.outputs.map((o) => o.kernel ?? false)).toEqual([true, false, true]);
    expect(scripts.outputs.map((o) => o.kernel ?? false)).toEqual([false, false, false]);
    expect(texts(kernels.outputs)).toEqual(texts(scripts.outputs));
    expect(texts(kernels.outputs)).toEqual([
      'out.csv.gz:x,y\np,q\n',
      'out.csv.gz:"needs, quotes",z\n',
      'out.csv.gz:k,l\n',
    ]);
    expect(untimed(kernels.counters)).toEqual(untimed(scripts.counters));
  });

  it("gzips a kernel's file in one call on the lane's thread when told to, to the bytes the script writes", async () => {
    // Prepare
    const chunks = [
      Array.from({ length: 3000 }, (_, i) => ({ a: `x${'k'.repeat(i % 40)}`, b: 'y' })),
      [{ a: 'needs, quotes', b: 'z' }],
      [{ a: 'k', b: 'l' }],
    ];
    let calls = 0;
    const gzipPiece = fileCompressGzip.lanes?.piece;
    if (!gzipPiece) throw new Error('file.compress.gzip offers no piece transform');
    const counted = {
      ...fileCompressGzip,
      lanes: {
        ...fileCompressGzip.lanes,
        piece: (params: Parameters<typeof gzipPiece>[0]) => {
          const call = gzipPiece(params);
          return (
            call &&
            ((file: Parameters<typeof call>[0]) => {
              calls++;
              return call(file);
            })
          );
        },
      },
    } as unknown as AnyScriptDefinition;
    const definitions = [DEFINITIONS[0] as AnyScriptDefinition, counted];

    // Act
    const scripts = await serve([plainRows], chunks, { definitions });
    const notTold = calls;
    const inline = await serve([plainRows], chunks, { definitions, inlinePieces: true });

    // Assess
    expect(notTold).toBe(0);
    expect(calls).toBe(2);
    expect(inline.outputs.map((o) => o.kernel ?? false)).toEqual([true, false, true]);
    const raw = (outputs: readonly TaskOutput[]) =>
      outputs.map((o) => o.files.map((f) => [f.name, Buffer.from(f.data)]));
    expect(raw(inline.outputs)).toEqual(raw(scripts.outputs));
    expect(untimed(inline.counters)).toEqual(untimed(scripts.counters));
  });

  it('runs the chunks through the scripts once the kernel throws, and warns once', async () => {
    // Prepare: a kernel that takes the first chunk and throws on the second.
    let calls = 0;
    const flaky = plainRowsAround((run) => {
      calls++;
      if (calls === 2) throw new Error('kernel bug');
      return run();
    });
    const chunks = [[{ a: 'x', b: 'y' }], [{ a: 'p', b: 'q' }], [{ a: 'k', b: 'l' }]];

    // Act
    const scripts = await serve([], chunks);
    const served = await serve([flaky], chunks);

    // Assess
    expect(calls).toBe(2);
    expect(served.outputs.map((o) => o.kernel ?? false)).toEqual([true, false, false]);
    expect(texts(served.outputs)).toEqual(texts(scripts.outputs));
    expect(untimed(served.counters)).toEqual(untimed(scripts.counters));
    expect(served.outputs.flatMap((o) => o.logs)).toEqual([
      {
        step: 0,
        level: 'warn',
        message:
          'the byte kernel failed on the chunk from line 1 (kernel bug); this lane runs it and every later chunk ' +
          'through the scripts',
      },
    ]);
  });
});
