/**
 * The contract between the engine and a script. A script only transforms: it never knows whether it runs in
 * Lambda or locally, where its input is staged, or how it is counted and logged; the engine adds all that.
 */
import type { Readable, Writable } from 'node:stream';
import type { ScriptReaches } from './access.ts';
import type { IdxErrorCode } from './error-codes.ts';
import type { Logger } from './logger.ts';
import type { ParamsOf, ParamsSchema } from './params.ts';
import type { Services } from './services.ts';

/** What a script consumes or produces: a record stream, named files, or nothing. */
export type Kind = 'records' | 'files' | 'nothing';

/** A record: a JSON object, nested Gigya-style, addressed by dotted paths. */
export type DataRecord = Record<string, unknown>;

/** One input file, staged by the previous step. */
export interface InputFile {
  /** The logical file name (may contain `/` for sub-folders, as in `success/x.json`). */
  readonly name: string;
  /** Size in bytes. */
  readonly size: number;
  /** Opens a fresh stream of the content; may be called more than once. */
  open(): Readable;
  /**
   * The line of the whole file this content starts on, when it is one piece of a larger file read in parallel
   * lanes (its header row, if any, comes first and counts before it). Parsers number rows from here. @default 1
   */
  readonly firstLine?: number;
}

/** Why a record was rejected; becomes the record's `_errorDetails`. */
export interface RecordError {
  readonly message: string;
  readonly code?: string | number;
  readonly [key: string]: unknown;
}

/** The job's log levels, most to least severe. */
export type LogLevel = 'error' | 'info' | 'debug';

/** The logger a script gets; lines go to the job trace (filtered by the schedule's logLevel) and to stdout. */
export type StepLogger = Logger;

/** Where a script sends what it produces. */
export interface StepOutput {
  /** Passes a record to the next steps. */
  emit(record: DataRecord): void;
  /** Sends a record down the error path; the engine attaches `_errorDetails`. */
  reject(record: DataRecord, error: RecordError): void;
  /** Records that a record was deliberately filtered out (counted, not lost silently). */
  drop(record: DataRecord): void;
  /** Waits until emitted records are staged (backpressure for readers). */
  flush(): Promise<void>;
  /**
   * Creates an output file with a logical name. Write the content and end the stream; the engine stages it
   * (streaming, multipart) and waits for it before the step completes.
   */
  createFile(name: string): Writable;
  /**
   * A writer reports a file it delivered to its target (listed in the job record with its size): `size` is what
   * the target holds, verified after the upload where the protocol allows. The sizes add up to the step's
   * `bytesDelivered`, which the job checks against the bytes the step received.
   */
  delivered(name: string, size: number): void;
  /**
   * A reader reports a file it selected by name but did not read, and why (already imported, a test run reading
   * one file); the job record lists them. Optional: outputs that keep no job record ignore it.
   */
  skipped?(name: string, reason: string): void;
  /**
   * A writer of records (Gigya, the UID map) reports `count` records its target accepted. They add up to the
   * step's `recordsDelivered`, which the job checks against the records received minus those rejected and dropped.
   */
  deliveredRecords(count: number): void;
  /**
   * A reader reports `count` byte sequences that were not valid in their charset and that it kept as U+FFFD
   * because its params say so; they add up to the step's `charactersReplaced`. Optional: outputs that keep no
   * counters ignore it.
   */
  replacedCharacters?(count: number): void;
  /**
   * How many more records a source may hand on, emitted or rejected (the job's limit, 10 for test runs); Infinity
   * when unlimited or for a step that is not a source (see {@link entersRecords}). A reader or parser that sees 0
   * stops reading: what it emits beyond is discarded by the engine, but reading on would read what no one needs.
   */
  readonly remaining: number;
  /**
   * A reader reports how far it is in its source: the pages (API calls, files) read so far over all invocations
   * of the step, and the records the source holds for this job when the source says so (Gigya's `totalCount`).
   * The engine shows them in the live progress and the job record; records and bytes it counts itself. Optional:
   * outputs that show no progress ignore it.
   */
  progress?(report: ReadProgress): void;
}

/** How far a reader is in its source (see StepOutput.progress). */
export interface ReadProgress {
  /** Pages read so far, over all invocations of the step. */
  readonly pages?: number;
  /** Records the source holds for this job, when it knows (the whole match, before any job limit). */
  readonly total?: number;
}

