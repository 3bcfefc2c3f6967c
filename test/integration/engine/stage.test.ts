import { spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeadObjectCommand, PutObjectCommand, S3Client, UploadPartCommand } from '@aws-sdk/client-s3';
import { describe, expect, it, vi } from 'vitest';
import { IdxError } from '../../../lib/core/errors.ts';
import { openStagedFile, StagedFileSink } from '../../../lib/engine/stage.ts';
import { writeChunk } from '../../../lib/scripts/util/io.ts';
import { useLocalEnvironment } from '../../support/local.ts';

const local = useLocalEnvironment();

/** Writes `content` into a staged file in pieces of `piece` bytes; returns the staged reference. */
async function stage(s3: S3Client, prefix: string, content: Buffer, piece = 100_000) {
  const bucket = local.env.services.config.stageBucket;
  const sink = new StagedFileSink(s3, bucket, prefix);
  const w = sink.create('data.bin');
  for (let at = 0; at < content.length; at += piece) await writeChunk(w, content.subarray(at, at + piece));
  w.end();
  return (await sink.close()).files[0];
}

async function read(s3: S3Client, file: { name: string; key: string; size: number }): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of openStagedFile(s3, local.env.services.config.stageBucket, file)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('StagedFileSink', () => {
  it('stages a small file in one request and a large one in parts, each read back byte for byte', async () => {
    // Prepare
    const { s3, config } = local.env.services;
    const small = randomBytes(70_000);
    const large = randomBytes(12 * 1024 * 1024 + 123);

    const sent: string[] = [];
    s3.middlewareStack.add(
      (next, context) => async (args) => {
        sent.push(context.commandName ?? '');
        return next(args);
      },
      { step: 'initialize', name: 'countRequests' },
    );

    // Act
    const smallRef = await stage(s3, 'stage/up/small/', small);
    const smallSent = sent.splice(0);
    const largeRef = await stage(s3, 'stage/up/large/', large, 333_333).finally(() =>
      s3.middlewareStack.remove('countRequests'),
    );
    const head = await s3.send(new HeadObjectCommand({ Bucket: config.stageBucket, Key: largeRef?.key }));

    // Assess
    expect(smallRef?.size).toBe(small.length);
    expect(largeRef?.size).toBe(large.length);
    expect((await read(s3, smallRef as never)).equals(small)).toBe(true);
    expect((await read(s3, largeRef as never)).equals(large)).toBe(true);
    expect(smallSent).toEqual(['PutObjectCommand']);
    // Parts of 5 MiB, S3's smallest: three for 12 MiB.
    expect(sent).toEqual([
      'CreateMultipartUploadCommand',
      'UploadPartCommand',
      'UploadPartCommand',
      'UploadPartCommand',
      'CompleteMultipartUploadCommand',
    ]);
    expect(head.Metadata?.['idx-name']).toBe('data.bin');
  });

  it('stages objects around the sizes where its first part goes to a spool file, byte for byte, leaving no spool behind', async () => {
    // Prepare: 256 KiB are held in memory, the rest of a 5 MiB first part is spooled.
    const { s3 } = local.env.services;
    const KiB = 1024;
    const sizes = [256 * KiB, 256 * KiB + 1, 3 * 1024 * KiB + 7, 5 * 1024 * KiB, 5 * 1024 * KiB + 1, 11 * 1024 * KiB];
    const contents = sizes.map((n) => randomBytes(n));
    const spools = () => readdirSync(tmpdir()).filter((f) => f.startsWith(`idx-stage-${process.pid}-`));

    // Act
    const refs = [];
    for (const [i, content] of contents.entries()) refs.push(await stage(s3, `stage/spool/${i}/`, content, 77_777));

    // Assess
    for (const [i, content] of contents.entries()) {
      expect(refs[i]?.size).toBe(content.length);
      expect((await read(s3, refs[i] as never)).equals(content)).toBe(true);
    }
    expect(spools()).toEqual([]);
  });

  it('spools the first part beyond 256 KiB to a file, and removes it when S3 refuses the object', async () => {
    // Prepare
    const { s3 } = local.env.services;
    s3.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === PutObjectCommand.name)
          throw Object.assign(new Error('Access Denied'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
        return next(args);
      },
      { step: 'initialize', name: 'refusePut' },
    );

    const spools = () => readdirSync(tmpdir()).filter((f) => f.startsWith(`idx-stage-${process.pid}-`));
    const sink = new StagedFileSink(s3, local.env.services.config.stageBucket, 'stage/spool-refused/');
    const w = sink.create('data.bin');

    // Act
    await writeChunk(w, randomBytes(1024 * 1024));
    await vi.waitFor(() => expect(spools()).toHaveLength(1));
    w.end();
    const failure = await sink
      .close()
      .catch((e: unknown) => e)
      .finally(() => s3.middlewareStack.remove('refusePut'));

    // Assess
    expect((failure as IdxError).code).toBe('IDX_STAGE_IO');
    expect(spools()).toEqual([]);
  });

  it('removes before its first spool the spool files of processes that died mid-upload, and keeps the others', async () => {
    // Prepare: files as a killed invocation leaves them, beside files of running processes, one of a process that
    // looks dead from here but wrote it just now (another PID namespace), and one not a spool.
    const { s3, config } = local.env.services;
    const dead = spawnSync(process.execPath, ['-e', '']).pid as number;
    const spool = (pid: number) => `idx-stage-${pid}-${randomUUID()}.part`;
    const names = {
      ofDeadProcess: spool(dead),
      ofDeadProcessJustWritten: spool(dead),
      ofEarlierProcessUnderThisId: spool(process.pid),
      ofThisProcess: spool(process.pid),
      ofRunningProcess: spool(process.ppid),
      notASpool: 'idx-stage-notes.part',
    };
    for (const name of Object.values(names)) writeFileSync(join(tmpdir(), name), 'x'.repeat(1000));
    const anHourAgo = new Date(Date.now() - 3_600_000);
    for (const old of [names.ofDeadProcess, names.ofEarlierProcessUnderThisId])
      utimesSync(join(tmpdir(), old), anHourAgo, anHourAgo);
    // A fresh module, as in a new process: its sweep has not run yet.
    vi.resetModules();
    const fresh = await import('../../../lib/engine/stage.ts');
    const content = randomBytes(1024 * 1024);

    // Act
    const sink = new fresh.StagedFileSink(s3, config.stageBucket, 'stage/sweep/');
    const w = sink.create('data.bin');
    await writeChunk(w, content);
    w.end();
    const ref = (await sink.close()).files[0];

    // Assess
    expect(
      readdirSync(tmpdir())
        .filter((f) => f.startsWith('idx-stage-'))
        .sort(),
    ).toEqual([names.ofDeadProcessJustWritten, names.ofThisProcess, names.ofRunningProcess, names.notASpool].sort());
    expect((await read(s3, ref as never)).equals(content)).toBe(true);
  });

  it('fails with a coded transient error, stops the writer and aborts the upload when a part cannot be sent', async () => {
    // Prepare
    const { s3 } = local.env.services;
    const sent: string[] = [];
    s3.middlewareStack.add(
      (next, context) => async (args) => {
        sent.push(context.commandName ?? '');
        if (context.commandName === UploadPartCommand.name && (args.input as { PartNumber?: number }).PartNumber === 2)
          throw Object.assign(new Error('We encountered an internal error'), {
            name: 'InternalError',
            $metadata: { httpStatusCode: 500 },
          });
        return next(args);
      },
      { step: 'initialize', name: 'failSecondPart' },
    );

    // Act
    const sink = new StagedFileSink(s3, local.env.services.config.stageBucket, 'stage/up/failing/');
    const w = sink.create('data.bin');
    const content = randomBytes(16 * 1024 * 1024);
    const writing = (async () => {
      for (let at = 0; at < content.length; at += 100_000) await writeChunk(w, content.subarray(at, at + 100_000));
    })().catch((e: unknown) => e);
    const failure = await sink
      .close()
      .catch((e: unknown) => e)
      .finally(() => s3.middlewareStack.remove('failSecondPart'));

    // Assess
    expect(failure).toBeInstanceOf(IdxError);
    expect((failure as IdxError).code).toBe('IDX_STAGE_IO');
    expect((failure as IdxError).transient).toBe(true);
    // The writer stops with the same error instead of waiting for room.
    expect(await writing).toBe(failure);
    expect(sent).toContain('AbortMultipartUploadCommand');
  });

  it('lets go of the connection of a read that stopped early, so later reads never wait for a free one', async () => {
    // Prepare: a client with two connections, fewer than the reads that stop early
    const { config } = local.env.services;
    const s3 = new S3Client({
      region: config.region,
      endpoint: config.endpoints.s3,
      forcePathStyle: true,
      ...(config.credentials ? { credentials: config.credentials } : {}),
      requestHandler: { httpAgent: new Agent({ keepAlive: true, maxSockets: 2 }) },
    });
    const content = randomBytes(8 * 1024 * 1024);
    const ref = await stage(s3, 'stage/early/', content, 1024 * 1024);

    // Act: six reads that take one chunk and stop, as a step at its deadline does, then one whole read
    for (let i = 0; i < 6; i++) {
      for await (const _ of openStagedFile(s3, config.stageBucket, ref as never)) break;
    }
    const whole = await read(s3, ref as never);

    // Assess
    expect(whole.equals(content)).toBe(true);
    s3.destroy();
  }, 60_000);
});
