import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { WouldWrite } from '../../../lib/core/refs.ts';
import { defineScript } from '../../../lib/core/script.ts';
import { dryRunDefinition, mergeWouldWrite } from '../../../lib/engine/dry-run.ts';
import { defaultRegistry } from '../../../lib/scripts/index.ts';
import { runScript } from '../../../lib/testing/harness.ts';

/** A file writer that fails if it is ever started: a dry run must run its stand-in instead. */
const writer = defineScript({
  type: 'test.write.files',
  summary: 'writes files',
  consumes: 'files',
  produces: 'nothing',
  delivers: 'files',
  defers: true,
  params: { folder: { type: 'string', default: 'out', description: 'where' } },
  dryRun: { target: (params, name) => `mem://${params.folder}/${name}` },
  create() {
    throw new Error('the writer itself was started');
  },
});

const report = (files: number, calls: number): WouldWrite => ({
  records: calls,
  calls,
  bytes: files,
  files: Array.from({ length: files }, (_, i) => ({ name: `f${i}`, target: `t${i}`, size: 1, sample: ['x'] })),
  sampleCalls: Array.from({ length: Math.min(calls, 3) }, (_, i) => ({ method: 'm', params: { i } })),
});

describe('dryRunDefinition', () => {
  it('stands in for a writer with the same kinds, delivering and deferring nothing, and leaves other scripts be', () => {
    // Act
    const standIn = dryRunDefinition(writer as never);
    const other = { ...(writer as never as Record<string, unknown>), delivers: undefined };

    // Assess
    expect(standIn).toMatchObject({ type: 'test.write.files', consumes: 'files', produces: 'nothing' });
    expect(standIn.delivers).toBeUndefined();
    expect(standIn.defers).toBeUndefined();
    expect(dryRunDefinition(other as never)).toBe(other);
  });

  it('names each target, samples a gzip file after gunzip and leaves a binary file unsampled', async () => {
    // Act
    const out = await runScript(
      writer,
      {},
      {
        job: { dryRun: true },
        files: [
          { name: 'a.csv.gz', content: gzipSync('h1,h2\n1,2\n3,4\n5,6\n7,8\n') },
          { name: 'b.bin', content: Buffer.from([0, 1, 2, 255]) },
        ],
      },
    );

    // Assess
    expect(out.wouldWrite?.files).toEqual([
      {
        name: 'a.csv.gz',
        target: 'mem://out/a.csv.gz',
        size: expect.any(Number),
        sample: ['h1,h2', '1,2', '3,4', '5,6'],
      },
      { name: 'b.bin', target: 'mem://out/b.bin', size: 4 },
    ]);
    expect(out.counters.bytesDelivered).toBeUndefined();
  });
});

describe('the script registry', () => {
  it('has every writer describe its side effects for dry runs: file targets or record calls', () => {
    // Act
    const writers = defaultRegistry()
      .list()
      .filter((d) => d.delivers !== undefined);
    const undescribed = writers
      .filter((d) => (d.delivers === 'files' ? !d.dryRun?.target : !d.dryRun?.call))
      .map((d) => d.type);

    // Assess
    expect(writers.length).toBeGreaterThanOrEqual(7);
    expect(undescribed).toEqual([]);
  });
});

describe('mergeWouldWrite', () => {
  it('adds up invocations, keeping the first three calls and the samples of the first ten files', () => {
    // Act
    const merged = mergeWouldWrite(mergeWouldWrite(undefined, report(8, 2)), report(8, 5));

    // Assess
    expect(merged).toMatchObject({ records: 7, calls: 7, bytes: 16 });
    expect(merged?.sampleCalls).toHaveLength(3);
    expect(merged?.files).toHaveLength(16);
    expect(merged?.files.filter((f) => f.sample)).toHaveLength(10);
  });
});
