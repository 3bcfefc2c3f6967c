/** References that travel between steps in the state machine's state: keys and counts, never data. */

/** One staged NDJSON part. */
export interface PartRef {
  readonly key: string;
  readonly count: number;
  readonly bytes: number;
}

/** A staged record stream. */
export interface RecordsRef {
  readonly kind: 'records';
  readonly parts: readonly PartRef[];
  readonly count: number;
}

/** One staged piece of a file. */
export interface FilePartRef {
  readonly key: string;
  readonly size: number;
}

/**
 * One staged file with its logical name. A file a step wrote across several invocations is still one file: its
 * pieces, one per invocation that wrote to it, are `parts` in order, and whoever opens it reads them as one
 * stream (no copy, no assembly step). `key` is the first piece's; `size` is the total.
 */
export interface FileRef {
  readonly name: string;
  readonly key: string;
  readonly size: number;
  /** The ordered pieces when there are more than one. */
  readonly parts?: readonly FilePartRef[];
}

/** The ordered pieces of a staged file (its only key when it was written in one invocation). */
export function filePieces(file: FileRef): readonly FilePartRef[] {
  return file.parts ?? [{ key: file.key, size: file.size }];
}

/** Staged files. */
export interface FilesRef {
  readonly kind: 'files';
  readonly files: readonly FileRef[];
}

/** What a step produced on its success path. */
export type OutputRef = RecordsRef | FilesRef | { readonly kind: 'nothing' };

/** Per-step counters; for record steps `recordsIn = recordsOut + recordsRejected + recordsDropped` unless the script expands. */
export interface StepCounters {
  recordsIn: number;
  recordsOut: number;
  recordsRejected: number;
  recordsDropped: number;
  filesIn: number;
  bytesIn: number;
  filesOut: number;
  bytesOut: number;
  durationMs: number;
  invocations: number;
  /** What a writer (`delivers: 'records'`) reported its target accepted; absent for other steps. */
  recordsDelivered?: number;
  /** What a file writer (`delivers: 'files'`) reported its target holds, in bytes; absent for other steps. */
  bytesDelivered?: number;
  /** Invalid byte sequences a reader replaced with U+FFFD (its params asked it to); absent when there were none. */
  charactersReplaced?: number;
  /** Pages a reader read so far, over all invocations (as it reported them: see StepOutput.progress). */
  pages?: number;
  /** Records a reader's source holds for the job, where the source says (Gigya's `totalCount`). */
  expected?: number;
}

/** What a step invocation returns to the state machine. */
export interface StepResult {
  readonly stepId: string;
  readonly type: string;
  readonly out: OutputRef;
  readonly rejected: RecordsRef;
  readonly counters: StepCounters;
  /** False while the step has more to do; the compiled Choice loops the Task. */
  readonly done: boolean;
  /**
   * Present when not done: what the next invocation resumes from. A reader's own continuation; for a step that
   * consumes records or files, a {@link StepContinuation}.
   */
  readonly continuation?: unknown;
  /** Invocation count so far (0 before the first). */
  readonly iteration: number;
  /** What `read` deferred until the job succeeds, one entry per invocation that deferred something. */
  readonly deferred?: readonly unknown[];
  /** Results of the steps fused after this one, in order (see StepEvent.fused). */
  readonly chain?: readonly StepResult[];
  /** Names and sizes of the files this step wrote or uploaded, for the job record. */
  readonly files?: readonly { readonly name: string; readonly size: number }[];
  /** Files a reader selected but did not read, and why (see StepOutput.skipped). */
  readonly skipped?: readonly SkippedFile[];
  /**
   * The step is a source that handed on the job's limit of records (see entersRecords) and left the rest of its
   * input unread: records it did not read are in no counter, and this says why.
   */
  readonly limitReached?: true;
  /** A writer in a dry run: what it would have written, over all its invocations so far. */
  readonly wouldWrite?: WouldWrite;
}

/** One file a file writer would have delivered in a dry run. */
export interface WouldWriteFile {
  /** The logical file name it received. */
  readonly name: string;
  /** Where it would have gone (`sftp://user@host/folder/name`, `s3://bucket/key`). */
  readonly target: string;
  readonly size: number;
  /** Its first lines (a header and a few rows; secrets masked), when it is text. */
  readonly sample?: readonly string[];
}

/**
 * What a writer would have done in a dry run: the records or files it received, and for record writers the calls
 * they would have caused (a sample of them), for file writers each file's target and a sample of its rows.
 */
export interface WouldWrite {
  /** Records it would have written (record writers), calls it would have made among them. */
  readonly records: number;
  readonly calls: number;
  /** Bytes it would have sent: the files' sizes, or the calls' params as JSON. */
  readonly bytes: number;
  readonly files: readonly WouldWriteFile[];
  /** The first calls, with their params (secrets masked). */
  readonly sampleCalls: readonly { readonly method: string; readonly params: Record<string, unknown> }[];
}

/** A file a reader selected but did not read. */
export interface SkippedFile {
  readonly name: string;
  readonly reason: string;
}

/**
 * Where a step that consumes records or files resumes: the position in its ordered staged inputs (records at
 * record granularity, files at file granularity), and what its script handed back from `end` to keep across
 * invocations (see ScriptInstance.end).
 */
export interface StepContinuation {
  /** Input index (the order of the event's `i0`, `i1`, …). */
  readonly input: number;
  /** Part index in that input (records), or file index (files). */
  readonly part: number;
  /** Records already consumed in that part. */
  readonly records: number;
  /** The script's own state, from `end(out, { final: false })`. */
  readonly script?: unknown;
}

/** Counters at zero. */
export function zeroCounters(): StepCounters {
  return {
    recordsIn: 0,
    recordsOut: 0,
    recordsRejected: 0,
    recordsDropped: 0,
    filesIn: 0,
    bytesIn: 0,
    filesOut: 0,
    bytesOut: 0,
    durationMs: 0,
    invocations: 0,
  };
}

/** An empty records reference. */
export function emptyRecords(): RecordsRef {
  return { kind: 'records', parts: [], count: 0 };
}

/** The sum of two invocations' counters (what a writer delivered only when either counted it). */
export function addCounters(a: StepCounters, b: StepCounters): StepCounters {
  const out = zeroCounters();
  for (const k of Object.keys(out) as (keyof StepCounters)[]) out[k] = (a[k] ?? 0) + (b[k] ?? 0);
  // What a writer delivered is present only for writers; it adds up over invocations like the rest.
  for (const k of ['recordsDelivered', 'bytesDelivered', 'charactersReplaced'] as const)
    if (a[k] !== undefined || b[k] !== undefined) out[k] = (a[k] ?? 0) + (b[k] ?? 0);
  // A reader reports where it stands over all its invocations: the latest report holds, it does not add up.
  for (const k of ['pages', 'expected'] as const) {
    const latest = b[k] ?? a[k];
    if (latest !== undefined) out[k] = latest;
  }
  return out;
}
