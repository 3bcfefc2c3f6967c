/**
 * The step runner: reads a step's inputs from the stage, runs its script as a stream, stages the outputs under
 * deterministic keys and returns only references and counters. It adds logging, counting and timing around
 * the script; the script only transforms.
 */
import { IdxError } from '../errors.ts';
import type { ScriptRegistry } from '../scripts/registry.ts';
import type { DataRecord, InputFile } from '../scripts/types.ts';
import { JobStore, type StepSummary } from '../stores/jobs.ts';
import { drive } from './drive.ts';
import type { StepEvent } from './events.ts';
import { TraceLogger } from './logger.ts';
import { EngineOutput } from './output.ts';
import {
  type FilesRef,
  type OutputRef,
  type RecordsRef,
  type StepCounters,
  type StepResult,
  zeroCounters,
} from './refs.ts';
import { resolveParams } from './resolve.ts';
import type { Services } from './services.ts';
import { jobPrefix, StagedFileSink, StagedRecordSink, stagedFiles, stagedRecords } from './stage.ts';

/** Options of {@link runStep}. */
export interface RunStepOptions {
  /** Epoch ms by which a continuable reader should hand back a continuation. */
  readonly deadline: number;
  /** Write JSON log lines to stdout. @default true */
  readonly echo?: boolean;
  /** Called on progress of long steps (every 100,000 records). */
  readonly onProgress?: (stepId: string, counters: StepCounters) => void;
}

function addCounters(a: StepCounters, b: StepCounters): StepCounters {
  const out = zeroCounters();
  for (const k of Object.keys(out) as (keyof StepCounters)[]) out[k] = a[k] + b[k];
  return out;
}

function mergeRefs(a: OutputRef | undefined, b: OutputRef): OutputRef {
  if (!a || a.kind === 'nothing' || a.kind !== b.kind) return b;
  if (a.kind === 'records' && b.kind === 'records')
    return { kind: 'records', parts: [...a.parts, ...b.parts], count: a.count + b.count };
  if (a.kind === 'files' && b.kind === 'files') return { kind: 'files', files: [...a.files, ...b.files] };
  return b;
}

