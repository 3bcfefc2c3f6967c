import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdxError } from '../../../lib/core/errors.ts';
import { type LocalEnvironment, startLocalEnvironment } from '../../../lib/local/environment.ts';
import { MemoryNonces, NONCES_KEY, TableNonces } from '../../../lib/stores/nonces.ts';

let env: LocalEnvironment;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'idx-nonces-'));
  env = await startLocalEnvironment({ dir, ephemeral: true, env: {} });
});

afterAll(async () => {
  await env?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('TableNonces', () => {
  it('lets one of two containers claim a nonce, and keeps it in its partition until the window ends', async () => {
    // Prepare: two stores over one table, as two containers of the deployed function.
    const now = 1_800_000_000_000;
    const a = new TableNonces(env.services.dynamo, env.config.tables.state, () => now);
    const b = new TableNonces(env.services.dynamo, env.config.tables.state, () => now);

    // Act
    const first = await a.claim('n-1', now + 120_000);
    const replayedElsewhere = await b.claim('n-1', now + 120_000);
    const replayedHere = await a.claim('n-1', now + 120_000);
    const other = await b.claim('n-2', now + 120_000);

    // Assess
    expect([first, replayedElsewhere, replayedHere, other]).toEqual([true, false, false, true]);
    const item = await env.services.dynamo.send(
      new GetCommand({ TableName: env.config.tables.state, Key: { pk: NONCES_KEY, sk: 'n-1' } }),
    );
    expect(item.Item).toEqual({ pk: NONCES_KEY, sk: 'n-1', expiresAt: (now + 120_000) / 1000 });
  });

  it('claims again a nonce whose window has passed though TTL has not removed its item yet', async () => {
    // Prepare
    const now = 1_800_000_000_000;
    await env.services.dynamo.send(
      new PutCommand({
        TableName: env.config.tables.state,
        Item: { pk: NONCES_KEY, sk: 'old', expiresAt: now / 1000 - 1 },
      }),
    );
    const store = new TableNonces(env.services.dynamo, env.config.tables.state, () => now);

    // Act
    const claimed = await store.claim('old', now + 120_000);
    const again = await store.claim('old', now + 120_000);

    // Assess
    expect([claimed, again]).toEqual([true, false]);
  });

  it('fails with IDX_STATE_IO, transient, when the table cannot be written', async () => {
    // Prepare
    const db = DynamoDBDocumentClient.from(env.services.dynamo);
    const mock = mockClient(db);
    mock
      .on(PutCommand)
      .rejects(Object.assign(new Error('Throughput exceeds the current capacity'), { name: 'ThrottlingException' }));
    const store = new TableNonces(db, 'state');

    // Act
    const error = await store.claim('n', Date.now()).catch((e: unknown) => e);
    mock.restore();

    // Assess
    expect(error).toBeInstanceOf(IdxError);
    expect(error).toMatchObject({ code: 'IDX_STATE_IO', transient: true });
    expect((error as Error).message).toMatch(/nonce.*ThrottlingException/);
  });
});

describe('MemoryNonces', () => {
  it('refuses a nonce inside its window and takes it again after', async () => {
    // Prepare
    let now = 1000;
    const nonces = new MemoryNonces(() => now);

    // Act
    const first = await nonces.claim('x', 5000);
    const inside = await nonces.claim('x', 5000);
    now = 5000;
    const after = await nonces.claim('x', 9000);

    // Assess
    expect([first, inside, after]).toEqual([true, false, true]);
  });

  it('drops the expired nonces once it holds many, and still refuses the live ones', async () => {
    // Prepare
    let now = 0;
    const nonces = new MemoryNonces(() => now);
    for (let i = 0; i < MemoryNonces.sweepAt - 1; i++) await nonces.claim(`old-${i}`, 10);
    await nonces.claim('live', 1_000);
    now = 100;
    const before = nonces.size;

    // Act
    const swept = await nonces.claim('new', 1_000);
    const after = nonces.size;
    const live = await nonces.claim('live', 1_000);
    const oldAgain = await nonces.claim('old-0', 1_000);

    // Assess
    expect([before, after]).toEqual([MemoryNonces.sweepAt, 2]);
    expect([swept, live, oldAgain]).toEqual([true, false, true]);
  });
});
