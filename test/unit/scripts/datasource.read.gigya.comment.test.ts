import { describe, expect, it } from 'vitest';
import type { DataRecord } from '../../../lib/core/script.ts';
import { sampleComments, sampleStreams } from '../../../lib/local/gigya-comments.ts';
import { datasourceReadGigyaComment, expandDottedKeys } from '../../../lib/scripts/datasource.read.gigya.comment.ts';
import { type HarnessInput, runScript } from '../../../lib/testing/harness.ts';
import { emulatorServices, useGigyaEmulator } from '../../support/gigya.ts';

const harness = useGigyaEmulator();
const services = () => emulatorServices(harness.emu);
/** The emulator's order: by timestamp, ties by id. */
const byTime = (a: Record<string, unknown>, b: Record<string, unknown>) =>
  (a.timestamp as number) - (b.timestamp as number) || (String(a.ID) < String(b.ID) ? -1 : 1);

/** Runs the reader invocation after invocation, each with a deadline already reached, until it has no continuation. */
async function readSliced(params: Record<string, unknown>, input: HarnessInput = {}) {
  const records: DataRecord[] = [];
  const trace: string[] = [];
  let continuation: unknown;
  let invocations = 0;
  do {
    const out = await runScript(datasourceReadGigyaComment, params, {
      ...input,
      services: services(),
      deadline: Date.now(),
      ...(continuation === undefined ? {} : { continuation }),
    });
    records.push(...out.records);
    trace.push(...out.trace);
    continuation = out.continuation;
    invocations++;
  } while (continuation !== undefined);
  return { records, trace, invocations };
}

