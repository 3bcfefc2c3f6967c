/**
 * Byte kernels: a run of laned steps compiled into one function from a chunk's input bytes to its output bytes,
 * for the plain records that make up most chunks. The scripts build a record object per row and text per value;
 * a kernel copies the bytes of each value from where it is read to where it is written, so a chunk costs a few
 * passes over its bytes instead of a heap of short-lived objects (the scripts' record work was about three
 * quarters of a laned export's CPU time).
 *
 * A kernel is an optimization only: it declines a chunk (returns undefined) as soon as anything in it is outside
 * what it reproduces byte for byte (an escape, a number it cannot copy as written, a row the parser would
 * reject, a record whose shape the compiled steps did not foresee), and the chunk then runs through the scripts
 * as before. The output of a chunk it takes, and every step's counters, are those the scripts give for it.
 */
import type { StepCounters } from '../../core/refs.ts';
import type { AnyScriptDefinition, JobContext, MemoryFile, PieceTransform } from '../../core/script.ts';
import { KERNEL_COMPILERS } from './kernels/index.ts';
import { type LanePlan, type LaneStep, laneParams } from './plan.ts';

/** A chunk as a kernel reads it. */
export interface KernelInput {
  /** The chunk's bytes: NDJSON lines of staged records, or for files the header row followed by whole rows. */
  readonly bytes: Uint8Array;
  /** Number of the chunk's first line in its input (after the header row for files), for nothing but errors. */
  readonly firstLine: number;
  /** For files: the file's name and size, as the parser's input file gives them. */
  readonly file?: { readonly name: string; readonly size: number };
}

/** What a kernel made of a chunk: what the steps it stands for would have written. */
export interface KernelOutput {
  /** NDJSON of the records the last step it stands for emits (when that step produces records). */
  readonly records?: { readonly data: Uint8Array; readonly count: number };
  /** The file that step writes (when it produces files): a formatter's fragment of the file. */
  readonly file?: MemoryFile;
  /**
   * Each step's counters, in order, as its driver holds them after the chunk: the same as the scripts give for
   * the chunk, `durationMs` aside (a formatter's driver counts records in and out; the file it writes is counted by
   * the sink or the step that takes it).
   */
  readonly counters: readonly StepCounters[];
}

/** A compiled run of steps, from the first step of a laned run. */
export interface ChunkKernel {
  /** How many of the run's steps, from the first, the kernel stands for (the rest run as scripts after it). */
  readonly steps: number;
  /**
   * The chunk's output, or undefined when the chunk holds anything the kernel does not reproduce exactly. It does
   * not throw for any input; one that throws has a bug, and the lane (worker.ts) warns once and runs that chunk and
   * its later ones through the scripts.
   */
  run(input: KernelInput): KernelOutput | undefined;
  /**
   * Readies the kernel for a chunk before `run` (derives from the scripts what a new file header needs); the lane
   * awaits it, so no chunk goes through the scripts only because a derivation was still on its way. Never rejects.
   */
  prepare?(input: KernelInput): Promise<unknown>;
}

/** What a kernel compiler is given: a laned run's steps, as the lane runs them (formatter params as the body's). */
export interface KernelRun {
  readonly definitions: readonly AnyScriptDefinition[];
  readonly steps: readonly LaneStep[];
  /** The params each step runs with in the lane (a formatter's are its body params: no header, no BOM). */
  readonly params: readonly Record<string, unknown>[];
  readonly job: JobContext;
}

/** Compiles a kernel for a run, or says it cannot (undefined): params outside what it reproduces exactly. */
export type KernelCompiler = (run: KernelRun) => ChunkKernel | undefined;

/** The first kernel that compiles for the run, if any. */
export function compileKernel(
  run: KernelRun,
  compilers: readonly KernelCompiler[] = KERNEL_COMPILERS,
): ChunkKernel | undefined {
  for (const compile of compilers) {
    const kernel = compile(run);
    if (kernel) return kernel;
  }
  return undefined;
}

/**
 * Whether a kernel compiles for a planned run, given its steps' own params: the question the runner (and the
 * benchmark, as the runner does) asks before it gives a run the main thread's lane alone.
 */
export function kernelTakes(
  definitions: readonly AnyScriptDefinition[],
  steps: readonly LaneStep[],
  plan: LanePlan,
  job: JobContext,
): boolean {
  const params = laneParams(
    definitions,
    steps.map((s) => s.params),
    plan,
  );
  return compileKernel({ definitions, steps, params, job }) !== undefined;
}

/**
 * The steps a kernel leaves to run after it (`definitions` and `params` from its `steps` on), as one call over the
 * file it made, when every one of them offers such a call for its params (LaneSupport.piece); undefined when one
 * does not, or when none is left.
 */
export function pieceTail(
  definitions: readonly AnyScriptDefinition[],
  params: readonly Record<string, unknown>[],
  from: number,
): PieceTransform | undefined {
  const calls: PieceTransform[] = [];
  for (let i = from; i < definitions.length; i++) {
    const call = definitions[i]?.lanes?.piece?.(params[i] as never);
    if (!call) return undefined;
    calls.push(call);
  }
  if (calls.length === 0) return undefined;
  return (file) => calls.reduce((made, call) => call(made), file);
}
