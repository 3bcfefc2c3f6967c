import { Readable, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  type FileSource,
  type FileTarget,
  fileNameMatcher,
  type ReadOptions,
  type RemoteFile,
  readRemoteFiles,
  sortFiles,
  uploadRemoteFile,
} from '../../../lib/connectors/transfer.ts';
import type { ScriptContext, StepOutput } from '../../../lib/core/script.ts';
import { offlineServices, testJob } from '../../../lib/testing/harness.ts';

const file = (name: string, modifiedAt: number, content = name): RemoteFile & { content: string } => ({
  name,
  path: `/in/${name}`,
  size: Buffer.byteLength(content),
  modifiedAt,
  content,
});

/** An in-memory folder whose reads can fail once after some bytes, like a dropped connection. */
class MemorySource implements FileSource {
  readonly id = 'mem://test';
  resets = 0;
  opens: number[] = [];
  constructor(
    readonly files: (RemoteFile & { content: string })[],
    private failAfter?: number,
  ) {}
  async list() {
    return this.files;
  }
  async open(f: RemoteFile, start: number) {
    this.opens.push(start);
    const content = Buffer.from((f as RemoteFile & { content: string }).content).subarray(start);
    const cut = this.failAfter;
    this.failAfter = undefined;
    if (cut === undefined) return Readable.from([content]);
    return Readable.from(
      (async function* () {
        yield content.subarray(0, cut);
        throw Object.assign(new Error('connection reset'), { code: 'ECONNRESET' });
      })(),
    );
  }
  async remove() {}
  async move() {}
  async reset() {
    this.resets++;
  }
  isTransient(e: unknown) {
    return (e as { code?: string }).code === 'ECONNRESET';
  }
}

function context(overrides: Partial<ScriptContext> = {}): ScriptContext & { lines: string[] } {
  const lines: string[] = [];
  const log = (m: string) => void lines.push(m);
  return {
    job: testJob(),
    stepId: 'read',
    log: { debug: log, info: log, warn: log, error: log },
    services: offlineServices(),
    deadline: Date.now() + 3_600_000,
    signal: new AbortController().signal,
    lines,
    ...overrides,
  };
}

function memoryOutput(): StepOutput & { files: Map<string, string> } {
  const files = new Map<string, string>();
  const no = () => {
    throw new Error('no records here');
  };
  return {
    files,
    emit: no,
    reject: no,
    drop: no,
    flush: async () => undefined,
    delivered: () => undefined,
    remaining: Number.POSITIVE_INFINITY,
    createFile(name) {
      let text = '';
      return new Writable({
        write(chunk: Buffer, _e, cb) {
          text += chunk.toString();
          cb();
        },
        final(cb) {
          files.set(name, text);
          cb();
        },
      });
    },
  };
}

const options: ReadOptions = {
  fileNameRegex: '.*',
  sortBy: 'time',
  sortOrder: 'ASC',
  skipProcessedFiles: false,
  afterRead: 'leave',
  maxAttempts: 3,
  timeout: 5,
  retryDelayMs: 1,
};

describe('fileNameMatcher', () => {
  it('matches whole names only, as Java regexes do', () => {
    // Act
    const m = fileNameMatcher('.*.csv');

    // Assess
    expect([m.test('a.csv'), m.test('a.csv.bak'), fileNameMatcher('accounts.json').test('old_accounts.json')]).toEqual([
      true,
      false,
      false,
    ]);
  });
});

describe('sortFiles', () => {
  it('orders by time with ties broken by name, or by name; DESC is the exact reverse of ASC', () => {
    // Prepare
    const files = [file('b', 2), file('c', 1), file('a', 2)];

    // Act / Assess
    expect(sortFiles(files, 'time', 'ASC').map((f) => f.name)).toEqual(['c', 'a', 'b']);
    expect(sortFiles(files, 'time', 'DESC').map((f) => f.name)).toEqual(['b', 'a', 'c']);
    expect(sortFiles(files, 'name', 'DESC').map((f) => f.name)).toEqual(['c', 'b', 'a']);
  });
});

