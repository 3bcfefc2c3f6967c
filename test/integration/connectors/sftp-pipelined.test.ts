import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { SftpConnection, SftpFileSource, SftpFileTarget } from '../../../lib/connectors/sftp.ts';
import { REQUESTS_IN_FLIGHT } from '../../../lib/connectors/sftp-pipelined.ts';
import type { Logger } from '../../../lib/core/logger.ts';
import { type SftpServer, type SftpServerOptions, startSftpServer } from '../../../lib/local/sftp-server.ts';

const open: { server: SftpServer; connection: SftpConnection }[] = [];
const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** An embedded server answering each read and write after `faults.answerDelayMs`, and a connection to it. */
async function serve(faults: SftpServerOptions['faults'] = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'idx-sftp-pipelined-'));
  const server = await startSftpServer({ root: join(dir, 'root'), hostKeyPath: join(dir, 'host-key'), faults });
  const connection = new SftpConnection(
    {
      host: server.host,
      port: server.port,
      username: 'idx',
      password: 'idx',
      timeoutMs: 10_000,
      hostKeyFingerprint: server.hostKeyFingerprint,
    },
    quiet,
  );
  open.push({ server, connection });
  return { server, connection, root: join(dir, 'root') };
}

/** `data` as a stream of chunks of `size` bytes (not a multiple of a request's). */
function chunks(data: Buffer, size: number): Readable {
  return Readable.from(
    (function* () {
      for (let at = 0; at < data.length; at += size) yield data.subarray(at, at + size);
    })(),
  );
}

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

afterEach(async () => {
  for (const { server, connection } of open.splice(0)) {
    await connection.close();
    await server.close();
  }
});

describe('SFTP transfers with many requests in flight', () => {
  it('uploads with many writes awaiting their answers at once, and the file holds exactly the bytes sent', async () => {
    // Prepare: a server 5 ms away, where one write per round trip would take a second per 6 MB.
    const { server, connection, root } = await serve({ answerDelayMs: 5 });
    const data = randomBytes(3 * 1024 * 1024 + 123);

    // Act
    await new SftpFileTarget(connection, '/').upload('/up.bin', chunks(data, 100_003));

    // Assess
    expect(readFileSync(join(root, 'up.bin')).equals(data)).toBe(true);
    expect(server.traffic.peakWritesInFlight).toBeGreaterThanOrEqual(16);
    expect(server.traffic.peakWritesInFlight).toBeLessThanOrEqual(REQUESTS_IN_FLIGHT);
    expect(server.traffic.openFiles).toBe(0);
  });

  it('uploads the UTF-8 bytes of a stream of strings', async () => {
    // Prepare
    const { connection, root } = await serve();
    const text = 'Zürich, São Paulo, Kraków\n'.repeat(5_000);

    // Act
    await new SftpFileTarget(connection, '/').upload('/text.csv', Readable.from([text.slice(0, 7), text.slice(7)]));

    // Assess
    expect(readFileSync(join(root, 'text.csv'), 'utf8')).toBe(text);
  });

  it('reads from any byte with many reads awaiting their answers at once, and hands the bytes on in order', async () => {
    // Prepare
    const { server, connection, root } = await serve({ answerDelayMs: 5 });
    const data = randomBytes(3 * 1024 * 1024 + 123);
    writeFileSync(join(root, 'down.bin'), data);
    const source = new SftpFileSource(connection, '/');
    const file = { name: 'down.bin', path: '/down.bin', size: data.length, modifiedAt: 0 };

    // Act
    const whole = await readAll(await source.open(file, 0));
    const rest = await readAll(await source.open(file, 1_000_001));
    const atEnd = await readAll(await source.open(file, data.length));
    const beyond = await readAll(await source.open(file, data.length + 10));

    // Assess
    expect(whole.equals(data)).toBe(true);
    expect(rest.equals(data.subarray(1_000_001))).toBe(true);
    expect(atEnd.length).toBe(0);
    expect(beyond.length).toBe(0);
    expect(server.traffic.peakReadsInFlight).toBeGreaterThanOrEqual(16);
    expect(server.traffic.openFiles).toBe(0);
  });

  it('puts together reads the server answers with fewer bytes than asked for', async () => {
    // Prepare: every read answered with at most 1,000 bytes.
    const { connection, root } = await serve({ maxReadBytes: 1_000 });
    const data = randomBytes(200_000);
    writeFileSync(join(root, 'short.bin'), data);

    // Act
    const stream = await new SftpFileSource(connection, '/').open(
      { name: 'short.bin', path: '/short.bin', size: data.length, modifiedAt: 0 },
      0,
    );
    const read = await readAll(stream);

    // Assess
    expect(read.equals(data)).toBe(true);
  });

  it('closes the remote file when its reader stops early, before the stream closes', async () => {
    // Prepare
    const { server, connection, root } = await serve({ answerDelayMs: 2 });
    writeFileSync(join(root, 'big.bin'), randomBytes(4 * 1024 * 1024));
    const stream = await new SftpFileSource(connection, '/').open(
      { name: 'big.bin', path: '/big.bin', size: 4 * 1024 * 1024, modifiedAt: 0 },
      0,
    );
    await once(stream, 'data');

    // Act
    stream.destroy();
    await once(stream, 'close');

    // Assess
    expect(server.traffic.openFiles).toBe(0);
  });

  it('fails at once with a dropped-connection error when the connection is cut, instead of waiting for answers', async () => {
    // Prepare: the server cuts the connection after 1 MB.
    const { connection } = await serve({ closeAfterBytes: 1024 * 1024, answerDelayMs: 2 });
    const data = randomBytes(3 * 1024 * 1024);

    // Act
    const failure = await new SftpFileTarget(connection, '/')
      .upload('/cut.bin', chunks(data, 65_536))
      .catch((e: unknown) => e);

    // Assess
    expect(failure).toBeInstanceOf(Error);
    expect(connection.isTransient(failure)).toBe(true);
  });
});
