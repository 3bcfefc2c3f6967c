/**
 * Dry runs of every dataflow in `dataflows/`, on the embedded services: a dry run (with the default invocation
 * budget, and with a 1 ms one, so every step continues) reads and transforms everything but changes nothing in
 * any service (SFTP folder, every S3 bucket outside the job's own stage prefix, the Gigya emulator's accounts, Data
 * Store and write calls, every DynamoDB item but the dry runs' job records), and its writers report what the real
 * run that follows then delivers: the same records and calls, the same files under the same targets (time-stamped
 * names aside), with the same sizes and first rows.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { CopyObjectCommand, GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { jobPrefix } from '../../lib/core/keys.ts';
import type { WouldWrite } from '../../lib/core/refs.ts';
import { readDataflow } from '../../lib/dataflow/load.ts';
import type { Dataflow } from '../../lib/dataflow/types.ts';
import { validateDataflow } from '../../lib/dataflow/validate.ts';
import { runLocal } from '../../lib/local/runner.ts';
import { SAMPLE, seedSample } from '../../lib/local/sample.ts';
import { defaultRegistry } from '../../lib/scripts/index.ts';
import type { JobRecord } from '../../lib/stores/jobs.ts';
import { DataflowStateStore } from '../../lib/stores/state.ts';
import { normaliseName, type SizeWorld, startSizeWorld } from '../support/targets.ts';
import { type WorldState, worldState } from '../support/world-state.ts';

/**
 * Records (accounts, rows) per case: more than one batch of 1,000 where the flow is cheap, so that the 1 ms budget
 * makes its steps continue; the inbound flow's file continues at 300 already (its writer's input is staged).
 */
const RECORDS = 2_500;
const INBOUND_ROWS = 300;
const registry = defaultRegistry();

const csv = (rows: Record<string, string>[]) => {
  const header = Object.keys(rows[0] ?? {});
  return `${[header.join(','), ...rows.map((r) => header.map((h) => r[h] ?? '').join(','))].join('\n')}\n`;
};

/** What each shipped dataflow needs in its world, and the input of its runs. */
const SEEDS: Record<
  string,
  { seed: (w: SizeWorld) => Promise<void>; input?: Record<string, unknown>; accounts?: number }
> = {
  'sample-s3-csv': {
    seed: async (w) => {
      // Two input files, so that the parser continues from one to the other with a 1 ms budget.
      await seedSample(w.env.services.s3, RECORDS);
      await w.env.services.s3.send(
        new CopyObjectCommand({
          Bucket: SAMPLE.bucket,
          CopySource: `${SAMPLE.bucket}/${SAMPLE.inputKey}`,
          Key: SAMPLE.inputKey.replace(/\.csv$/, '-2.csv'),
        }),
      );
    },
  },
  'eloqua-outbound': { seed: async () => undefined, input: { fullExtract: true } },
  'eloqua-bulk-outbound': {
    // An address the writer refuses before sending it, so that the error files' writer has something to write.
    seed: async (w) =>
      w.emu.store.setAccount([...w.seededUids][0]!, { profile: { email: 'not an email' } }, Date.now()),
    input: { fullExtract: true },
  },
  'eloqua-bulk-inbound': {
    seed: async (w) => {
      // Contacts with their UID, then strangers the UID map cannot place: more than one page of the reader, so that
      // it continues with a 1 ms budget, and few reach the Gigya writer.
      for (const [i, uid] of [...w.seededUids].slice(0, INBOUND_ROWS - 10).entries())
        w.eloqua.put({ C_EmailAddress: `c${i}@example.com`, C_Gigya_UID1: uid });
      for (let i = 0; i < 5_000; i++)
        w.eloqua.put({ C_EmailAddress: `stranger${i}@example.com` }, { isSubscribed: false });
    },
    input: { fullExtract: true },
    accounts: INBOUND_ROWS,
  },
  'eloqua-inbound': {
    seed: async (w) => {
      // Contacts with their UID, then ten the UID map cannot place, then one row too many cells long.
      const uids = [...w.seededUids].slice(0, INBOUND_ROWS - 10);
      const rows = [
        ...uids.map((uid, i) => ({ C_EmailAddress: `c${i}@example.com`, C_Gigya_UID1: uid, isSubscribed: 'true' })),
        ...Array.from({ length: 10 }, (_, i) => ({
          C_EmailAddress: `stranger${i}@example.com`,
          C_Gigya_UID1: '',
          isSubscribed: 'false',
        })),
      ];
      const dir = join(w.sftpRoot, 'from-eloqua');
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'eloqua_export_20261123.csv'), `${csv(rows)}bad@example.com,x,true,extra\n`);
    },
    accounts: INBOUND_ROWS,
  },
};