/** Runs one invocation of a step. */
export async function runStep(
  event: StepEvent,
  services: Services,
  registry: ScriptRegistry,
  options: RunStepOptions,
): Promise<StepResult> {
  const started = Date.now();
  const { job, step } = event;
  const definition = registry.get(step.type);
  if (!definition) {
    throw new IdxError('IDX_STEP_TYPE_UNKNOWN', `step type "${step.type}" is not registered in this build`, {
      stepId: step.id,
      dataflowId: job.dataflowId,
      received: step.type,
    });
  }
  const previous = event.previous && 'stepId' in event.previous ? event.previous : undefined;
  const iteration = previous?.iteration ?? 0;
  const bucket = services.config.stageBucket;
  const base = `${jobPrefix(job.dataflowId, job.id)}${step.key}/i${String(iteration).padStart(4, '0')}/`;
  const log = new TraceLogger({
    jobId: job.id,
    stepId: step.id,
    level: job.logLevel,
    redactor: services.secrets.redactor,
    echo: options.echo ?? true,
  });
  const counters = zeroCounters();
  const recordSink =
    definition.produces === 'records' ? new StagedRecordSink(services.s3, bucket, `${base}out/`) : undefined;
  const rejectedSink = new StagedRecordSink(services.s3, bucket, `${base}rejected/`);
  const fileSink = definition.produces === 'files' ? new StagedFileSink(services.s3, bucket, base) : undefined;
  const alreadyRead = previous?.counters.recordsOut ?? 0;
  const limit =
    definition.consumes === 'nothing' && job.limit !== undefined ? job.limit - alreadyRead : Number.POSITIVE_INFINITY;
  const out = new EngineOutput({
    stepId: step.id,
    produces: definition.produces,
    ...(recordSink ? { records: recordSink } : {}),
    rejected: rejectedSink,
    ...(fileSink ? { files: fileSink } : {}),
    limit,
    counters,
    log,
    debug: job.logLevel === 'debug',
  });

  const inputs = Object.keys(event.inputs)
    .sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)))
    .map((k) => event.inputs[k] as OutputRef);
  const recordRefs = inputs.filter((r): r is RecordsRef => r.kind === 'records');
  const fileRefs = inputs.filter((r): r is FilesRef => r.kind === 'files');

  const params = await resolveParams(definition.params, step.params, job, services.secrets, step.id);
  const controller = new AbortController();
  log.info(
    iteration === 0 ? `step started (${step.type})` : `step continues (${step.type}, invocation ${iteration + 1})`,
  );
  const instance = await definition.create(params as never, {
    job,
    stepId: step.id,
    log,
    services,
    ...(previous?.continuation === undefined ? {} : { continuation: previous.continuation }),
    deadline: options.deadline,
    signal: controller.signal,
  });
  let continuation: unknown;
  try {
    const records: AsyncIterable<DataRecord[]> = stagedRecords(services.s3, bucket, recordRefs);
    const files: AsyncIterable<InputFile> = stagedFiles(services.s3, bucket, fileRefs);
    const result = await drive(definition, instance, { records, files }, out, counters, step.id, (c) => {
      log.info(`progress: ${c.recordsIn} records in, ${c.recordsOut} out, ${c.recordsRejected} rejected`);
      options.onProgress?.(step.id, c);
    });
    continuation = result?.continuation;
  } catch (error) {
    controller.abort();
    const reason = error instanceof Error ? error : new Error(String(error));
    recordSink?.abort(reason);
    rejectedSink.abort(reason);
    fileSink?.abort(reason);
    log.error(`step failed: ${error instanceof Error ? error.message : String(error)}`);
    throw error instanceof IdxError && error.location.stepId === undefined
      ? new IdxError(error.code, error.message, {
          ...error.location,
          stepId: step.id,
          dataflowId: job.dataflowId,
          ...(error.expected === undefined ? {} : { expected: error.expected }),
          ...(error.received === undefined ? {} : { received: error.received }),
          ...(error.details === undefined ? {} : { details: error.details }),
          transient: error.transient,
          cause: error,
        })
      : error;
  } finally {
    await instance.close?.();
  }

  const [outRef, rejectedRef, filesRef] = await Promise.all([
    recordSink?.close(),
    rejectedSink.close(),
    fileSink?.close(),
  ]);
  const thisOut: OutputRef = outRef ?? filesRef ?? { kind: 'nothing' };
  if (filesRef) {
    counters.filesOut = filesRef.files.length;
    counters.bytesOut = filesRef.files.reduce((n, f) => n + f.size, 0);
  }
  counters.durationMs = Date.now() - started;
  counters.invocations = 1;
  if (out.overLimit > 0) log.info(`limit reached: ${out.overLimit} records beyond the job limit were not passed on`);
  const total = previous ? addCounters(previous.counters, counters) : counters;
  const reachedLimit = definition.consumes === 'nothing' && job.limit !== undefined && total.recordsOut >= job.limit;
  const done = continuation === undefined || reachedLimit;
  const fileList = [
    ...(previous?.files ?? []),
    ...(filesRef?.files.map((f) => ({ name: f.name, size: f.size })) ?? []),
    ...out.deliveredFiles,
  ];
  const result: StepResult = {
    stepId: step.id,
    type: step.type,
    out: mergeRefs(previous?.out, thisOut),
    rejected: mergeRefs(previous?.rejected, rejectedRef) as RecordsRef,
    counters: total,
    done,
    ...(done ? {} : { continuation }),
    iteration: iteration + 1,
    ...(fileList.length ? { files: fileList } : {}),
  };
  log.info(
    `step ${done ? 'finished' : 'paused for continuation'}: ${total.recordsIn} records in, ${total.recordsOut} out, ${total.recordsRejected} rejected, ${total.recordsDropped} dropped${
      total.filesOut ? `, ${total.filesOut} file(s) ${total.bytesOut} bytes` : ''
    } in ${counters.durationMs} ms`,
  );
  const summary: StepSummary = {
    stepId: step.id,
    type: step.type,
    ...total,
    ...(fileList.length ? { files: fileList } : {}),
    ...(result.rejected.count > 0
      ? { rejectedLocation: `s3://${bucket}/${jobPrefix(job.dataflowId, job.id)}${step.key}/` }
      : {}),
    updateTime: new Date().toISOString(),
  };
  await new JobStore(services.dynamo, services.config.tables.jobs).recordStep(job.id, summary, log.trace);
  return result;
}
