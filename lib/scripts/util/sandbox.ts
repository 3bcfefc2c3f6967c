/**
 * The sandbox of record.evaluate: user JavaScript runs in QuickJS compiled to WebAssembly, an engine of its own
 * with its own heap, so no object of the host (Node's `process`, `require`, `import()`, timers, the host's
 * constructors or errors) exists on the other side to be reached, by any constructor walk or hook.
 *
 * The boundary is what crosses it: records go in and out as JSON text; the only host function the guest can call
 * is the log sink, which reads strings and returns nothing; it has no module loader, so `import()` rejects with an
 * error of the guest's own. Every call into the guest runs under
 * a deadline the engine's interrupt handler enforces (an interrupt cannot be caught by the script), in a
 * WebAssembly memory of its own that cannot grow beyond a limit, and with a stack limit small enough that the engine stops a deep recursion before the host's own
 * stack does.
 *
 * Validation never runs a script: {@link compileProblem} parses it with acorn and checks its shape.
 */
import variant from '@jitl/quickjs-singlefile-mjs-release-sync';
import { type Node as AcornNode, parse } from 'acorn';
import {
  type CustomizeVariantOptions,
  newQuickJSWASMModuleFromVariant,
  newVariant,
  type QuickJSContext,
  type QuickJSHandle,
  type QuickJSRuntime,
  type QuickJSWASMModule,
} from 'quickjs-emscripten-core';

/** What became of one record. */
export type Outcome =
  | { readonly kind: 'record'; readonly record: Record<string, unknown> }
  | { readonly kind: 'drop' }
  | { readonly kind: 'reject'; readonly record: Record<string, unknown> | undefined; readonly message: string }
  | { readonly kind: 'fail'; readonly message: string; readonly code: string };

/** Where the script's log lines go. */
export type SandboxLog = (
  level: 'debug' | 'info' | 'warn' | 'error',
  message: string,
  json: string | undefined,
) => void;

/** Options of {@link Sandbox}. */
export interface SandboxOptions {
  /** Name shown in compile errors and stack traces. */
  readonly filename: string;
  /** Longest time process() may spend on one record. */
  readonly timeoutMs: number;
  /** Most memory the script's runtime may allocate, in bytes. */
  readonly memoryBytes: number;
  readonly log: SandboxLog;
  /** Values the script can read as `ctx.jobId`, `ctx.stepId`, … */
  readonly info: Record<string, string | number | boolean>;
}

/** A script that does not compile or has no process function. */
export class ScriptProblem extends Error {
  constructor(
    message: string,
    readonly line?: number,
  ) {
    super(message);
  }
}

/** The default memory limit of a script's runtime. */
export const DEFAULT_MEMORY_MB = 64;

/**
 * The guest's stack limit. QuickJS counts its own (emscripten) stack, but every guest call also takes frames on
 * the host's V8 stack, about three times as much: measured, 256 KiB overflowed the host stack when the host was
 * already 40 % deep, 128 KiB held at 55 %. A recursion deeper than ~700 plain calls is a coded error.
 */
const STACK_BYTES = 128 * 1024;

/** Longest log message and log data (as JSON) a script can hand the trace, in characters; the rest is cut. */
export const LOG_MESSAGE_MOST = 8 * 1024;
export const LOG_DATA_MOST = 64 * 1024;

/** Promise callbacks run after one call into the guest at most. */
const MAX_JOBS = 10_000;

const LEVELS = new Set(['debug', 'info', 'warn', 'error']);

