import { Writable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { IdxError } from '../../../lib/core/errors.ts';
import { type AnyScriptDefinition, type DataRecord, defineScript } from '../../../lib/core/script.ts';
import { buildChain, type ChainStep } from '../../../lib/engine/chain.ts';
import type { FileSink, RecordSink } from '../../../lib/engine/output.ts';
import { paramsResolver } from '../../../lib/engine/resolve.ts';
import { defaultRegistry } from '../../../lib/scripts/index.ts';
import { offlineServices, testJob } from '../../../lib/testing/harness.ts';

const registry = defaultRegistry();
const job = testJob({ id: 'job-42' });
const services = offlineServices({ TOKEN: 's3cr3t' });
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

class TextSink implements RecordSink {
  text = '';
  async write(chunk: string | Uint8Array): Promise<void> {
    this.text += Buffer.from(chunk).toString();
  }
  records(): DataRecord[] {
    return this.text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as DataRecord);
  }
}

class BufferFiles implements FileSink {
  readonly files = new Map<string, Buffer[]>();
  create(name: string): Writable {
    const parts: Buffer[] = [];
    this.files.set(name, parts);
    return new Writable({
      write(chunk: Buffer, _e, callback) {
        parts.push(chunk);
        callback();
      },
    });
  }
}

/** A record step that passes records on and notes when it is closed. */
const closing = (closed: string[], name: string) =>
  defineScript({
    type: `test.closing.${name}`,
    summary: 'Passes records on; notes its close.',
    consumes: 'records',
    produces: 'records',
    params: { token: { type: 'string', default: '', description: 'A value to resolve.' } },
    create: () => ({
      records(batch, out) {
        for (const r of batch) out.emit(r);
      },
      close() {
        closed.push(name);
      },
    }),
  }) as unknown as AnyScriptDefinition;

const step = (id: string, type: string, params: Record<string, unknown>): ChainStep => ({
  id,
  definition: registry.require(type),
  params,
});

describe('buildChain', () => {
  it("resolves each member's params and hands its records to the next member, the last one's to the sink", async () => {
    // Prepare
    const records = new TextSink();
    const rejected = new TextSink();
    const steps = [
      step('add', 'field.add', { fields: [{ field: 'job', value: '${jobId}' }] }),
      step('rename', 'field.rename', { fields: [{ sourceField: 'a', targetField: 'b' }] }),
    ];

    // Act
    const chain = await buildChain(steps, {
      job,
      services,
      deadline: Number.POSITIVE_INFINITY,
      signal: new AbortController().signal,
      resolve: paramsResolver(job, services.secrets),
      wire: ({ next }) => ({ log: quiet, ...(next ? {} : { records }), rejected }),
    });
    await chain[0]?.driver.push([{ a: 1 }, { a: 2 }]);
    for (const link of chain) await link.driver.finish();

    // Assess
    expect(records.records()).toEqual([
      { b: 1, job: 'job-42' },
      { b: 2, job: 'job-42' },
    ]);
    expect(chain.map((l) => l.driver.counters.recordsOut)).toEqual([2, 2]);
    expect(chain[0]?.params).toMatchObject({ fields: [{ field: 'job', value: 'job-42' }] });
  });

  it('streams the file a formatter writes into the file step after it, instead of the sink', async () => {
    // Prepare
    const files = new BufferFiles();
    const steps = [
      step('format', 'file.format.dsv', { fileName: 'out.csv', columns: ['a'] }),
      step('gzip', 'file.compress.gzip', {}),
    ];

    // Act
    const chain = await buildChain(steps, {
      job,
      services,
      deadline: Number.POSITIVE_INFINITY,
      signal: new AbortController().signal,
      resolve: paramsResolver(job, services.secrets),
      wire: () => ({ log: quiet, rejected: new TextSink(), files }),
    });
    await chain[0]?.driver.push([{ a: 'x' }, { a: 'y' }]);
    await chain[0]?.driver.finish();
    await chain[0]?.forward?.settle();
    await chain[1]?.driver.finish();

    // Assess
    expect([...files.files.keys()]).toEqual(['out.csv.gz']);
    expect(gunzipSync(Buffer.concat(files.files.get('out.csv.gz') ?? [])).toString()).toContain('x');
    expect(chain[0]?.forward?.files).toBe(1);
    expect(chain[1]?.forward).toBeUndefined();
  });

  it('closes the members it built when an earlier member cannot be built, and passes the error on', async () => {
    // Prepare
    const closed: string[] = [];
    const steps: ChainStep[] = [
      { id: 'first', definition: closing(closed, 'first'), params: { token: '${secret:MISSING}' } },
      { id: 'second', definition: closing(closed, 'second'), params: { token: '${secret:TOKEN}' } },
    ];

    // Act
    const failure = await buildChain(steps, {
      job,
      services,
      deadline: Number.POSITIVE_INFINITY,
      signal: new AbortController().signal,
      resolve: paramsResolver(job, services.secrets),
      wire: () => ({ log: quiet, rejected: new TextSink() }),
    }).catch((e: unknown) => e);

    // Assess
    expect(failure).toBeInstanceOf(IdxError);
    expect((failure as IdxError).code).toBe('IDX_SECRET_MISSING');
    expect((failure as IdxError).location).toMatchObject({ stepId: 'first', param: 'token' });
    expect(closed).toEqual(['second']);
  });

  it('refuses a script without the hook for what it consumes, and closes what it opened', async () => {
    // Prepare
    const closed: string[] = [];
    const hookless = defineScript({
      type: 'test.hookless',
      summary: 'Consumes records but has no records().',
      consumes: 'records',
      produces: 'records',
      params: {},
      create: () => ({
        close() {
          closed.push('hookless');
        },
      }),
    }) as unknown as AnyScriptDefinition;

    // Act
    const failure = await buildChain([{ id: 'bad', definition: hookless, params: {} }], {
      job,
      services,
      deadline: Number.POSITIVE_INFINITY,
      signal: new AbortController().signal,
      wire: () => ({ log: quiet, rejected: new TextSink() }),
    }).catch((e: unknown) => e);

    // Assess
    expect((failure as IdxError).code).toBe('IDX_SCRIPT_CONTRACT');
    expect(closed).toEqual(['hookless']);
  });
});
