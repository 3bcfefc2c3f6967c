import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { ScriptContext, StepOutput } from '../../../../lib/core/script.ts';
import { type ReadOptions, readRemoteFiles, remoteWriterHook } from '../../../../lib/scripts/util/remote-files.ts';
import { offlineServices, testJob } from '../../../../lib/testing/harness.ts';
import { MemorySource, MemoryTarget, memoryFile, memoryInput } from '../../../support/memory-files.ts';

function context(overrides: Partial<ScriptContext> = {}): ScriptContext {
  const log = () => undefined;
  return {
    job: testJob(),
    stepId: 'read',
    log: { debug: log, info: log, warn: log, error: log },
    services: offlineServices(),
    deadline: Date.now() + 3_600_000,
    signal: new AbortController().signal,
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
    deliveredRecords: () => undefined,
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

describe('readRemoteFiles', () => {
  it('hands back a continuation when the time budget is spent, and the next invocation reads the rest', async () => {
    // Prepare
    const source = new MemorySource([memoryFile('a.csv', 1), memoryFile('b.csv', 2), memoryFile('c.csv', 3)]);
    const first = memoryOutput();
    const second = memoryOutput();

    // Act
    const paused = await readRemoteFiles(source, options, context({ deadline: Date.now() }), first, {
      io: 'IDX_SFTP_IO',
    });
    const resumed = await readRemoteFiles(source, options, context({ continuation: paused?.continuation }), second, {
      io: 'IDX_SFTP_IO',
    });

    // Assess
    expect([...first.files.keys()]).toEqual(['a.csv']);
    expect(paused?.continuation).toEqual({ read: ['/in/a.csv'] });
    expect([...second.files.keys()]).toEqual(['b.csv', 'c.csv']);
    expect(resumed).toBeUndefined();
  });

  it('names the step in a transfer failure, which the protocol client raised without one', async () => {
    // Prepare
    const source = new MemorySource([{ ...memoryFile('a.csv', 1, 'abc'), size: 10 }]);

    // Act
    const run = readRemoteFiles(source, options, context({ stepId: 'from partner' }), memoryOutput(), {
      io: 'IDX_SFTP_IO',
    });

    // Assess
    await expect(run).rejects.toMatchObject({
      code: 'IDX_SFTP_IO',
      transient: true,
      location: { stepId: 'from partner' },
    });
  });
});

describe('remoteWriterHook', () => {
  it('uploads a staged file under the folder and reports where it went and the size the target holds', async () => {
    // Prepare
    const target = new MemoryTarget();
    const delivered: [string, number][] = [];
    const out = { ...memoryOutput(), delivered: (name: string, size: number) => void delivered.push([name, size]) };
    const hook = remoteWriterHook(
      target,
      { root: '/in', temporaryUploadExtension: true, overwrite: true, maxAttempts: 3, timeout: 5, retryDelayMs: 1 },
      context(),
      { io: 'IDX_SFTP_IO' },
      (path) => `memory:${path}`,
    );

    // Act
    await hook(memoryInput('a.csv', 'hello'), out);

    // Assess
    expect(delivered).toEqual([['memory:/in/a.csv', 5]]);
    expect(target.texts()).toEqual([['/in/a.csv', 'hello']]);
  });

  it('names the step when every attempt drops', async () => {
    // Prepare
    const target = new MemoryTarget();
    target.failAll = true;
    const hook = remoteWriterHook(
      target,
      { root: '/in', temporaryUploadExtension: false, overwrite: true, maxAttempts: 2, timeout: 5, retryDelayMs: 1 },
      context({ stepId: 'to partner' }),
      { io: 'IDX_SFTP_IO' },
      (path) => path,
    );

    // Act
    const run = hook(memoryInput('a.csv', 'hello'), memoryOutput());

    // Assess
    await expect(run).rejects.toMatchObject({ code: 'IDX_SFTP_IO', location: { stepId: 'to partner' } });
    expect(target.files.size).toBe(0);
  });
});