// Runs inside the guest before the user's script, in strict mode. It captures the builtins it uses before the
// user's script can replace them, and hands the host a table of entry points.
const BOOTSTRAP = `(function (hostLog, infoJson) {
  'use strict';
  const MESSAGE_MOST = ${LOG_MESSAGE_MOST};
  const DATA_MOST = ${LOG_DATA_MOST};
  const stringify = JSON.stringify;
  const parse = JSON.parse;
  const now = Date.now;
  const freeze = Object.freeze;
  const define = Object.defineProperty;
  const apply = Reflect.apply;
  const arrayJoin = Array.prototype.join;
  const arrayPush = Array.prototype.push;
  const isArray = Array.isArray;
  const toString = String;
  const InternalErrorType = InternalError;
  // No code from strings: eval and the Function constructors of every kind throw. Inside this engine they could
  // reach nothing of the host, but scripts have never had them, and a smaller language is a smaller surface.
  const refuse = function () { throw new EvalError('code generation from strings is not available in record.evaluate scripts'); };
  const getProto = Object.getPrototypeOf;
  for (const proto of [Function.prototype, getProto(function* () {}), getProto(async function () {}), getProto(async function* () {})]) {
    define(proto, 'constructor', { value: refuse, writable: false, configurable: false });
  }
  refuse.prototype = Function.prototype;
  define(globalThis, 'Function', { value: refuse, writable: false, configurable: false });
  define(globalThis, 'eval', { value: refuse, writable: false, configurable: false });
  const shared = new Map();
  const sharedGet = Map.prototype.get;
  const sharedSet = Map.prototype.set;
  let batch = [];
  let index = 0;
  let done = [];
  let pending;
  let warnedNext = false;
  let fn;
  const push = (list, value) => apply(arrayPush, list, [value]);
  const text = (v) => {
    if (v === undefined) return undefined;
    try { return stringify(v); } catch (e) { return '"[unserializable]"'; }
  };
  const stringSlice = String.prototype.slice;
  // Log lines are cut to a bounded size before they cross: the trace keeps 100 lines, not 100 times the heap.
  const cut = (s, most) => s !== undefined && s.length > most ? apply(stringSlice, s, [0, most]) + '… (' + (s.length - most) + ' more characters)' : s;
  const line = (level) => function (message, data) { hostLog(level, cut(toString(message), MESSAGE_MOST), cut(text(data), DATA_MOST)); };
  const logger = freeze({ debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') });
  const consoleObject = freeze({ log: line('info'), info: line('info'), debug: line('debug'), warn: line('warn'), error: line('error'), trace: line('debug') });
  define(globalThis, 'console', { value: consoleObject, writable: true, configurable: true });
  const ctx = freeze(Object.assign({
    getSharedVariable: function (name) { return apply(sharedGet, shared, [name]); },
    setSharedVariable: function (name, value) { apply(sharedSet, shared, [name, value]); },
  }, parse(infoJson)));
  const error = freeze({
    accept: function (errRecord, originalRecord, message) {
      pending = { record: errRecord === undefined || errRecord === null ? originalRecord : errRecord, message: message };
    },
  });
  const next = function () {
    if (!warnedNext) {
      warnedNext = true;
      hostLog('warn', 'next() is accepted for compatibility and does nothing: return the record from process() to pass it on', undefined);
    }
  };
  const describe = (e) => {
    try {
      if (e && typeof e === 'object' && typeof e.message === 'string') return (typeof e.name === 'string' ? e.name + ': ' : '') + e.message;
      return 'threw ' + toString(e);
    } catch (x) { return 'threw an unprintable value'; }
  };
  const outOfMemory = (e) => {
    try { return e instanceof InternalErrorType && e.message === 'out of memory'; } catch (x) { return false; }
  };
  const one = (record) => {
    pending = undefined;
    let out;
    try {
      out = fn(record, ctx, logger, next, error);
    } catch (e) {
      if (outOfMemory(e)) return '{"k":"m"}';
      return stringify({ k: 'x', c: 'IDX_SCRIPT_ERROR', m: describe(e) });
    }
    try {
      if (pending) return stringify({ k: 'e', v: pending.record, m: pending.message === undefined ? undefined : toString(pending.message) });
      if (out === null) return '{"k":"d"}';
      if (out === undefined) return stringify({ k: 'x', c: 'IDX_SCRIPT_RESULT', m: 'process() returned nothing: return the record to pass it on, or null to drop it' });
      if (typeof out !== 'object' || isArray(out) || typeof out.then === 'function') {
        const what = isArray(out) ? 'an array' : typeof out.then === 'function' ? 'a Promise (process() must return synchronously)' : 'a ' + typeof out;
        return stringify({ k: 'x', c: 'IDX_SCRIPT_RESULT', m: 'process() returned ' + what + ', not a record or null' });
      }
      return stringify({ k: 'r', v: out });
    } catch (e) {
      if (outOfMemory(e)) return '{"k":"m"}';
      return stringify({ k: 'x', c: 'IDX_SCRIPT_RESULT', m: 'the record process() returned cannot be written as JSON: ' + describe(e) });
    }
  };
  return freeze({
    bind: function (f) { fn = f; },
    begin: function (json) { batch = parse(json); index = 0; done = []; },
    take: function () { const out = '[' + apply(arrayJoin, done, [',']) + ']'; done = []; return out; },
    where: function () { return index; },
    skip: function () { batch[index] = undefined; index++; },
    step: function (sliceMs) {
      const start = now();
      while (index < batch.length) {
        const record = batch[index];
        batch[index] = undefined;
        push(done, one(record));
        index++;
        if (now() - start > sliceMs) break;
      }
      return index >= batch.length;
    },
    last: function () { push(done, one(null)); },
    saveShared: function () { try { return stringify(Array.from(shared.entries())); } catch (e) { return undefined; } },
    loadShared: function (json) { for (const [k, v] of parse(json)) apply(sharedSet, shared, [k, v]); },
  });
})`;