function load(id: string): Dataflow {
  const loaded = readDataflow(JSON.parse(readFileSync(join('dataflows', `${id}.json`), 'utf8')));
  const dataflow = loaded.dataflow as Dataflow;
  expect(validateDataflow(dataflow, registry).filter((p) => p.severity === 'error')).toEqual([]);
  return dataflow;
}

/** The job ids of the runs; one length, so that a name holding one has one size whoever ran. */
const JOB_IDS = ['dry-000000000001', 'dry-000000000002', 'run-000000000003'] as const;

/** A text with what differs between two runs of one job (its start time, its id) replaced by tokens. */
const stable = (text: string) => JOB_IDS.reduce((t, id) => t.split(id).join('<job>'), normaliseName(text));

/**
 * A job's reports as two budgets must agree on them: a gzip file written over several invocations is several gzip
 * members, valid but of another size, so the size of a `.gz` file and the bytes counting it are left out.
 */
const sameAcrossBudgets = (reports: Record<string, WouldWrite>) =>
  JSON.parse(
    stable(
      JSON.stringify(
        Object.values(reports).map((r) => ({
          ...r,
          bytes: r.files.some((f) => f.name.endsWith('.gz')) ? '<gzip>' : r.bytes,
          files: r.files.map((f) => ({ ...f, size: f.name.endsWith('.gz') ? '<gzip>' : f.size })),
        })),
      ),
    ),
  ) as unknown;

/** The writers' reports of a job, by step id. */
function reportsOf(job: JobRecord | undefined): Record<string, WouldWrite> {
  return Object.fromEntries(
    Object.values(job?.steps ?? {}).flatMap((s) => (s.wouldWrite ? [[s.stepId, s.wouldWrite] as const] : [])),
  );
}

/** A world's state with the dry runs' own traces taken out: their job records and their staged objects. */
function withoutJobs(state: WorldState, world: SizeWorld, dataflowId: string, jobIds: readonly string[]): WorldState {
  const table = world.env.config.tables.jobs;
  const jobs = state.tables[table];
  const staged = jobIds.map((id) => `/${jobPrefix(dataflowId, id)}`);
  return {
    ...state,
    s3: Object.fromEntries(Object.entries(state.s3).filter(([k]) => !staged.some((p) => k.includes(p)))),
    tables: {
      ...state.tables,
      [table]: Object.fromEntries(
        Object.entries(jobs ?? {}).filter(([, item]) => !jobIds.includes((JSON.parse(item) as JobRecord).id)),
      ),
    },
  };
}

