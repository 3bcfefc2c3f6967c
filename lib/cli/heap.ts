/**
 * A watch on the CLI's heap. When V8 runs out of heap it ends the process with a crash report dozens of lines
 * long and no error code. After every full garbage collection this looks at what survived it; when that passes a
 * share of the heap limit, the process is about to fail anyway, so it prints one coded line saying how much was
 * live and how to give it more, and exits with the failure code. It cannot help when the heap fills within one
 * synchronous stretch of code (the check runs between tasks), which is why it is a watch and not a guarantee.
 */
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';
import { describeError, IdxError } from '../core/errors.ts';

/** Options of {@link watchHeap}. */
export interface HeapWatchOptions {
  /** Share of the old generation's limit that may survive a full collection. @default 0.85 */
  readonly share?: number;
  /** Where the line goes. @default stderr */
  readonly write?: (line: string) => void;
  /** How the process ends. @default process.exit */
  readonly exit?: (code: number) => void;
}

const MB = 1024 * 1024;

/**
 * The old generation's limit, which is what V8 runs out of: `--max-old-space-size` when the process has one,
 * otherwise the heap limit less the young generation (three 16 MB semi-spaces on 64-bit, V8's default).
 */
export function oldSpaceLimit(): number {
  const flags = `${process.execArgv.join(' ')} ${process.env.NODE_OPTIONS ?? ''}`;
  const m = /--max-old-space-size=(\d+)/.exec(flags);
  return m ? Number(m[1]) * MB : getHeapStatistics().heap_size_limit - 48 * MB;
}

/** Bytes live in the old generation (everything on the heap but the young generation). */
function oldSpaceLive(): number {
  const young = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_used_size ?? 0;
  return getHeapStatistics().used_heap_size - young;
}

/** The error the watch reports: what was live against the limit, and what to change. */
export function outOfMemoryError(live: number, limit: number, share: number): IdxError {
  return new IdxError('IDX_OUT_OF_MEMORY', 'the run needs more memory than the heap of this process allows', {
    expected: `under ${Math.round(share * 100)}% of the ${Math.round(limit / MB)} MB heap live after a full garbage collection (node --max-old-space-size=N gives it more)`,
    received: `${Math.round(live / MB)} MB live`,
  });
}

/** Starts watching; returns a function that stops. */
export function watchHeap(options: HeapWatchOptions = {}): () => void {
  const share = options.share ?? 0.85;
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const limit = oldSpaceLimit();
  let reported = false;
  const observer = new PerformanceObserver((entries) => {
    if (reported) return;
    const full = entries
      .getEntries()
      .some((e) => (e as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR);
    if (!full) return;
    const live = oldSpaceLive();
    if (live < share * limit) return;
    reported = true;
    write(describeError(outOfMemoryError(live, limit, share)));
    exit(1);
  });
  observer.observe({ entryTypes: ['gc'] });
  return () => observer.disconnect();
}
