import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  downloadFile,
  fileNameMatcher,
  sortFiles,
  type TransferOptions,
  uploadFile,
} from '../../../lib/connectors/transfer.ts';
import { MemorySource, MemoryTarget, memoryFile, memoryInput } from '../../support/memory-files.ts';

/** Transfer options whose warnings land in `lines`. */
function transferOptions(overrides: Partial<TransferOptions> = {}): TransferOptions & { lines: string[] } {
  const lines: string[] = [];
  const log = (m: string) => void lines.push(m);
  return {
    maxAttempts: 3,
    timeout: 5,
    retryDelayMs: 1,
    code: 'IDX_SFTP_IO',
    log: { debug: log, info: log, warn: log, error: log },
    lines,
    ...overrides,
  };
}

/** A writable that keeps what it is given as text. */
function collector(): Writable & { text: string } {
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      sink.text += chunk.toString();
      cb();
    },
  }) as Writable & { text: string };
  sink.text = '';
  return sink;
}

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
    const files = [memoryFile('b', 2), memoryFile('c', 1), memoryFile('a', 2)];

    // Act / Assess
    expect(sortFiles(files, 'time', 'ASC').map((f) => f.name)).toEqual(['c', 'a', 'b']);
    expect(sortFiles(files, 'time', 'DESC').map((f) => f.name)).toEqual(['b', 'a', 'c']);
    expect(sortFiles(files, 'name', 'DESC').map((f) => f.name)).toEqual(['c', 'b', 'a']);
  });
});

describe('downloadFile', () => {
  it('resumes a broken download from the byte where it stopped, after a warning and a fresh connection', async () => {
    // Prepare
    const file = memoryFile('a.csv', 1, 'abcdefghij');
    const source = new MemorySource([file], 4);
    const target = collector();
    const options = transferOptions();

    // Act
    await downloadFile(source, file, target, options);

    // Assess
    expect(target.text).toBe('abcdefghij');
    expect(source.opens).toEqual([0, 4]);
    expect(source.resets).toBe(1);
    expect(options.lines).toEqual([expect.stringMatching(/^downloading \/in\/a\.csv failed \(attempt 1 of 3\)/)]);
  });

  it('fails with a transient coded error when a file changes size while it is read', async () => {
    // Prepare
    const file = { ...memoryFile('a.csv', 1, 'abc'), size: 10 };

    // Act
    const run = downloadFile(new MemorySource([file]), file, collector(), transferOptions());

    // Assess
    await expect(run).rejects.toMatchObject({ code: 'IDX_SFTP_IO', transient: true, received: '3 bytes' });
  });
});

describe('uploadFile', () => {
  it('uploads again when the server holds fewer bytes than were sent, then renames', async () => {
    // Prepare
    const target = new MemoryTarget();
    target.truncateNext = 1;

    // Act
    await uploadFile(target, '/in/a.csv', memoryInput('a.csv', 'hello'), {
      ...transferOptions(),
      temporaryUploadExtension: true,
    });

    // Assess
    expect(target.texts()).toEqual([['/in/a.csv', 'hello']]);
  });

  it('removes the partial upload and fails transiently when every attempt drops', async () => {
    // Prepare
    const target = new MemoryTarget();
    target.failAll = true;

    // Act
    const run = uploadFile(target, '/in/a.csv', memoryInput('a.csv', 'hello'), {
      ...transferOptions({ maxAttempts: 2 }),
      temporaryUploadExtension: false,
    });

    // Assess
    await expect(run).rejects.toMatchObject({ code: 'IDX_SFTP_IO', transient: true });
    expect(target.files.size).toBe(0);
  });
});