/** The text of the file the real run delivered to the target a dry run named (time-stamped names aside). */
async function deliveredText(world: SizeWorld, target: string, stable: (t: string) => string): Promise<string> {
  const m = /^(sftp|s3):\/\/([^/]+)\/(.*)$/.exec(target);
  if (!m) throw new Error(`unexpected target ${target}`);
  const [, scheme, host, path] = m as unknown as [string, string, string, string];
  let bytes: Buffer;
  if (scheme === 'sftp') {
    const found = readdirSync(join(world.sftpRoot, dirname(path))).find(
      (n) => stable(join(dirname(path), n)) === stable(path),
    );
    bytes = readFileSync(join(world.sftpRoot, dirname(path), found ?? basename(path)));
  } else {
    const listed = await world.env.services.s3.send(new ListObjectsV2Command({ Bucket: host, Prefix: dirname(path) }));
    const key = (listed.Contents ?? []).map((o) => o.Key ?? '').find((k) => stable(k) === stable(path)) ?? path;
    const got = await world.env.services.s3.send(new GetObjectCommand({ Bucket: host, Key: key }));
    bytes = Buffer.from(await (got.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
  }
  return (path.endsWith('.gz') ? gunzipSync(bytes) : bytes).toString('utf8');
}

const shipped = readdirSync('dataflows')
  .filter((f) => f.endsWith('.json'))
  .map((f) => f.replace(/\.json$/, ''))
  .sort();

describe('a dry run', () => {
  it('has a seeded world for every dataflow in dataflows/', () => {
    // Prepare, Act
    const missing = shipped.filter((id) => !SEEDS[id]);

    // Assess
    expect(missing).toEqual([]);
  });

  it.each(shipped)(
    'of %s changes nothing anywhere and reports what the real run then delivers',
    async (id) => {
      // Prepare
      const dataflow = load(id);
      const c = SEEDS[id] as (typeof SEEDS)[string];
      const world = await startSizeWorld(c.accounts ?? RECORDS);
      try {
        await c.seed(world);
        const before = await worldState(world);
        const run = (jobId: string, input: Record<string, unknown>, invocationBudgetMs?: number) =>
          runLocal(dataflow, {
            services: world.env.services,
            registry,
            jobId,
            input: { ...c.input, ...input },
            retryIntervalMs: 10,
            echo: false,
            ...(invocationBudgetMs === undefined ? {} : { invocationBudgetMs }),
          });

        // Act
        const dry = await run(JOB_IDS[0], { dryRun: true });
        const sliced = await run(JOB_IDS[1], { dryRun: true }, 1);
        const after = await worldState(world);
        const real = await run(JOB_IDS[2], {});

        // Assess
        expect(dry.status, JSON.stringify(dry.error)).toBe('succeeded');
        expect(sliced.status, JSON.stringify(sliced.error)).toBe('succeeded');
        expect(real.status, JSON.stringify(real.error)).toBe('succeeded');
        // Nothing changed but the dry runs' job records and what they staged under their own prefixes.
        const dryIds = [dry.jobId, sliced.jobId];
        expect(Object.keys(after.tables[world.env.config.tables.jobs] ?? {})).toHaveLength(2);
        expect(withoutJobs(after, world, dataflow.id, dryIds)).toEqual(withoutJobs(before, world, dataflow.id, dryIds));
        for (const job of [dry.job, sliced.job]) {
          expect(job?.dryRun).toBe(true);
          expect(job?.trace.join('\n')).toContain('watermark not moved (dry run)');
        }
        // The real run did deliver, so the comparison below compares deliveries.
        const delivered = await worldState(world);
        expect(delivered).not.toEqual(after);
        const state = await new DataflowStateStore(world.env.services.dynamo, world.env.config.tables.state).get(
          dataflow.id,
        );
        expect(state.lastJobId).toBe(real.jobId);
        expect(state.lastTestJobId).toBeUndefined();
        // Each writer's report is what the real run then delivered, and the same with a 1 ms budget.
        const reports = reportsOf(dry.job);
        const writers = Object.values(real.job?.steps ?? {}).filter((s) => registry.get(s.type)?.delivers);
        expect(Object.keys(reports).sort()).toEqual(writers.map((s) => s.stepId).sort());
        expect(Math.max(...Object.values(sliced.job?.steps ?? {}).map((s) => s.invocations))).toBeGreaterThan(1);
        expect(sameAcrossBudgets(reportsOf(sliced.job))).toEqual(sameAcrossBudgets(reports));
        const gigyaWrites = delivered.gigyaWrites.length - after.gigyaWrites.length;
        let calls = 0;
        for (const w of writers) {
          const report = reports[w.stepId] as WouldWrite;
          expect(report.records + report.files.length, w.stepId).toBeGreaterThan(0);
          if (w.recordsDelivered !== undefined) {
            expect(report.records, w.stepId).toBe(w.recordsDelivered);
            if (w.type.startsWith('datasource.write.gigya')) calls += report.calls;
          }
          expect(
            report.files.map((f) => [stable(f.target), f.size]),
            w.stepId,
          ).toEqual((w.files ?? []).map((f) => [stable(f.name), f.size]));
          // Each sample is the first lines of the file the real run delivered (gunzipped).
          for (const f of report.files) {
            expect(f.sample, f.target).toBeDefined();
            const lines = (await deliveredText(world, f.target, stable)).split('\n');
            expect(f.sample, f.target).toEqual(lines.slice(0, f.sample?.length));
          }
        }
        expect(gigyaWrites).toBe(calls);
      } finally {
        await world.close();
      }
    },
    600_000,
  );
});