type ApiName = 'bind' | 'begin' | 'take' | 'where' | 'skip' | 'step' | 'last' | 'saveShared' | 'loadShared';
const API: readonly ApiName[] = ['bind', 'begin', 'take', 'where', 'skip', 'step', 'last', 'saveShared', 'loadShared'];

/** A WebAssembly.Memory, as the engine's variant options type it. */
type ImportedMemory = Exclude<NonNullable<CustomizeVariantOptions['wasmMemory']>, () => unknown>;

/** The WebAssembly.Memory constructor (Node's global; the project's TypeScript libs declare only its types). */
const WasmMemory = (
  globalThis as unknown as {
    WebAssembly: { Memory: new (d: { initial: number; maximum: number }) => ImportedMemory };
  }
).WebAssembly.Memory;

/** WebAssembly pages of 64 KiB. */
const PAGE = 64 * 1024;
/** What the engine's build needs before the script allocates anything (its INITIAL_MEMORY): data, stack, heap. */
const ENGINE_BYTES = 16 * 1024 * 1024;

/**
 * A QuickJS WebAssembly instance of its own for one sandbox, in a memory that cannot grow beyond the engine's
 * own bytes plus `memoryBytes`. The runtime's allocation limit stops most allocations with a catchable "out of
 * memory"; the memory's maximum is the hard bound, for the buffers of typed arrays the runtime does not count,
 * and a sandbox's memory goes with it instead of staying with the process.
 */
function quickjs(memoryBytes: number): Promise<QuickJSWASMModule> {
  const wasmMemory = new WasmMemory({
    initial: ENGINE_BYTES / PAGE,
    maximum: Math.ceil((ENGINE_BYTES + memoryBytes) / PAGE),
  });
  return newQuickJSWASMModuleFromVariant(newVariant(variant, { wasmMemory }));
}

/** Why a call into the guest ended without a result. */
type Failure = { readonly why: 'timeout' } | { readonly why: 'memory' } | { readonly why: 'error'; message: string };

/** A call into the guest: its value, or why it failed. */
type Called<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly failure: Failure };

/** The deadline of the sandbox's own bootstrap: none (it is fixed code; the memory limit still holds). */
const OWN_CODE = Number.POSITIVE_INFINITY;

