/**
 * The Eloqua Bulk API steps at any budget and under faults, on the Eloqua emulator: a 1 ms invocation budget gives
 * the same contacts, rejects and exported rows as a normal run; a sync that fails server-side fails the job with
 * Eloqua's message; a run that fails while polling a sync is run again and resumes that sync instead of importing
 * the rows again, as does a run whose function dies after importing and before it answers; a 429 on a data upload
 * is waited out.
 */
import { describe, expect, it } from 'vitest';
import { readDataflow } from '../../lib/dataflow/load.ts';
import type { Dataflow } from '../../lib/dataflow/types.ts';
import { validateFile } from '../../lib/dataflow/validate.ts';
import { runLocal } from '../../lib/local/runner.ts';
import { defaultRegistry } from '../../lib/scripts/index.ts';
import { useEloquaWorld } from '../support/eloqua.ts';

const ACCOUNTS = 1_050;
/** The records of the fault cases: enough for several groups of the writer, few enough to run fast. */
const LIMIT = 300;
const world = useEloquaWorld(ACCOUNTS);
const registry = defaultRegistry();

/** The shipped outbound flow with the Eloqua step's params changed. */
function outbound(params: Record<string, unknown> = {}): Dataflow {
  const dataflow = validateFile('dataflows/eloqua-bulk-outbound.json', registry).dataflow!;
  return {
    ...dataflow,
    steps: dataflow.steps.map((s) => (s.id === 'eloqua' ? { ...s, params: { ...s.params, ...params } } : s)),
  };
}

/** A flow that exports every contact to a CSV on SFTP, in pages of 250. */
const exportCsv = readDataflow({
  id: 'eloqua-export-csv',
  name: 'Eloqua contacts to CSV',
  steps: [
    {
      id: 'eloqua',
      type: 'datasource.read.eloqua',
      params: {
        company: '',
        fields: [
          { sourceField: '{{Contact.Id}}', targetField: 'id' },
          { sourceField: 'C_Gigya_UID1', targetField: 'uid' },
          { sourceField: 'C_EmailAddress', targetField: 'email' },
          { sourceField: '{{Contact.Email.IsSubscribed}}', targetField: 'subscribed' },
        ],
        fullExtract: true,
        pageSize: 250,
      },
      next: ['csv'],
    },
    { id: 'csv', type: 'file.format.dsv', params: { fileName: 'contacts_${jobId}.csv' }, next: ['sftp'] },
    { id: 'sftp', type: 'datasource.write.sftp', params: { host: '', remotePath: 'eloqua-export' } },
  ],
}).dataflow as Dataflow;

/** Eloqua's contacts as the test compares them: by UID, without ids and times. */
const contacts = () =>
  Object.fromEntries(
    [...world.eloqua.contacts.values()].map((c) => [c.fields.C_Gigya_UID1, { ...c.fields, s: c.isSubscribed }]),
  );

describe('the Eloqua Bulk API steps with a 1 ms invocation budget', () => {
  it('import the same contacts, reject the same rows and export the same rows as a normal run', async () => {
    // Prepare: two accounts whose email Eloqua refuses and one whose email the writer refuses before sending it.
    const uids = [...world.emu.store.accounts.keys()];
    for (const [i, uid] of uids.slice(0, 3).entries())
      world.emu.store.setAccount(uid, { profile: { email: i ? `${uid}@localhost` : `bad ${uid}` } }, Date.now());
    world.eloqua.reset();
    const normal = await runLocal(outbound(), { services: world.env.services, registry, input: { fullExtract: true } });
    const expected = contacts();
    const normalExport = await runLocal(exportCsv, { services: world.env.services, registry, jobId: 'export-normal' });
    world.eloqua.reset();

    // Act
    const sliced = await runLocal(outbound(), {
      services: world.env.services,
      registry,
      input: { fullExtract: true },
      invocationBudgetMs: 1,
    });
    const slicedExport = await runLocal(exportCsv, {
      services: world.env.services,
      registry,
      jobId: 'export-sliced',
      invocationBudgetMs: 1,
    });

    // Assess
    for (const r of [normal, sliced, normalExport, slicedExport])
      expect(r.status, JSON.stringify(r.job?.error)).toBe('succeeded');
    expect(Object.keys(expected)).toHaveLength(ACCOUNTS - 3);
    expect(contacts()).toEqual(expected);
    const eloqua = (r: typeof normal) => r.job?.steps.eloqua;
    expect(eloqua(sliced)).toMatchObject({ recordsIn: ACCOUNTS, recordsOut: ACCOUNTS - 3, recordsRejected: 3 });
    expect(eloqua(normal)).toMatchObject({ recordsIn: ACCOUNTS, recordsOut: ACCOUNTS - 3, recordsRejected: 3 });
    expect(eloqua(sliced)?.invocations).toBeGreaterThan(1);
    const files = world.csvs('eloqua-export');
    // Contact ids and the order of contacts follow the order in which the imports created them.
    const rows = (jobId: string) =>
      files
        .get(`contacts_${jobId}.csv`)
        ?.map((r): Record<string, string> => ({ ...r, id: '' }))
        .sort((a, b) => (a.uid ?? '').localeCompare(b.uid ?? ''));
    expect(rows('export-sliced')).toHaveLength(ACCOUNTS - 3);
    expect(rows('export-sliced')).toEqual(rows('export-normal'));
    expect(slicedExport.job?.steps.eloqua?.invocations).toBeGreaterThan(1);
  }, 120_000);
});