describe('datasource.read.gigya.comment', () => {
  it('reads every stream of a category on a full extract, in creation order, as StreamInfo records', async () => {
    // Prepare
    const expected = sampleStreams().filter((s) => s.categoryID === 'comments');

    // Act
    const out = await runScript(
      datasourceReadGigyaComment,
      { from: 'streams', where: 'categoryID="comments"', batchSize: 300 },
      { services: services(), job: { fullExtract: true } },
    );

    // Assess
    expect(out.records).toEqual(expected);
    expect(out.counters).toMatchObject({ recordsOut: 650, recordsRejected: 0 });
    expect(
      out.trace.some((l) =>
        l.includes('SELECT * FROM streams WHERE (categoryID="comments") ORDER BY timestamp LIMIT 300'),
      ),
    ).toBe(true);
  });

  it('reads only the comments created within the delta window', async () => {
    // Prepare
    const all = sampleComments().sort(byTime);
    const from = new Date(all[100]?.timestamp as number).toISOString();
    const to = new Date(all[199]?.timestamp as number).toISOString();
    const expected = all.filter(
      (c) => (c.timestamp as number) > Date.parse(from) && (c.timestamp as number) <= Date.parse(to),
    );

    // Act
    const out = await runScript(
      datasourceReadGigyaComment,
      { from: 'comments', keepFieldNamesWithDotAsIs: true },
      { services: services(), job: { delta: { from, to } } },
    );

    // Assess
    expect(expected.length).toBeGreaterThan(90);
    expect(out.records.map((r) => r.ID)).toEqual(expected.map((c) => c.ID));
  });

  it('reads no more than the job limit of a test run', async () => {
    // Act
    const out = await runScript(
      datasourceReadGigyaComment,
      { from: 'comments' },
      { services: services(), job: { fullExtract: true, limit: 10 } },
    );

    // Assess
    expect(out.records.map((r) => r.ID)).toEqual(
      sampleComments()
        .sort(byTime)
        .slice(0, 10)
        .map((c) => c.ID),
    );
  });

  it('nests field names with dots unless keepFieldNamesWithDotAsIs is set', async () => {
    // Prepare
    const params = { from: 'comments', where: 'categoryID = "reviews" AND parentID IS NULL', limit: 5 };

    // Act
    const nested = await runScript(datasourceReadGigyaComment, params, {
      services: services(),
      job: { fullExtract: true },
    });
    const asIs = await runScript(
      datasourceReadGigyaComment,
      { ...params, keepFieldNamesWithDotAsIs: true },
      { services: services(), job: { fullExtract: true } },
    );

    // Assess
    const ratings = (r: DataRecord | undefined) => r?.ratings as Record<string, unknown>;
    expect(Object.keys(ratings(asIs.records[0]))).toEqual(['_overall', 'delivery.speed']);
    expect(ratings(nested.records[0])).toEqual({
      _overall: ratings(asIs.records[0])._overall,
      delivery: { speed: ratings(asIs.records[0])['delivery.speed'] },
    });
    expect(nested.records.map((r) => r.ID)).toEqual(asIs.records.map((r) => r.ID));
  });

  it.each([
    ['a single cursor', { partitions: 1, batchSize: 50, maxCallsPerSecond: 500 }, false],
    ['partitioned ranges', { batchSize: 25, maxCallsPerSecond: 500 }, true],
  ] as const)(
    'gives the same records when every invocation stops at its deadline, reading %s',
    async (_name, paging, partitioned) => {
      // Prepare
      const params = { from: 'comments', where: 'categoryID="comments"', ...paging };
      const input = { job: { fullExtract: true } };

      // Act
      const whole = await runScript(datasourceReadGigyaComment, params, { ...input, services: services() });
      const sliced = await readSliced(params, input);

      // Assess
      expect(whole.records.length).toBe(sampleComments().filter((c) => c.categoryID === 'comments').length);
      expect(sliced.invocations).toBeGreaterThan(5);
      expect(sliced.trace.some((l) => l.includes('partitions of timestamp'))).toBe(partitioned);
      expect(sliced.records).toEqual(whole.records);
    },
  );

  it('retries a transient error of comments.search and fails the step with the Gigya code on a bad where', async () => {
    // Prepare
    harness.emu.faults.failNext('comments.search', 500001);
    const fast = { from: 'streams', retryBaseDelayMs: 1, limit: 3 };

    // Act
    const retried = await runScript(datasourceReadGigyaComment, fast, {
      services: services(),
      job: { fullExtract: true },
    });
    const failed = runScript(
      datasourceReadGigyaComment,
      { ...fast, where: "categoryID = 'single quotes'" },
      { services: services(), job: { fullExtract: true } },
    );

    // Assess
    expect(retried.records).toHaveLength(3);
    await expect(failed).rejects.toMatchObject({ code: 'IDX_GIGYA_API', message: expect.stringContaining('400006') });
  });

  it('refuses a secret in where and a deltaField the records of from do not have, at validation', () => {
    // Prepare
    const { check } = datasourceReadGigyaComment;

    // Act
    const secret = check?.({ from: 'comments', where: 'sender.UID = "${secret:X}"' } as never) ?? [];
    const field = check?.({ from: 'comments', deltaField: 'lastCommentTimestamp' } as never) ?? [];
    const fine = check?.({ from: 'streams', deltaField: 'lastCommentTimestamp' } as never) ?? [];

    // Assess
    expect(secret.map((p) => p.code)).toEqual(['IDX_GIGYA_WHERE_SECRET']);
    expect(field).toEqual([
      expect.objectContaining({
        code: 'IDX_PARAM_VALUE',
        path: 'deltaField',
        expected: 'one of timestamp, threadTimestamp',
      }),
    ]);
    expect(fine).toEqual([]);
  });
});

describe('expandDottedKeys', () => {
  it('nests dotted names into the objects already there, at any depth and inside arrays', () => {
    // Prepare
    const value = { a: { x: 1 }, 'a.y': 2, list: [{ 'b.c': 3 }], plain: 'p.q' };

    // Act
    const expanded = expandDottedKeys(value);

    // Assess
    expect(expanded).toEqual({ a: { x: 1, y: 2 }, list: [{ b: { c: 3 } }], plain: 'p.q' });
  });

  it('keeps a dotted name as it is when nesting it would replace a value', () => {
    // Prepare
    const value = { a: 1, 'a.b': 2, 'x.': 3, 'k.v': 4, k: { v: 5 } };

    // Act
    const expanded = expandDottedKeys(value);

    // Assess
    expect(expanded).toEqual({ a: 1, 'a.b': 2, 'x.': 3, k: { v: 5 }, 'k.v': 4 });
  });
});
