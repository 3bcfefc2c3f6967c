/**
 * The public Game Mechanics dataflow (05: accounts → Game Mechanics lookup → one CSV row per achievement, and the
 * accounts as JSON, both to one SFTP writer) and the comment streams export (21: streams → JSON → gzip → SFTP),
 * read from the public fixtures, validated as they are, then run locally through the compiled state machine with
 * the values their authors leave to the user filled in (an empty SFTP host is the embedded server, the API key
 * the emulator's). Each runs in a fresh world twice, with the default invocation budget and with 1 ms, and what
 * reached the SFTP folder is checked record by record and must be the same both times.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Dataflow } from '../../lib/dataflow/types.ts';
import { validateFile, validateText } from '../../lib/dataflow/validate.ts';
import { sampleChallengeStatus, sampleStreams } from '../../lib/local/gigya-comments.ts';
import { runLocal } from '../../lib/local/runner.ts';
import { expandDottedKeys } from '../../lib/scripts/datasource.read.gigya.comment.ts';
import { defaultRegistry } from '../../lib/scripts/index.ts';
import { LOCAL_GIGYA_CREDENTIALS } from '../../lib/scripts/util/gigya-step.ts';
import { FIXTURES_DIR } from '../support/dataflows.ts';
import { type SizeWorld, snapshotTargets, startSizeWorld, type TargetSnapshot } from '../support/targets.ts';

const ACCOUNTS = 25;
const registry = defaultRegistry();
const GM = '05-game-mechanics-split-fanin-sftp.json';
const STREAMS = '21-comments-export-streams-gzip-sftp.json';

/** A public dataflow with the values its author left to the user filled in, validated with no error. */
function filledIn(file: string, fill: Record<string, string>): Dataflow {
  let text = readFileSync(join(FIXTURES_DIR, file), 'utf8');
  for (const [from, to] of Object.entries(fill)) text = text.replaceAll(from, to);
  const { dataflow, valid, problems } = validateText(text, registry, { file });
  expect(valid, JSON.stringify(problems.filter((p) => p.severity === 'error'))).toBe(true);
  return dataflow as Dataflow;
}

const gmDataflow = () => filledIn(GM, { '"..."': '""' });
const streamsDataflow = () =>
  filledIn(STREAMS, {
    '{{ PUT YOUR API KEY HERE }}': LOCAL_GIGYA_CREDENTIALS.apiKey,
    '{{ PUT YOUR SITE ID HERE }}': '1',
    '{{ PUT YOUR SFTP HOST HERE host.domain.com }}': '',
    '{{ SFTP USER NAME HERE }}': '',
    '{{ SFTP PASSWORD HERE }}': '',
    '{{ FOLDER WHERE FILE SHOULD GO LIKE / }}': 'comments',
  });

/** Runs a dataflow in a fresh world; returns the run, what reached the targets, and the world (closed). */
async function runFresh(dataflow: Dataflow, input: Record<string, unknown>, invocationBudgetMs?: number) {
  const world = await startSizeWorld(ACCOUNTS);
  try {
    const run = await runLocal(dataflow, {
      services: world.env.services,
      registry,
      jobId: `e2e-${dataflow.id}`,
      input,
      retryIntervalMs: 10,
      ...(invocationBudgetMs === undefined ? {} : { invocationBudgetMs }),
    });
    return { run, snapshot: await snapshotTargets(world), world };
  } finally {
    await world.close();
  }
}

/** A CSV cell as file.format.dsv writes a value. */
const cell = (v: unknown) => (v === undefined ? '' : String(v));

/** The rows the Game Mechanics CSV must hold: one per achievement of every account with a first name. */
function expectedAchievementRows(world: SizeWorld): Record<string, string>[] {
  const rows: Record<string, string>[] = [];
  for (const a of world.emu.store.accounts.values()) {
    if ((a.profile as { firstName?: string } | undefined)?.firstName == null) continue;
    sampleChallengeStatus(a.UID).forEach((c, i) => {
      rows.push({
        ...Object.fromEntries(Object.entries(c).map(([k, v]) => [k, cell(v)])),
        UID: a.UID,
        _key: `${a.UID}_${i}`,
      });
    });
  }
  return rows.sort((x, y) => (x._key as string).localeCompare(y._key as string));
}

const byKey = (rows: readonly unknown[]) =>
  [...(rows as Record<string, string>[])].sort((x, y) => (x._key as string).localeCompare(y._key as string));