/** The job a step runs in: identity, timing and the delta window. */
export interface JobContext {
  readonly id: string;
  readonly dataflowId: string;
  readonly dataflowName?: string;
  readonly scheduleId?: string;
  /** ISO-8601 UTC; `${now}` renders this instant so every step of a job agrees. */
  readonly startTime: string;
  readonly test: boolean;
  /**
   * A dry run: the engine runs every writer (`delivers`) as a report of what it would write (see
   * {@link DryRunSupport}), and nothing that changes a target or the dataflow's state happens.
   */
  readonly dryRun?: boolean;
  /** Maximum records each source hands on (10 for test runs): see {@link entersRecords}. */
  readonly limit?: number;
  readonly fullExtract: boolean;
  readonly logLevel: LogLevel;
  /** The delta window for delta readers: changes after `from` (exclusive) up to `to`. No `from`: everything. */
  readonly delta?: { readonly from?: string; readonly to: string };
  readonly attempt: number;
  /** ISO time the current attempt started, when it is not the first (the first starts at `startTime`). */
  readonly attemptStart?: string;
  /** The site's API key when the dataflow names one (for `${apiKey}`). */
  readonly apiKey?: string;
}

/** What a script gets besides its params. */
export interface ScriptContext {
  readonly job: JobContext;
  readonly stepId: string;
  readonly log: StepLogger;
  readonly services: Services;
  /**
   * The state the script handed back in its previous invocation of this step, when the Task loops: a reader's
   * `read` continuation, or what `end(out, { final: false })` returned for a script that consumes.
   */
  readonly continuation?: unknown;
  /**
   * Epoch ms by which the invocation should hand back a continuation. The engine checks it between batches of
   * records and between files for scripts that consume; a reader checks it itself.
   */
  readonly deadline: number;
  /**
   * Which invocation of the step this is (0 for the first); with the step id it names what this invocation
   * produces, so a retried invocation is recognised as the same producer. @default 0
   */
  readonly invocation?: number;
  /** Aborted when the step must stop (timeout or shutdown). */
  readonly signal: AbortSignal;
  /**
   * The partition this invocation reads, when the step runs as an iteration of a Map state (see
   * {@link ScriptDefinition.partitioned}): one of the items the script's `partitions` returned.
   */
  readonly partition?: PartitionItem;
}

/**
 * The most partitions a Map state iterates: the iterations' results come back to the state machine as one array,
 * and a state holds at most 256 KB (each result, with its staged part keys and counters, takes about 600 bytes).
 */
export const MAX_MAP_PARTITIONS = 256;

/**
 * One partition of a reader's read, as its `partitions` hook plans it: JSON that travels in the state machine's
 * state as the item of one Map iteration. `index` is its place in the output order.
 */
export interface PartitionItem {
  readonly index: number;
  /** What the script needs to read this partition alone (a range condition); JSON. */
  readonly range?: unknown;
}

/** What the engine tells `end`. */
export interface EndOptions {
  /**
   * The input is exhausted: this is the step's last invocation. When false, the step continues in another
   * invocation from where this one stopped: write nothing that a file has once at its end (a JSON array's `]`, a
   * count), end the files open in this invocation (their next pieces continue them under the same names), and
   * return what the next invocation needs as `continuation`.
   */
  readonly final: boolean;
}

/** What `end` may return when the step continues: state the next invocation gets as `ScriptContext.continuation`. */
export interface EndResult {
  readonly continuation?: unknown;
}

/** What `read` returns: a continuation when there is more to read in a later invocation. */
export interface ReadResult {
  readonly continuation?: unknown;
  /** Work to do only once the whole job has succeeded (e.g. delete or move the files read); JSON data. */
  readonly deferred?: unknown;
}

/**
 * A running script. Implement the hook for what the script consumes: `records` (batches of records), `file`
 * (one call per input file) or `read` (sources). `end` runs after the last input; `close` always runs.
 */
export interface ScriptInstance {
  records?(batch: readonly DataRecord[], out: StepOutput): void | Promise<void>;
  file?(file: InputFile, out: StepOutput): Promise<void>;
  read?(out: StepOutput): Promise<ReadResult | undefined>;
  /**
   * Runs after the last input of this invocation. Every step may run in several invocations (see
   * {@link EndOptions}); a script that keeps state from one record or file to the next returns it here when
   * `final` is false.
   */
  end?(out: StepOutput, options: EndOptions): void | EndResult | Promise<void | EndResult>;
  /**
   * Runs after every step of the job succeeded, in an invocation of its own, with what `read` deferred in each
   * invocation. Work that must not happen if the job fails (deleting the source files) belongs here.
   */
  afterJob?(deferred: readonly unknown[]): Promise<void>;
  /**
   * A partitioned reader (see {@link ScriptDefinition.partitioned}) plans its read: the disjoint partitions that
   * together cover it exactly once, in output order. Each is then read by the script in an invocation of its own
   * with `ScriptContext.partition` set, continuing on its own; their outputs are read in this order. One item
   * without a range: the read stays one cursor.
   */
  partitions?(): Promise<readonly PartitionItem[]>;
  close?(): void | Promise<void>;
}