/** One user script loaded in its own QuickJS runtime. */
export class Sandbox {
  readonly #runtime: QuickJSRuntime;
  readonly #vm: QuickJSContext;
  readonly #api = new Map<ApiName, QuickJSHandle>();
  readonly #timeoutMs: number;
  /** Epoch ms after which the running guest call is interrupted; 0 between calls. */
  #deadline = 0;
  /** Set once the engine itself failed (not the script): the runtime is not used again. */
  #broken: string | undefined;

  private constructor(engineModule: QuickJSWASMModule, options: SandboxOptions) {
    this.#timeoutMs = options.timeoutMs;
    this.#runtime = engineModule.newRuntime();
    this.#runtime.setMemoryLimit(options.memoryBytes);
    this.#runtime.setMaxStackSize(STACK_BYTES);
    this.#runtime.setInterruptHandler(() => Date.now() > this.#deadline);
    this.#vm = this.#runtime.newContext();
  }

  /** Loads a script: runs its top level (within the time limit) and finds its process function. */
  static async open(source: string, options: SandboxOptions): Promise<Sandbox> {
    const problem = compileProblem(source);
    if (problem) throw problem;
    const sandbox = new Sandbox(await quickjs(options.memoryBytes), options);
    try {
      sandbox.#install(source, options);
    } catch (error) {
      sandbox.dispose();
      throw error;
    }
    return sandbox;
  }

