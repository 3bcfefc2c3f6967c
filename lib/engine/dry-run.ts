/**
 * Dry runs: every reader and transform runs as usual, but no writer writes. The engine starts, in place of each
 * writer (a script that `delivers`), a stand-in that takes the same input and reports what the writer would have
 * done: the records and bytes, each file's target and first rows, the calls a record writer would make. The
 * writers themselves only describe their side effects (`ScriptDefinition.dryRun`); none reimplements dry runs.
 */
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { WouldWrite, WouldWriteFile } from '../core/refs.ts';
import type {
  AnyScriptDefinition,
  DataRecord,
  InputFile,
  RecordError,
  ScriptContext,
  ScriptInstance,
  WouldCall,
} from '../core/script.ts';
import { redactValues } from '../core/secrets.ts';
import { CREDENTIAL_PARAMS } from '../dataflow/catalog.ts';

/** Calls a writer's report keeps with their params. */
export const SAMPLE_CALLS = 3;
/** Lines of a file a writer's report keeps: the header and a few rows. */
export const SAMPLE_LINES = 4;
/** Most characters read from a file for its sample, and kept of one sampled line. */
const SAMPLE_BYTES = 4096;
const SAMPLE_LINE_CHARS = 300;
/** Files a report lists one by one, and those of them it samples (a DynamoDB item holds at most 400 KB). */
const MAX_FILES = 100;
const SAMPLED_FILES = 10;
/** What a masked value reads as. */
const MASK = '***';

/** The reports of the stand-ins of this process, by instance, for the step runner to collect. */
const reports = new WeakMap<ScriptInstance, WouldWrite>();

/** An empty report. */
function emptyReport(): WouldWrite {
  return { records: 0, calls: 0, bytes: 0, files: [], sampleCalls: [] };
}

/**
 * The script to run for `definition` in a dry run: a writer's stand-in (same kinds, nothing delivered, nothing
 * deferred), or the definition itself for any other script.
 */
export function dryRunDefinition(definition: AnyScriptDefinition): AnyScriptDefinition {
  if (definition.delivers === undefined) return definition;
  const { delivers: _delivers, defers: _defers, ...rest } = definition;
  return { ...rest, create: (params, ctx) => standIn(definition, params as Record<string, unknown>, ctx) };
}

/** What a writer's stand-in reported in this invocation; undefined for any other instance. */
export function wouldWriteOf(instance: ScriptInstance): WouldWrite | undefined {
  return reports.get(instance);
}

/** Two invocations' reports as one (the samples are the first ones over both). */
export function mergeWouldWrite(a: WouldWrite | undefined, b: WouldWrite | undefined): WouldWrite | undefined {
  if (!a || !b) return a ?? b;
  return {
    records: a.records + b.records,
    calls: a.calls + b.calls,
    bytes: a.bytes + b.bytes,
    files: [...a.files, ...b.files]
      .slice(0, MAX_FILES)
      .map(({ sample, ...f }, i) => (i < SAMPLED_FILES && sample ? { ...f, sample } : f)),
    sampleCalls: [...a.sampleCalls, ...b.sampleCalls].slice(0, SAMPLE_CALLS),
  };
}

/** True for a described call, false for a rejection. */
function isCall(value: WouldCall | RecordError): value is WouldCall {
  return typeof (value as WouldCall).method === 'string' && typeof (value as WouldCall).params === 'object';
}

/** A copy of call params with every credential-named field masked, at any depth. */
function maskCredentials(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(maskCredentials);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>))
    out[k] = CREDENTIAL_PARAMS.has(k) || k === 'newPassword' ? MASK : maskCredentials(v);
  return out;
}

/**
 * The first lines of a text file (at most {@link SAMPLE_LINES}, read from its first {@link SAMPLE_BYTES}, after
 * gunzip for a `.gz` file); undefined for other binary files (zip, encrypted), whose bytes say nothing to a reader.
 */
async function sampleOf(file: InputFile): Promise<string[] | undefined> {
  const raw: Readable = file.open();
  const gzip = /\.gz$/i.test(file.name);
  const stream: Readable = gzip ? raw.pipe(createGunzip()) : raw;
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of stream) {
      const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
      chunks.push(b);
      size += b.length;
      if (size >= SAMPLE_BYTES) break;
    }
  } catch {
    // Not what its name says (a .gz that is not gzip): no sample, the report still names the file.
    return undefined;
  } finally {
    stream.destroy();
    raw.destroy();
  }
  const head = Buffer.concat(chunks).subarray(0, SAMPLE_BYTES);
  if (head.includes(0)) return undefined;
  const text = head.toString('utf8');
  // A cut multi-byte character at the end is expected; replacement characters before it mean binary data.
  if (text.slice(0, -1).includes('\uFFFD')) return undefined;
  const lines = text.split(/\r?\n/);
  // The last line may be cut off by the byte limit: kept only when the file ended within it.
  const whole = size < SAMPLE_BYTES ? lines : lines.slice(0, -1);
  return whole
    .filter((line) => line !== '')
    .slice(0, SAMPLE_LINES)
    .map((line) => (line.length > SAMPLE_LINE_CHARS ? `${line.slice(0, SAMPLE_LINE_CHARS)}…` : line));
}

/**
 * The stand-in of a writer: takes its input, passes records on as if each had been written, and reports what
 * the writer would have sent where. It connects to nothing and keeps nothing but the report.
 */
function standIn(writer: AnyScriptDefinition, params: Record<string, unknown>, ctx: ScriptContext): ScriptInstance {
  const describe = writer.dryRun as
    | {
        target?: (p: unknown, name: string, c: ScriptContext) => string;
        call?: (p: unknown, r: DataRecord) => WouldCall | RecordError | undefined;
      }
    | undefined;
  const redactor = ctx.services.secrets.redactor;
  let report = emptyReport();
  const instance: ScriptInstance = {
    records(batch, out) {
      let { records, calls, bytes } = report;
      const sampleCalls = [...report.sampleCalls];
      for (const record of batch) {
        const call = describe?.call?.(params, record);
        if (call !== undefined && !isCall(call)) {
          out.reject(record, call);
          continue;
        }
        records++;
        if (call) {
          calls++;
          bytes += Buffer.byteLength(JSON.stringify(call.params));
          if (sampleCalls.length < SAMPLE_CALLS)
            sampleCalls.push({
              method: call.method,
              params: redactValues(maskCredentials(call.params) as Record<string, unknown>, redactor),
            });
        }
        if (writer.produces === 'records') out.emit(record);
      }
      report = { ...report, records, calls, bytes, sampleCalls };
      reports.set(instance, report);
    },
    async file(file) {
      const sample = report.files.length < SAMPLED_FILES ? await sampleOf(file) : undefined;
      const entry: WouldWriteFile = {
        name: file.name,
        target: redactor.redact(describe?.target?.(params, file.name, ctx) ?? file.name),
        size: file.size,
        ...(sample ? { sample: sample.map((line) => redactor.redact(line)) } : {}),
      };
      report = {
        ...report,
        bytes: report.bytes + file.size,
        files: report.files.length < MAX_FILES ? [...report.files, entry] : report.files,
      };
      reports.set(instance, report);
      ctx.log.info(`dry run: would write ${entry.target} (${file.size} bytes)`);
    },
    end() {
      reports.set(instance, report);
      if (report.records > 0 || report.calls > 0)
        ctx.log.info(
          `dry run: would write ${report.records} record(s) in ${report.calls} call(s), ${report.bytes} bytes`,
        );
    },
  };
  reports.set(instance, report);
  return instance;
}
