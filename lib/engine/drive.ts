/**
 * Drives one script over its inputs: the same loop whether the inputs come from the S3 stage or from memory.
 * It counts what goes in, calls the hook for what the script consumes, and checks the record accounting.
 */
import { IdxError } from '../errors.ts';
import type { AnyScriptDefinition, DataRecord, InputFile, ReadResult, ScriptInstance } from '../scripts/types.ts';
import type { EngineOutput } from './output.ts';
import type { StepCounters } from './refs.ts';

/** A step's inputs, already opened. */
export interface DriveInputs {
  readonly records?: AsyncIterable<DataRecord[]>;
  readonly files?: AsyncIterable<InputFile>;
}

/** Runs the script over its inputs, then `end`; returns what `read` returned. */
export async function drive(
  definition: AnyScriptDefinition,
  instance: ScriptInstance,
  inputs: DriveInputs,
  out: EngineOutput,
  counters: StepCounters,
  stepId: string,
  onProgress?: (counters: StepCounters) => void,
): Promise<ReadResult | undefined> {
  const missing = (hook: string) =>
    new IdxError(
      'IDX_SCRIPT_CONTRACT',
      `script ${definition.type} consumes ${definition.consumes} but has no ${hook}()`,
      {
        stepId,
      },
    );
  let result: ReadResult | undefined;
  let nextProgress = 100_000;
  switch (definition.consumes) {
    case 'records': {
      if (!instance.records) throw missing('records');
      for await (const batch of inputs.records ?? []) {
        counters.recordsIn += batch.length;
        await instance.records(batch, out);
        await out.flush();
        if (onProgress && counters.recordsIn >= nextProgress) {
          nextProgress += 100_000;
          onProgress(counters);
        }
      }
      break;
    }
    case 'files': {
      if (!instance.file) throw missing('file');
      for await (const file of inputs.files ?? []) {
        counters.filesIn++;
        counters.bytesIn += file.size;
        await instance.file(file, out);
        await out.flush();
      }
      break;
    }
    case 'nothing': {
      if (!instance.read) throw missing('read');
      result = (await instance.read(out)) ?? undefined;
      await out.flush();
      break;
    }
  }
  await instance.end?.(out);
  await out.flush();
  if (definition.consumes === 'records' && definition.produces === 'records' && !definition.expands) {
    const accounted = counters.recordsOut + counters.recordsRejected + counters.recordsDropped;
    if (accounted !== counters.recordsIn) {
      throw new IdxError(
        'IDX_ACCOUNTING',
        `step "${stepId}" (${definition.type}) lost track of records: ${counters.recordsIn} in, ${counters.recordsOut} out, ${counters.recordsRejected} rejected, ${counters.recordsDropped} dropped`,
        { stepId, expected: `in = out + rejected + dropped = ${counters.recordsIn}`, received: String(accounted) },
      );
    }
  } else if (definition.consumes === 'records' && definition.produces !== 'records') {
    // Formatters and writers: every record not rejected or dropped went into a file or to the target.
    counters.recordsOut = counters.recordsIn - counters.recordsRejected - counters.recordsDropped;
  }
  return result;
}