/** A problem a script's own check found in its params (beyond the schema). */
export interface ScriptCheckProblem {
  readonly code: IdxErrorCode;
  /** Path below `params`. */
  readonly path?: string;
  readonly message: string;
  readonly expected?: string;
  readonly received?: string;
}

/** A script type: its identity, params, what it consumes and produces, and its implementation. */
export interface ScriptDefinition<S extends ParamsSchema = ParamsSchema> {
  /** IdentitySync component id, e.g. `field.rename`. */
  readonly type: string;
  /** One line for listings. */
  readonly summary: string;
  /** Longer notes for the generated docs. */
  readonly description?: string;
  readonly params: S;
  readonly consumes: Kind;
  readonly produces: Kind;
  /** The script may emit more records than it consumes (e.g. one per array element). */
  readonly expands?: boolean;
  /**
   * The script delivers to a target outside the job: `files` (file writers, reporting each with `delivered`) or
   * `records` (record writers, reporting with `deliveredRecords`). The engine counts what it reports as delivered
   * and the job fails when that is less than what the step received (`IDX_DELIVERY_SHORTFALL`).
   */
  readonly delivers?: 'files' | 'records';
  /**
   * What the script would do at its target, for dry runs: the engine then runs, instead of the script, a report
   * of the files or records it receives, naming each file's target or each record's call from these descriptions
   * (pure functions of the params and the input: nothing is connected to, nothing written).
   */
  readonly dryRun?: DryRunSupport<ParamsOf<S>>;
  /** The script defers work until the job succeeded (`read` returns `deferred`, `afterJob` does it). */
  readonly defers?: boolean;
  /**
   * The script reads each input file once, from start to end, before its `file` hook returns (never `open()`
   * twice, never later), so the step before can stream a file into it while writing it instead of staging it (a
   * gunzip before a parser, a CSV formatter before gzip).
   */
  readonly readsOnce?: boolean;
  /**
   * A reader that keeps its own continuation (cursors, files staged): `read` may return one. Every Task loops
   * until its result says `done`, so this only documents the reader; steps that consume continue at a position
   * the engine keeps.
   */
  readonly continues?: boolean;
  /**
   * A reader whose read, with these params, is cut into partitions read in parallel: the compiler gives the step a
   * Map state whose iterations are the partitions its `partitions` hook plans, at most `maxConcurrency` at once.
   * Returns undefined when these params read one cursor. Gets the params as written (no defaults applied).
   */
  readonly partitioned?: (params: Readonly<Record<string, unknown>>) => { readonly maxConcurrency: number } | undefined;
  /**
   * The files this script writes, when its input arrives in several invocations, are valid as the concatenation of
   * what each invocation wrote (gzip: concatenated members are one valid gzip file). Only such a file transform is
   * fused after a formatter, whose file arrives in pieces; PGP and zip need one stream, so they run as their own
   * step over the whole file.
   */
  readonly concatenates?: boolean;
  /**
   * With these params the step must see its whole input in one invocation (a zip archive that receives every
   * file). Such a step is not cut between files; its input must fit one invocation.
   */
  readonly wholeInput?: (params: ParamsOf<S>) => boolean;
  /** Checks params beyond the schema (expressions that must compile, regexes, …). Runs at validation. */
  readonly check?: (params: ParamsOf<S>) => ScriptCheckProblem[];
  /** Starts the script for one step execution with resolved params (defaults applied, placeholders resolved). */
  readonly create: (params: ParamsOf<S>, ctx: ScriptContext) => ScriptInstance | Promise<ScriptInstance>;
  /** How the step can run in parallel lanes (lib/engine/lanes/). Without it, the step always runs in one. */
  readonly lanes?: LaneSupport<ParamsOf<S>>;
  /**
   * What the script reaches in AWS itself (S3 objects, secrets it reads beyond those its params name), so a
   * deployed step's role is granted exactly that (lib/core/access.ts). Without it, the script reaches nothing
   * but the secrets its params name and what the engine's services reach for every step.
   */
  readonly reaches?: ScriptReaches<ParamsOf<S>>;
}

/** A call a record writer would make for one record in a dry run: the method and its params. */
export interface WouldCall {
  /** The API method (`accounts.setAccountInfo`, `ds.store`) or store operation (`uidmap.put`). */
  readonly method: string;
  readonly params: Readonly<Record<string, unknown>>;
}

/**
 * How a writer describes its side effects for a dry run. Only descriptions: the script's `create` is not called.
 */