  #install(source: string, options: SandboxOptions): void {
    const vm = this.#vm;
    const hostLog = vm.newFunction('hostLog', (level, message, json) => {
      // Only strings are read; the guest gets nothing back.
      if (vm.typeof(level) !== 'string' || vm.typeof(message) !== 'string') return;
      const lvl = vm.getString(level);
      if (!LEVELS.has(lvl)) return;
      const data = vm.typeof(json) === 'string' ? vm.getString(json) : undefined;
      try {
        options.log(lvl as 'info', vm.getString(message), data);
      } catch {
        // A failing log sink must not fail the script.
      }
    });
    const info = vm.newString(JSON.stringify(options.info));
    // The bootstrap is the sandbox's own code, not the dataflow's: it runs without the script's time limit, which
    // it took more than twice of (a 50 ms limit) on a loaded machine, failing the step as if the script were at fault.
    const install = this.#call(() => vm.evalCode(BOOTSTRAP, 'record.evaluate/bootstrap'), OWN_CODE);
    if (!install.ok) {
      hostLog.dispose();
      info.dispose();
      throw this.#loadProblem('the script sandbox did not start', install.failure);
    }
    const api = this.#call(() => vm.callFunction(install.value, vm.undefined, hostLog, info), OWN_CODE);
    install.value.dispose();
    hostLog.dispose();
    info.dispose();
    if (!api.ok) throw this.#loadProblem('the script sandbox did not start', api.failure);
    for (const name of API) this.#api.set(name, vm.getProp(api.value, name));
    api.value.dispose();
    const loaded = this.#call(() => vm.evalCode(source, options.filename));
    if (!loaded.ok) throw this.#loadProblem('the script failed while loading', loaded.failure);
    loaded.value.dispose();
    this.#settle();
    const found = this.#call(() => vm.evalCode('typeof process === "function" ? process : undefined', 'lookup'));
    if (!found.ok) throw this.#loadProblem('the script failed while loading', found.failure);
    const isFunction = vm.typeof(found.value) === 'function';
    if (isFunction) this.#invoke('bind', found.value);
    found.value.dispose();
    if (!isFunction)
      throw new ScriptProblem('the script defines no function process(record, ctx, logger, next, error)');
  }

  #loadProblem(what: string, failure: Failure): ScriptProblem {
    if (failure.why === 'timeout') return new ScriptProblem(`${what}: it ran longer than ${this.#timeoutMs} ms`);
    if (failure.why === 'memory') return new ScriptProblem(`${what}: it ran out of memory`);
    const line = /\(line (\d+)\)$/.exec(failure.message)?.[1];
    return new ScriptProblem(`${what}: ${failure.message}`, line === undefined ? undefined : Number(line));
  }

  /**
   * Runs one guest call under the deadline. An interrupt is told from an error the script threw by the clock: the
   * engine raises it only once the deadline has passed, and the script cannot catch it.
   */
  #call(run: () => { error?: QuickJSHandle; value?: QuickJSHandle }, timeoutMs = this.#timeoutMs * 2) {
    if (this.#broken) return { ok: false, failure: { why: 'error', message: this.#broken } } as const;
    const deadline = Date.now() + timeoutMs;
    this.#deadline = deadline;
    let result: { error?: QuickJSHandle; value?: QuickJSHandle };
    try {
      result = run();
    } catch (error) {
      // The engine itself failed (the host's stack ran out inside it): its state cannot be trusted any more.
      this.#broken = `the script sandbox failed: ${(error as Error).message}`;
      return { ok: false, failure: { why: 'error', message: this.#broken } } as const;
    } finally {
      this.#deadline = 0;
    }
    if (result.error) {
      const failure = this.#failure(result.error, Date.now() > deadline);
      result.error.dispose();
      return { ok: false, failure } as const;
    }
    return { ok: true, value: result.value as QuickJSHandle } as const;
  }

  #failure(error: QuickJSHandle, late: boolean): Failure {
    const name = this.#ownString(error, 'name');
    const message = this.#ownString(error, 'message');
    if (late && name === 'InternalError' && message === 'interrupted') return { why: 'timeout' };
    if (name === 'InternalError' && message === 'out of memory') return { why: 'memory' };
    const line = this.#ownNumber(error, 'lineNumber');
    const text = message === undefined ? 'an error was thrown' : name === undefined ? message : `${name}: ${message}`;
    return { why: 'error', message: line === undefined ? text : `${text} (line ${line})` };
  }

  /**
   * A property of a guest value. A getter or a proxy trap of the script may run: under a short deadline of its
   * own, and whatever it does stays in the guest.
   */
  #own(object: QuickJSHandle, key: string): QuickJSHandle | undefined {
    const vm = this.#vm;
    if (vm.typeof(object) !== 'object') return undefined;
    this.#deadline = Date.now() + 50;
    try {
      return vm.getProp(object, key);
    } catch {
      return undefined;
    } finally {
      this.#deadline = 0;
    }
  }

  #ownString(object: QuickJSHandle, key: string): string | undefined {
    const h = this.#own(object, key);
    if (!h) return undefined;
    const s = this.#vm.typeof(h) === 'string' ? this.#vm.getString(h) : undefined;
    h.dispose();
    return s;
  }

  #ownNumber(object: QuickJSHandle, key: string): number | undefined {
    const h = this.#own(object, key);
    if (!h) return undefined;
    const n = this.#vm.typeof(h) === 'number' ? this.#vm.getNumber(h) : undefined;
    h.dispose();
    return n;
  }

  /** Calls an entry point of the bootstrap with the given arguments (handles or strings). */
  #invoke(name: ApiName, ...args: (QuickJSHandle | string | number)[]): Called<QuickJSHandle> {
    const vm = this.#vm;
    const fn = this.#api.get(name);
    if (!fn) return { ok: false, failure: { why: 'error', message: `the sandbox has no entry point ${name}` } };
    const made: QuickJSHandle[] = [];
    const handles = args.map((a) => {
      if (typeof a === 'string') return made[made.push(vm.newString(a)) - 1] as QuickJSHandle;
      if (typeof a === 'number') return made[made.push(vm.newNumber(a)) - 1] as QuickJSHandle;
      return a;
    });
    try {
      return this.#call(() => vm.callFunction(fn, vm.undefined, ...handles));
    } finally {
      for (const h of made) h.dispose();
    }
  }

  /** Calls an entry point and reads its string (or number, or boolean) result. */
  #value(name: ApiName, ...args: (QuickJSHandle | string | number)[]): Called<unknown> {
    const r = this.#invoke(name, ...args);
    if (!r.ok) return r;
    const vm = this.#vm;
    const t = vm.typeof(r.value);
    const value =
      t === 'string'
        ? vm.getString(r.value)
        : t === 'number'
          ? vm.getNumber(r.value)
          : t === 'boolean'
            ? vm.dump(r.value)
            : undefined;
    r.value.dispose();
    return { ok: true, value };
  }

  /** Runs process() over a batch; one outcome per record, in order. */
  run(batch: readonly Record<string, unknown>[]): Outcome[] {
    const outcomes: Outcome[] = [];
    const begun = this.#value('begin', JSON.stringify(batch));
    if (!begun.ok) return batch.map(() => this.#failed(begun.failure, 'process()'));
    // Each call stops itself once it has run for the time limit; the call's own deadline is twice that, so a
    // record that is interrupted has run for at least the limit on its own.
    while (outcomes.length < batch.length) {
      const stepped = this.#value('step', this.#timeoutMs);
      this.#settle();
      outcomes.push(...this.#take());
      if (stepped.ok) {
        if (stepped.value === true) break;
        continue;
      }
      // The record being processed when the call failed is the one at `where`; it fails, the rest go on.
      const at = this.#value('where');
      const skipped = this.#value('skip');
      if (!at.ok || !skipped.ok || at.value !== outcomes.length) {
        // The guest cannot even tell where it stopped (its memory is full): the rest of the batch fails alike.
        while (outcomes.length < batch.length) outcomes.push(this.#failed(stepped.failure, 'process()'));
        break;
      }
      outcomes.push(this.#failed(stepped.failure, 'process()'));
    }
    return outcomes.slice(0, batch.length);
  }

  /**
   * Runs the promise callbacks the script queued, as a `node:vm` context did after each evaluation: at most
   * MAX_JOBS, under one time limit, so a chain of promises that never ends costs time, never a hang. Their errors
   * stay in the guest, as an unhandled rejection would.
   */
  #settle(): void {
    this.#call(() => {
      const r = this.#runtime.executePendingJobs(MAX_JOBS);
      return r.error ? { error: r.error } : { value: this.#vm.undefined };
    }, this.#timeoutMs);
  }

  #failed(failure: Failure, what: string): Outcome {
    switch (failure.why) {
      case 'timeout':
        return {
          kind: 'fail',
          code: 'IDX_SCRIPT_TIMEOUT',
          message: `${what} ran longer than ${this.#timeoutMs} ms on this record and was stopped`,
        };
      case 'memory':
        return { kind: 'fail', code: 'IDX_SCRIPT_MEMORY', message: `${what} ran out of memory on this record` };
      default:
        return { kind: 'fail', code: 'IDX_SCRIPT_ERROR', message: failure.message };
    }
  }

  /**
   * The shared variables (`ctx.setSharedVariable`) as JSON, so the step's next invocation starts with them;
   * undefined when a value cannot be written as JSON.
   */
  sharedVariables(): string | undefined {
    const r = this.#value('saveShared');
    return r.ok && typeof r.value === 'string' ? r.value : undefined;
  }

  /** Restores shared variables saved by {@link sharedVariables} in the step's previous invocation. */
  restoreSharedVariables(json: string): void {
    this.#value('loadShared', json);
  }

  /** Calls process(null) once more (notifyLastRecord); returns its outcome. */
  last(): Outcome {
    const r = this.#value('last');
    this.#settle();
    const taken = this.#take();
    if (!r.ok) {
      const failed = this.#failed(r.failure, 'process(null)');
      return failed.kind === 'fail' && failed.code === 'IDX_SCRIPT_TIMEOUT'
        ? { ...failed, message: `process(null) ran longer than ${this.#timeoutMs} ms` }
        : failed;
    }
    return taken[0] ?? { kind: 'drop' };
  }

  #take(): Outcome[] {
    const r = this.#value('take');
    if (!r.ok || typeof r.value !== 'string') return [];
    let parsed: unknown;
    try {
      parsed = JSON.parse(r.value);
    } catch {
      return [];
    }
    if (!Array.isArray(parsed)) return [];
    return (parsed as { k: string; v?: Record<string, unknown>; m?: string; c?: string }[]).map((o): Outcome => {
      switch (o.k) {
        case 'r':
          return o.v !== null && typeof o.v === 'object' && !Array.isArray(o.v)
            ? { kind: 'record', record: o.v }
            : { kind: 'drop' };
        case 'd':
          return { kind: 'drop' };
        case 'e':
          return {
            kind: 'reject',
            record: o.v !== null && typeof o.v === 'object' && !Array.isArray(o.v) ? o.v : undefined,
            message: typeof o.m === 'string' ? o.m : 'rejected by the script',
          };
        case 'm':
          return this.#failed({ why: 'memory' }, 'process()');
        default:
          return {
            kind: 'fail',
            code: o.c === 'IDX_SCRIPT_RESULT' ? 'IDX_SCRIPT_RESULT' : 'IDX_SCRIPT_ERROR',
            message: typeof o.m === 'string' ? o.m : 'the script failed',
          };
      }
    });
  }

  /** Frees the script's runtime. */
  dispose(): void {
    if (!this.#vm.alive) return;
    for (const h of this.#api.values()) if (h.alive) h.dispose();
    this.#api.clear();
    try {
      this.#vm.dispose();
      this.#runtime.dispose();
    } catch {
      // A runtime the host's stack overflow left half-way cannot be freed cleanly; its memory is the module's.
    }
  }
}

/** Node types of acorn's tree that this module reads. */
interface Tree extends AcornNode {
  readonly [key: string]: unknown;
}

/**
 * Parses a script without running it (acorn, the latest ECMAScript, as a classic script as IdentitySync runs it)
 * and checks its shape: it must define a function `process` at its top level. Returns the problem, or undefined.
 */
export function compileProblem(source: string): ScriptProblem | undefined {
  let program: Tree;
  try {
    program = parse(source, { ecmaVersion: 'latest', sourceType: 'script', locations: true }) as unknown as Tree;
  } catch (error) {
    const loc = (error as { loc?: { line: number } }).loc;
    const message = (error as Error).message.replace(/ \(\d+:\d+\)$/, '');
    return new ScriptProblem(`${message}${loc ? ` (line ${loc.line})` : ''}`, loc?.line);
  }
  if (!definesProcess(program)) {
    return new ScriptProblem('the script defines no function process(record, ctx, logger, next, error)');
  }
  return undefined;
}

const isFunction = (node: unknown) =>
  node !== null &&
  typeof node === 'object' &&
  ['FunctionExpression', 'ArrowFunctionExpression'].includes((node as Tree).type);

/**
 * Whether the top level defines `process` as a function: `function process(…)`, `var|let|const process =
 * function|arrow`, or `process = function|arrow` (also through `this.` or `globalThis.`).
 */
function definesProcess(program: Tree): boolean {
  for (const statement of program.body as Tree[]) {
    if (statement.type === 'FunctionDeclaration' && (statement.id as Tree | null)?.name === 'process') return true;
    if (statement.type === 'VariableDeclaration') {
      for (const d of statement.declarations as Tree[]) {
        if ((d.id as Tree).type === 'Identifier' && (d.id as Tree).name === 'process' && isFunction(d.init))
          return true;
      }
    }
    if (statement.type === 'ExpressionStatement') {
      const e = statement.expression as Tree;
      if (e.type !== 'AssignmentExpression' || e.operator !== '=' || !isFunction(e.right)) continue;
      const left = e.left as Tree;
      if (left.type === 'Identifier' && left.name === 'process') return true;
      if (
        left.type === 'MemberExpression' &&
        !left.computed &&
        (left.property as Tree).name === 'process' &&
        ((left.object as Tree).type === 'ThisExpression' || (left.object as Tree).name === 'globalThis')
      )
        return true;
    }
  }
  return false;
}
