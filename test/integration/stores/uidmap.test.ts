import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, BatchWriteCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it } from 'vitest';
import { uidmapLookup } from '../../../lib/scripts/uidmap.lookup.ts';
import { uidmapWrite } from '../../../lib/scripts/uidmap.write.ts';
import { UidMapStore } from '../../../lib/stores/uidmap.ts';
import { runScript } from '../../../lib/testing/harness.ts';
import { useLocalEnvironment } from '../../support/local.ts';

const local = useLocalEnvironment();

describe('uidmap.write and uidmap.lookup', () => {
  it('stores email → UID for 1,000 records and finds them again in any case, batched', async () => {
    // Prepare
    const records = Array.from({ length: 1000 }, (_, i) => ({
      UID: `uid-${i}`,
      C_EmailAddress: `User${i}@Example.com`,
    }));
    const services = local.env.services;

    // Act
    const written = await runScript(
      uidmapWrite,
      { namespace: 'eloqua', keyField: 'C_EmailAddress' },
      { records, services },
    );
    const looked = await runScript(
      uidmapLookup,
      { namespace: 'eloqua', keyField: 'email' },
      {
        records: [
          { email: 'user7@example.com' },
          { email: 'USER999@EXAMPLE.COM' },
          { email: 'nobody@example.com' },
          { email: '' },
        ],
        services,
      },
    );

    // Assess
    expect(written.counters).toMatchObject({ recordsIn: 1000, recordsOut: 1000, recordsRejected: 0 });
    expect(written.records).toEqual(records);
    expect(looked.records).toEqual([
      { email: 'user7@example.com', UID: 'uid-7' },
      { email: 'USER999@EXAMPLE.COM', UID: 'uid-999' },
    ]);
    expect(looked.rejected.map((r) => (r._errorDetails as { code: string }).code)).toEqual([
      'IDX_UIDMAP_NO_MATCH',
      'IDX_UIDMAP_NO_MATCH',
    ]);
    expect(looked.counters).toMatchObject({ recordsIn: 4, recordsOut: 2, recordsRejected: 2 });
  });

  it('keeps namespaces apart and leaves records that already carry a UID alone', async () => {
    // Prepare
    const services = local.env.services;
    await runScript(uidmapWrite, { namespace: 'a', keyField: 'k' }, { records: [{ UID: 'from-a', k: 'x' }], services });
    await runScript(uidmapWrite, { namespace: 'b', keyField: 'k' }, { records: [{ UID: 'from-b', k: 'x' }], services });

    // Act
    const out = await runScript(
      uidmapLookup,
      { namespace: 'b', keyField: 'k' },
      { records: [{ k: 'x' }, { k: 'x', UID: 'kept' }], services },
    );

    // Assess
    expect(out.records).toEqual([
      { k: 'x', UID: 'from-b' },
      { k: 'x', UID: 'kept' },
    ]);
  });

  it('passes records without a key or UID through and stores nothing for them', async () => {
    // Prepare
    const services = local.env.services;

    // Act
    const out = await runScript(
      uidmapWrite,
      { namespace: 'c', keyField: 'k' },
      { records: [{ k: 'no-uid' }, { UID: 'no-key' }], services },
    );
    const found = await new UidMapStore(services.dynamo, services.config.tables.uidMap).get('c', ['no-uid']);

    // Assess
    expect(out.records).toHaveLength(2);
    expect(found.size).toBe(0);
    expect(out.trace.join('\n')).toContain('2 record(s) had no k or no UID');
  });
});

describe('UidMapStore', () => {
  const db = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));

  it('retries unprocessed writes until DynamoDB takes them', async () => {
    // Prepare
    const mock = mockClient(db);
    const first = { PutRequest: { Item: { pk: 'n#a' } } };
    mock
      .on(BatchWriteCommand)
      .resolvesOnce({ UnprocessedItems: { t: [first] } })
      .resolves({ UnprocessedItems: {} });
    const store = new UidMapStore(db, 't', { baseDelayMs: 1 });

    // Act
    await store.put('n', [
      { key: 'a', uid: '1' },
      { key: 'b', uid: '2' },
    ]);

    // Assess
    const calls = mock.commandCalls(BatchWriteCommand);
    expect(calls).toHaveLength(2);
    expect(calls[1]?.args[0].input.RequestItems).toEqual({ t: [first] });
    mock.restore();
  });

  it('fails with a transient coded error when reads stay unprocessed', async () => {
    // Prepare
    const mock = mockClient(db);
    mock.on(BatchGetCommand).resolves({ Responses: { t: [] }, UnprocessedKeys: { t: { Keys: [{ pk: 'n#a' }] } } });
    const store = new UidMapStore(db, 't', { attempts: 3, baseDelayMs: 1 });

    // Act / Assess
    await expect(store.get('n', ['a'])).rejects.toMatchObject({ code: 'IDX_UIDMAP_THROTTLED', transient: true });
    expect(mock.commandCalls(BatchGetCommand)).toHaveLength(3);
    mock.restore();
  });

  it('splits large writes into batches of 25 and drops duplicate keys within a request', async () => {
    // Prepare
    const mock = mockClient(db);
    mock.on(BatchWriteCommand).resolves({});
    const store = new UidMapStore(db, 't');

    // Act
    await store.put('n', [
      ...Array.from({ length: 60 }, (_, i) => ({ key: `k${i}`, uid: `u${i}` })),
      { key: 'k0', uid: 'latest' },
    ]);

    // Assess
    const sizes = mock.commandCalls(BatchWriteCommand).map((c) => (c.args[0].input.RequestItems?.t ?? []).length);
    expect(sizes).toEqual([25, 25, 10]);
    const firstItem = mock.commandCalls(BatchWriteCommand)[0]?.args[0].input.RequestItems?.t?.[0] as {
      PutRequest: { Item: { uid: string } };
    };
    expect(firstItem.PutRequest.Item.uid).toBe('latest');
    mock.restore();
  });
});