describe('readRemoteFiles', () => {
  it('resumes a broken download from the byte where it stopped', async () => {
    // Prepare
    const source = new MemorySource([file('a.csv', 1, 'abcdefghij')], 4);
    const out = memoryOutput();

    // Act
    await readRemoteFiles(source, options, context(), out, { io: 'IDX_TEST_IO' });

    // Assess
    expect(out.files.get('a.csv')).toBe('abcdefghij');
    expect(source.opens).toEqual([0, 4]);
    expect(source.resets).toBe(1);
  });

  it('hands back a continuation when the time budget is spent, and the next invocation reads the rest', async () => {
    // Prepare
    const source = new MemorySource([file('a.csv', 1), file('b.csv', 2), file('c.csv', 3)]);
    const first = memoryOutput();
    const second = memoryOutput();

    // Act
    const paused = await readRemoteFiles(source, options, context({ deadline: Date.now() }), first, {
      io: 'IDX_TEST_IO',
    });
    const resumed = await readRemoteFiles(source, options, context({ continuation: paused?.continuation }), second, {
      io: 'IDX_TEST_IO',
    });

    // Assess
    expect([...first.files.keys()]).toEqual(['a.csv']);
    expect(paused?.continuation).toEqual({ read: ['/in/a.csv'] });
    expect([...second.files.keys()]).toEqual(['b.csv', 'c.csv']);
    expect(resumed).toBeUndefined();
  });

  it('fails with a transient coded error when a file changes size while it is read', async () => {
    // Prepare
    const source = new MemorySource([{ ...file('a.csv', 1, 'abc'), size: 10 }]);

    // Act / Assess
    await expect(
      readRemoteFiles(source, options, context(), memoryOutput(), { io: 'IDX_TEST_IO' }),
    ).rejects.toMatchObject({
      code: 'IDX_TEST_IO',
      transient: true,
    });
  });
});

/** An in-memory folder that can lose bytes of uploads, like a server that drops the end of a transfer. */
class MemoryTarget implements FileTarget {
  readonly files = new Map<string, Buffer>();
  truncateNext = 0;
  failAll = false;
  async upload(path: string, body: Readable) {
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(c as Buffer);
    if (this.failAll) {
      this.files.set(path, Buffer.concat(chunks).subarray(0, 1));
      throw Object.assign(new Error('connection reset'), { code: 'ECONNRESET' });
    }
    const all = Buffer.concat(chunks);
    this.files.set(path, this.truncateNext > 0 ? all.subarray(0, all.length - 1) : all);
    if (this.truncateNext > 0) this.truncateNext--;
  }
  async rename(from: string, to: string) {
    const b = this.files.get(from);
    if (!b) throw new Error('missing');
    this.files.delete(from);
    this.files.set(to, b);
  }
  async remove(path: string) {
    this.files.delete(path);
  }
  async size(path: string) {
    return this.files.get(path)?.length;
  }
  async ensureFolder() {}
  async reset() {}
  isTransient(e: unknown) {
    return (e as { code?: string }).code === 'ECONNRESET';
  }
}

const input = (name: string, content: string) => ({
  name,
  size: content.length,
  open: () => Readable.from([Buffer.from(content)]),
});

describe('uploadRemoteFile', () => {
  it('uploads again when the server holds fewer bytes than were sent, then renames', async () => {
    // Prepare
    const target = new MemoryTarget();
    target.truncateNext = 1;

    // Act
    const path = await uploadRemoteFile(
      target,
      input('a.csv', 'hello'),
      { root: '/in', temporaryUploadExtension: true, maxAttempts: 3, timeout: 5, retryDelayMs: 1 },
      context(),
      { io: 'IDX_TEST_IO' },
    );

    // Assess
    expect(path).toBe('/in/a.csv');
    expect([...target.files.entries()].map(([k, v]) => [k, v.toString()])).toEqual([['/in/a.csv', 'hello']]);
  });

  it('removes the partial upload and fails transiently when every attempt drops', async () => {
    // Prepare
    const target = new MemoryTarget();
    target.failAll = true;

    // Act
    const run = uploadRemoteFile(
      target,
      input('a.csv', 'hello'),
      { root: '/in', temporaryUploadExtension: false, maxAttempts: 2, timeout: 5, retryDelayMs: 1 },
      context(),
      { io: 'IDX_TEST_IO' },
    );

    // Assess
    await expect(run).rejects.toMatchObject({ code: 'IDX_TEST_IO', transient: true });
    expect(target.files.size).toBe(0);
  });
});