export interface DryRunSupport<P> {
  /** A file writer: where a file of this logical name would be delivered, as `delivered` would name it. */
  readonly target?: (params: P, fileName: string, ctx: ScriptContext) => string;
  /**
   * A record writer: the call one record would cause; `undefined` when the record would pass on without a call
   * (a UID-map entry without a key); a {@link RecordError} when the script would reject it without calling.
   */
  readonly call?: (params: P, record: DataRecord) => WouldCall | RecordError | undefined;
}

/** The delimiter-separated dialect of a file a parser can have cut into chunks (see lib/scripts/util/split.ts). */
export interface SplitSyntax {
  readonly separator: string;
  readonly quote: string;
  readonly escape: string;
  /** The first row is a header, repeated before every chunk. */
  readonly header: boolean;
}

/**
 * What a script promises so that several instances of it can share one step's input, each taking whole chunks
 * of it, with the outputs put back together in input order.
 */
export interface LaneSupport<P> {
  /** Each record is transformed on its own: no state carries from one record to the next. */
  readonly records?: boolean;
  /**
   * A file parser: the dialect in which a file can be cut on row boundaries and each chunk, preceded by the
   * header row, parsed on its own (rows numbered from {@link InputFile.firstLine}); undefined when these params
   * do not allow it.
   */
  readonly split?: (params: P) => SplitSyntax | undefined;
  /**
   * A formatter whose file is the concatenation of independently formatted runs of records: `body` formats a run
   * without anything that appears once per file; `head`, given no records, writes only what starts the file.
   * `emptyFile`: a file is written even when no record arrives. Undefined when these params do not allow it
   * (for example when the columns come from the first record or the file is split by size).
   */
  readonly fragments?: (params: P) => { readonly head: P; readonly body: P; readonly emptyFile: boolean } | undefined;
  /**
   * A file transform whose output for a file is valid as the concatenation of its outputs for consecutive pieces
   * of that file (gzip: each piece becomes a gzip member), keeping nothing from one piece to the next. After a
   * formatter that writes fragments, it runs in the lanes too, each lane transforming the fragment of its chunk,
   * so the transform's CPU is spread over the lanes instead of held on one thread.
   */
  readonly pieces?: boolean;
  /**
   * With `pieces`: the transform of one piece already whole in memory, as a single synchronous call that gives
   * exactly the name and bytes `file` writes for it. A worker lane applies it to the file a byte kernel made of its
   * chunk (lib/engine/lanes/kernel.ts), skipping a stream and fresh script instances per chunk and keeping the work
   * on the lane's own thread. Undefined when these params do not allow it.
   */
  readonly piece?: (params: P) => PieceTransform | undefined;
}

/** A file held whole in memory, as a lane's byte kernel makes it. */
export interface MemoryFile {
  readonly name: string;
  readonly data: Uint8Array;
}

/** See {@link LaneSupport.piece}. */
export type PieceTransform = (file: MemoryFile) => MemoryFile;

/** A definition whose params type is erased, as the registry stores it. */
export type AnyScriptDefinition = ScriptDefinition<ParamsSchema>;

/**
 * Whether `from` streams each file it writes straight into `to` when the two share a Task, so the file is never
 * staged and read back: `from` writes files as it works (a formatter or a file transformer such as gunzip; not a
 * reader, which may fetch several files at once) and `to` reads each file once (a parser, gzip, encryption; never
 * a writer, which opens a file again to retry an upload).
 */
export function streamsFilesInto(from: AnyScriptDefinition, to: AnyScriptDefinition): boolean {
  if (from.consumes === 'nothing' || from.produces !== 'files' || to.consumes !== 'files' || to.readsOnce !== true)
    return false;
  // A formatter continues at record granularity, so its file reaches `to` in pieces, one per invocation: only a
  // transform whose outputs concatenate into a valid whole can take them (gzip yes; PGP, zip no).
  return from.consumes === 'files' || to.concatenates === true;
}

/**
 * Whether records enter the dataflow at this script: it makes records out of something that is not records, a
 * reader of records (Gigya) or a parser of the files a file reader fetched. The job's limit (10 for a test run)
 * bounds the records each such step hands on, emitted or rejected, whatever the source; the steps after it see no
 * more. It is decided by what the script consumes and produces, not by its type, so a future reader or parser is
 * bounded as well.
 */
export function entersRecords(definition: Pick<AnyScriptDefinition, 'consumes' | 'produces'>): boolean {
  return definition.produces === 'records' && definition.consumes !== 'records';
}

/** Declares a script type with params typed from its schema. */
export function defineScript<const S extends ParamsSchema>(definition: ScriptDefinition<S>): ScriptDefinition<S> {
  return definition;
}