describe('the Eloqua Bulk API writer under faults', () => {
  it("fails the job with IDX_ELOQUA_SYNC and Eloqua's message when a sync fails server-side", async () => {
    // Prepare
    world.eloqua.faults.failNextSync('The import could not be processed: the staging area quota is exceeded.');

    // Act
    const result = await runLocal(outbound(), {
      services: world.env.services,
      registry,
      input: { fullExtract: true, maxAttempts: 1, limit: LIMIT },
    });

    // Assess
    expect(result.status).toBe('failed');
    expect(result.job?.error?.code).toBe('IDX_ELOQUA_SYNC');
    expect(result.job?.error?.message).toContain('the staging area quota is exceeded');
  }, 60_000);

  it('waits out a 429 on a data upload', async () => {
    // Prepare
    world.eloqua.faults.clear();
    world.eloqua.faults.failNext(/^POST \/contacts\/imports\/\d+\/data$/, 429, 1, { retryAfter: 0 });

    // Act
    const result = await runLocal(outbound(), {
      services: world.env.services,
      registry,
      input: { fullExtract: true, limit: LIMIT },
    });

    // Assess
    expect(result.status, JSON.stringify(result.job?.error)).toBe('succeeded');
    expect(result.job?.trace.join('\n')).toMatch(/Eloqua answered HTTP 429 to POST .*\/data; attempt 2 of 5/);
    const step = result.job?.steps.eloqua;
    expect(step?.recordsIn).toBe(LIMIT);
    expect((step?.recordsOut ?? 0) + (step?.recordsRejected ?? 0)).toBe(LIMIT);
  }, 60_000);

  it('resumes a sync after a failure while polling it, importing each group once', async () => {
    // Prepare: what a run without faults creates, then a run whose first poll fails without a retry by the client,
    // so that the step fails and runs again.
    const flow = outbound({ maxAttempts: 1, batchSize: 100 });
    const input = { fullExtract: true, limit: LIMIT };
    const count = (from: number, call: RegExp) => world.eloqua.calls.slice(from).filter((c) => call.test(c)).length;
    world.eloqua.faults.clear();
    world.eloqua.reset();
    let from = world.eloqua.calls.length;
    const clean = await runLocal(flow, { services: world.env.services, registry, input });
    const definitions = count(from, /^POST \/contacts\/imports$/);
    const expected = contacts();
    world.eloqua.reset();
    from = world.eloqua.calls.length;
    world.eloqua.faults.failNext(/^GET \/syncs\/\d+$/, 503, 1);

    // Act
    const result = await runLocal(flow, { services: world.env.services, registry, input, retryIntervalMs: 5 });

    // Assess
    expect(clean.status, JSON.stringify(clean.job?.error)).toBe('succeeded');
    expect(result.status, JSON.stringify(result.job?.error)).toBe('succeeded');
    expect(definitions).toBeGreaterThanOrEqual(3);
    expect(count(from, /^POST \/contacts\/imports$/)).toBe(definitions);
    expect(count(from, /^POST \/syncs$/)).toBe(definitions);
    expect(result.job?.trace.join('\n')).toContain('resuming the Eloqua syncs of group 0');
    expect(contacts()).toEqual(expected);
    const counts = (r: typeof result) => {
      const s = r.job?.steps.eloqua;
      return [s?.recordsIn, s?.recordsOut, s?.recordsRejected];
    };
    expect(counts(result)).toEqual(counts(clean));
    expect(counts(result)[0]).toBe(LIMIT);
  }, 60_000);

  it('imports each group once when the function dies after importing, before it answers', async () => {
    // Prepare
    const flow = outbound({ batchSize: 100 });
    const input = { fullExtract: true, limit: LIMIT };
    const count = (from: number) => world.eloqua.calls.slice(from).filter((c) => c === 'POST /contacts/imports').length;
    world.eloqua.faults.clear();
    world.eloqua.reset();
    let from = world.eloqua.calls.length;
    const clean = await runLocal(flow, { services: world.env.services, registry, input });
    const definitions = count(from);
    const expected = contacts();
    world.eloqua.reset();
    from = world.eloqua.calls.length;

    // Act: the first invocation of the Task that maps and imports dies before it answers.
    const crashed = await runLocal(flow, {
      services: world.env.services,
      registry,
      input,
      retryIntervalMs: 5,
      faults: { crashStepInvocations: [1], crashCountsOnlyStep: 'eloqua' },
    });

    // Assess
    expect(clean.status, JSON.stringify(clean.job?.error)).toBe('succeeded');
    expect(crashed.status, JSON.stringify(crashed.job?.error)).toBe('succeeded');
    expect(count(from)).toBe(definitions);
    expect(crashed.job?.trace.join('\n')).toContain('resuming the Eloqua syncs of group 0');
    expect(contacts()).toEqual(expected);
  }, 60_000);
});
