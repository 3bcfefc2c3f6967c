/**
 * The files a dataflow's file readers already imported, so a scheduled import never imports the same file
 * twice. One item per file on the state table: `{pk: dataflowId, sk: 'file#<source>#<path>'}` with the size and
 * modification time seen when it was read, and the job that read it.
 *
 * A file counts as processed only while the job that read it has not failed: marks are written when the
 * reading step has staged the file (there is no job-level "succeeded" hook for steps), and a failed or killed
 * job's marks are ignored, which gives the same result as marking on success. A mark by the current job is
 * also ignored, so a retried step re-reads what its failed attempt read.
 */
import { BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { IdxError } from '../core/errors.ts';
import { batchGetItems } from './batch-get.ts';
import { stateIoError } from './io-error.ts';
import { JobStore } from './jobs.ts';

/** What identifies one version of a remote file. */
export interface FileVersion {
  /** Full path (or S3 key) on the source. */
  readonly path: string;
  readonly size: number;
  /** Epoch ms. */
  readonly modifiedAt: number;
}

/** A stored mark. */
export interface ProcessedFile extends FileVersion {
  readonly source: string;
  readonly jobId: string;
  /** ISO time the mark was written. */
  readonly processedAt: string;
}

/** The sort key of a file's mark. */
export function processedFileKey(source: string, path: string): string {
  return `file#${source}#${path}`;
}

/** BatchWriteItem takes at most 25 items. */
const WRITE_BATCH = 25;

/** Reads and writes processed-file marks. */
export class ProcessedFileStore {
  readonly #jobStatus = new Map<string, Promise<string | undefined>>();

  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly stateTable: string,
    private readonly jobsTable: string,
  ) {}

  /** The marks of the given paths that exist (by path). */
  async marks(dataflowId: string, source: string, paths: readonly string[]): Promise<Map<string, ProcessedFile>> {
    const found = new Map<string, ProcessedFile>();
    const keys = [...new Set(paths)].map((p) => ({ pk: dataflowId, sk: processedFileKey(source, p) }));
    try {
      await batchGetItems(this.db, this.stateTable, keys, {
        consistentRead: true,
        before: async ({ round }) => {
          if (round > 0) await new Promise((r) => setTimeout(r, Math.min(2000, 50 * 2 ** round)));
          if (round > 8)
            throw stateIoError(new Error('unprocessed keys remain after retries'), 'read processed-file marks');
        },
        onItem: (item) => {
          const mark = item as unknown as ProcessedFile;
          found.set(mark.path, mark);
        },
      });
    } catch (error) {
      throw error instanceof IdxError ? error : stateIoError(error, 'read processed-file marks');
    }
    return found;
  }

  /**
   * Which of `files` were already imported by an earlier job that did not fail: same path, same size, same
   * modification time. A file replaced on the server (new size or time) is new again.
   */
  async processed(
    dataflowId: string,
    source: string,
    files: readonly FileVersion[],
    currentJobId: string,
  ): Promise<Set<string>> {
    return new Set((await this.processedMarks(dataflowId, source, files, currentJobId)).keys());
  }

  /** As {@link processed}, with the mark that makes each file count as imported (which job, when), by path. */
  async processedMarks(
    dataflowId: string,
    source: string,
    files: readonly FileVersion[],
    currentJobId: string,
  ): Promise<Map<string, ProcessedFile>> {
    const marks = await this.marks(
      dataflowId,
      source,
      files.map((f) => f.path),
    );
    const done = new Map<string, ProcessedFile>();
    for (const f of files) {
      const mark = marks.get(f.path);
      if (!mark || mark.size !== f.size || mark.modifiedAt !== f.modifiedAt) continue;
      if (mark.jobId === currentJobId) continue;
      const status = await this.#status(mark.jobId);
      if (status === 'failed' || status === 'killed') continue;
      done.set(f.path, mark);
    }
    return done;
  }

  /** Records that the current job imported these files. */
  async mark(
    dataflowId: string,
    source: string,
    files: readonly FileVersion[],
    jobId: string,
    now = new Date(),
  ): Promise<void> {
    const items = files.map((f) => ({
      pk: dataflowId,
      sk: processedFileKey(source, f.path),
      source,
      path: f.path,
      size: f.size,
      modifiedAt: f.modifiedAt,
      jobId,
      processedAt: now.toISOString(),
    }));
    for (let i = 0; i < items.length; i += WRITE_BATCH) {
      let requests: Record<string, unknown>[] | undefined = items
        .slice(i, i + WRITE_BATCH)
        .map((Item) => ({ PutRequest: { Item } }));
      for (let round = 0; requests && requests.length > 0; round++) {
        if (round > 8)
          throw stateIoError(new Error('unprocessed writes remain after retries'), 'write processed-file marks');
        if (round > 0) await new Promise((r) => setTimeout(r, Math.min(2000, 50 * 2 ** round)));
        const out = await this.db
          .send(new BatchWriteCommand({ RequestItems: { [this.stateTable]: requests as never } }))
          .catch((error: unknown) => {
            throw stateIoError(error, 'write processed-file marks');
          });
        requests = out.UnprocessedItems?.[this.stateTable] as Record<string, unknown>[] | undefined;
      }
    }
  }

  /** The status of a job; undefined when the job record is gone (expired): its marks then stand. */
  #status(jobId: string): Promise<string | undefined> {
    let p = this.#jobStatus.get(jobId);
    if (!p) {
      p = new JobStore(this.db, this.jobsTable)
        .get(jobId)
        .then((job) => job?.status)
        .catch((error: unknown) => {
          throw stateIoError(error, 'check the job of processed-file marks');
        });
      this.#jobStatus.set(jobId, p);
    }
    return p;
  }
}