describe('public dataflow 05, Game Mechanics split and fan-in to SFTP', () => {
  it('validates as published, with no error', () => {
    // Act
    const { valid, problems } = validateFile(join(FIXTURES_DIR, GM), registry);

    // Assess
    expect(valid, JSON.stringify(problems)).toBe(true);
  });

  it('writes one CSV row per achievement and the accounts as JSON, the same with a 1 ms invocation budget', async () => {
    // Prepare
    const dataflow = gmDataflow();

    // Act
    const normal = await runFresh(dataflow, { fullExtract: true });
    const sliced = await runFresh(dataflow, { fullExtract: true }, 1);

    // Assess
    expect(normal.run.status, JSON.stringify(normal.run.error)).toBe('succeeded');
    expect(sliced.run.status, JSON.stringify(sliced.run.error)).toBe('succeeded');
    const files = normal.snapshot.sftp;
    expect(Object.keys(files).sort()).toEqual(['test_Accounts_2026.json', 'test_GM_<now>.csv']);
    const expectedRows = expectedAchievementRows(normal.world);
    expect(expectedRows.length).toBeGreaterThan(ACCOUNTS);
    expect(byKey(files['test_GM_<now>.csv']?.records ?? [])).toEqual(expectedRows);
    const accounts = [...normal.world.emu.store.accounts.values()]
      .filter((a) => (a.profile as { firstName?: string }).firstName != null)
      .map((a) => {
        const p = a.profile as Record<string, unknown>;
        const profile = Object.fromEntries(
          ['firstName', 'lastName', 'gender', 'nickname', 'email']
            .filter((k) => p[k] !== undefined)
            .map((k) => [k, p[k]]),
        );
        return { UID: a.UID, profile };
      });
    const byUid = (xs: readonly unknown[]) => [...(xs as { UID: string }[])].sort((x, y) => x.UID.localeCompare(y.UID));
    expect(byUid(files['test_Accounts_2026.json']?.records ?? [])).toEqual(byUid(accounts));
    const gm = normal.run.job?.steps.gm;
    expect(gm).toMatchObject({ recordsIn: accounts.length, recordsOut: accounts.length, recordsRejected: 0 });
    expect(sliced.snapshot).toEqual(normal.snapshot);
  });
});

describe('public dataflow 21, comment streams to gzipped JSON on SFTP', () => {
  it('validates as published, with no error', () => {
    // Act
    const { valid, problems } = validateFile(join(FIXTURES_DIR, STREAMS), registry);

    // Assess
    expect(valid, JSON.stringify(problems)).toBe(true);
  });

  it('writes every stream of the category created since lastRuntime, the same with a 1 ms invocation budget', async () => {
    // Prepare
    const dataflow = streamsDataflow();
    const expected = sampleStreams()
      .filter((s) => s.categoryID === 'comments')
      .map((s) => expandDottedKeys(s));

    // Act
    const normal = await runFresh(dataflow, {});
    const sliced = await runFresh(dataflow, {}, 1);

    // Assess
    expect(normal.run.status, JSON.stringify(normal.run.error)).toBe('succeeded');
    expect(sliced.run.status, JSON.stringify(sliced.run.error)).toBe('succeeded');
    const name = `comments/commentstreams_prod_export_${LOCAL_GIGYA_CREDENTIALS.apiKey}_<now>.json.gz`;
    expect(Object.keys(normal.snapshot.sftp)).toEqual([name]);
    const file = normal.snapshot.sftp[name] as TargetSnapshot['sftp'][string];
    expect(file.gzipValid).toBe(true);
    expect(file.records).toEqual(expected);
    expect(normal.run.job?.delta?.from).toBe('2020-04-29T23:58:52.034Z');
    expect(normal.run.job?.steps['Read comments']?.invocations ?? 0).toBe(1);
    expect(sliced.run.job?.steps['Read comments']?.invocations ?? 0).toBeGreaterThan(1);
    expect(sliced.snapshot).toEqual(normal.snapshot);
  });

  it('reads no stream on the next run, whose delta starts where the first run left off, and writes no file', async () => {
    // Prepare
    const dataflow = streamsDataflow();
    const world = await startSizeWorld(ACCOUNTS);

    try {
      // Act
      const first = await runLocal(dataflow, { services: world.env.services, registry, jobId: 'e2e-streams-1' });
      const second = await runLocal(dataflow, { services: world.env.services, registry, jobId: 'e2e-streams-2' });

      // Assess
      expect(first.status, JSON.stringify(first.error)).toBe('succeeded');
      expect(second.status, JSON.stringify(second.error)).toBe('succeeded');
      expect(second.job?.delta?.from).toBeDefined();
      expect(Date.parse(second.job?.delta?.from ?? '')).toBeGreaterThan(Date.parse('2020-04-29T23:58:52.034Z'));
      expect(second.job?.steps['Read comments']?.recordsOut ?? 0).toBe(0);
      expect(Object.keys((await snapshotTargets(world)).sftp)).toHaveLength(1);
    } finally {
      await world.close();
    }
  });
});
