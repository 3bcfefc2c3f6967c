/**
 * A connection cut mid-upload that the writer's own attempts do not absorb fails the step with a transient
 * error; the compiled state machine retries the step and the job still delivers exactly one complete file.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { validateText } from '../../lib/dataflow/validate.ts';
import { type RunEvent, runLocal } from '../../lib/local/runner.ts';
import { type SftpServer, startSftpServer } from '../../lib/local/sftp-server.ts';
import { defaultRegistry } from '../../lib/scripts/index.ts';
import { useLocalEnvironment } from '../support/local.ts';

let server: SftpServer | undefined;
let root = '';
const local = useLocalEnvironment({
  secrets: { PARTNER_SFTP_PASSWORD: 'pw-123456' },
  extras: [
    async ({ dir }) => {
      root = join(dir, 'partner');
      server = await startSftpServer({
        root,
        hostKeyPath: join(dir, 'partner-key'),
        users: [{ username: 'partner', password: 'pw-123456' }],
        faults: { closeAfterBytes: 1_000_000 },
      });
      return { endpoints: {}, close: () => (server as SftpServer).close() };
    },
  ],
});

describe('a dropped SFTP connection', () => {
  it('is retried by the job when the step gives up, leaving one complete file and no temporary file', async () => {
    // Prepare
    const { services } = local.env;
    const content = Buffer.alloc(3_000_000);
    for (let i = 0; i < content.length; i += 4) content.writeUInt32LE(i, i);
    await services.s3.send(new CreateBucketCommand({ Bucket: 'outbox' }));
    await services.s3.send(new PutObjectCommand({ Bucket: 'outbox', Key: 'ready/contacts.csv', Body: content }));
    const s = server as SftpServer;
    const { dataflow, valid, problems } = validateText(
      JSON.stringify({
        id: 'relay',
        name: 'S3 to partner SFTP',
        steps: [
          {
            id: 's3',
            type: 'datasource.read.amazon.s3',
            params: { bucketName: 'outbox', objectKeyPrefix: 'ready/' },
            next: ['sftp'],
          },
          {
            id: 'sftp',
            type: 'datasource.write.sftp',
            params: {
              host: s.host,
              port: s.port,
              username: 'partner',
              password: '${secret:PARTNER_SFTP_PASSWORD}',
              hostKeyFingerprint: s.hostKeyFingerprint,
              remotePath: '/inbound',
              maxAttempts: 1,
            },
          },
        ],
      }),
      defaultRegistry(),
    );
    expect(valid, JSON.stringify(problems)).toBe(true);
    const events: RunEvent[] = [];

    // Act
    const result = await runLocal(dataflow!, { services, registry: defaultRegistry(), onEvent: (e) => events.push(e) });

    // Assess
    expect(result.status, JSON.stringify(result.error)).toBe('succeeded');
    expect(s.cuts).toBe(1);
    expect(events.filter((e) => e.kind === 'retry').map((e) => (e as { error: string }).error)).toEqual([
      'IdxTransientError',
    ]);
    expect(readdirSync(join(root, 'inbound'))).toEqual(['contacts.csv']);
    expect(readFileSync(join(root, 'inbound', 'contacts.csv')).equals(content)).toBe(true);
  });
});
