/**
 * The former sandbox of record.evaluate, kept only as the benchmarks' point of comparison (its throughput per
 * record, and the escapes it let through): it is NOT a security boundary, and nothing in lib/ uses it. `node:vm`
 * shares one V8 isolate with the host, so any host object that reaches the context (an error from a dynamic
 * `import()`, hidden from the text check below behind an HTML comment) leads back to the host's `Function`.
 * lib/scripts/util/sandbox.ts runs scripts in QuickJS instead.
 *
 * What it did: user JavaScript runs in its own `node:vm` context with no `require`, `process`,
 * `import()`, timers or host globals, and with code generation from strings (`eval`, `Function(…)`) disabled.
 *
 * Nothing of the host realm is ever handed to user code: records cross the boundary as JSON text and are
 * parsed inside the context; `logger`, `ctx`, `error` and `console` are built inside the context by a bootstrap
 * that captured the builtins it needs (JSON, Date) before the user's script ran, and the only host function it
 * holds (the log sink) is kept in a closure and receives strings. Every call that can run user code goes through
 * `runInContext` with a timeout, so an endless loop costs one record, not the job.
 */
import vm from 'node:vm';

import type { Outcome, SandboxLog } from '../../lib/scripts/util/sandbox.ts';

export type { Outcome, SandboxLog };

/** Options of {@link Sandbox}. */
export interface SandboxOptions {
  /** Name shown in compile errors and stack traces. */
  readonly filename: string;
  /** Longest time process() may spend on one record. */
  readonly timeoutMs: number;
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

// Runs inside the context before the user's script. Strict mode, so no frame of it can be reached through
// `caller`. It defines the entry points as non-writable globals the user's script cannot replace.
const BOOTSTRAP = `(function (hostLog, info) {
  'use strict';
  const stringify = JSON.stringify;
  const parse = JSON.parse;
  const now = Date.now;
  const freeze = Object.freeze;
  const define = Object.defineProperty;
  const apply = Reflect.apply;
  const arrayJoin = Array.prototype.join;
  const shared = new Map();
  let batch = [];
  let index = 0;
  let done = [];
  let pending;
  let warnedNext = false;
  const text = (v) => {
    if (v === undefined) return undefined;
    try { return stringify(v); } catch (e) { return '"[unserializable]"'; }
  };
  const line = (level) => function (message, data) { hostLog(level, String(message), text(data)); };
  const logger = freeze({ debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') });
  const consoleObject = freeze({ log: line('info'), info: line('info'), debug: line('debug'), warn: line('warn'), error: line('error'), trace: line('debug') });
  define(globalThis, 'console', { value: consoleObject, writable: true, configurable: true });
  const ctx = freeze(Object.assign({
    getSharedVariable: function (name) { return shared.get(name); },
    setSharedVariable: function (name, value) { shared.set(name, value); },
  }, info));
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
      return 'threw ' + String(e);
    } catch (x) { return 'threw an unprintable value'; }
  };
  const one = (record) => {
    pending = undefined;
    let out;
    try {
      const fn = globalThis.process;
      if (typeof fn !== 'function') return stringify({ k: 'x', c: 'IDX_SCRIPT_INVALID', m: 'the script defines no process function' });
      out = fn(record, ctx, logger, next, error);
    } catch (e) {
      return stringify({ k: 'x', c: 'IDX_SCRIPT_ERROR', m: describe(e) });
    }
    try {
      if (pending) return stringify({ k: 'e', v: pending.record, m: pending.message === undefined ? undefined : String(pending.message) });
      if (out === null) return stringify({ k: 'd' });
      if (out === undefined) return stringify({ k: 'x', c: 'IDX_SCRIPT_RESULT', m: 'process() returned nothing: return the record to pass it on, or null to drop it' });
      if (typeof out !== 'object' || Array.isArray(out) || typeof out.then === 'function') {
        const what = Array.isArray(out) ? 'an array' : typeof out.then === 'function' ? 'a Promise (process() must return synchronously)' : 'a ' + typeof out;
        return stringify({ k: 'x', c: 'IDX_SCRIPT_RESULT', m: 'process() returned ' + what + ', not a record or null' });
      }
      return stringify({ k: 'r', v: out });
    } catch (e) {
      return stringify({ k: 'x', c: 'IDX_SCRIPT_RESULT', m: 'the record process() returned cannot be written as JSON: ' + describe(e) });
    }
  };
  const api = {
    begin: function (json) { batch = parse(json); index = 0; done = []; },
    take: function () { const out = '[' + apply(arrayJoin, done, [',']) + ']'; done = []; return out; },
    where: function () { return index; },
    skip: function () { batch[index] = undefined; index++; },
    saveShared: function () { try { return stringify(Array.from(shared.entries())); } catch (e) { return undefined; } },
    loadShared: function (json) { for (const [k, v] of parse(json)) shared.set(k, v); },
  };
  define(globalThis, '__idxStep', { value: function (sliceMs) {
    const start = now();
    while (index < batch.length) {
      const record = batch[index];
      batch[index] = undefined;
      done.push(one(record));
      index++;
      if (now() - start > sliceMs) break;
    }
    return index >= batch.length;
  }, writable: false, configurable: false, enumerable: false });
  define(globalThis, '__idxLast', { value: function () { done.push(one(null)); }, writable: false, configurable: false, enumerable: false });
  return api;
})`;

interface Api {
  begin(json: string): void;
  take(): string;
  where(): number;
  skip(): void;
  saveShared(): string | undefined;
  loadShared(json: string): void;
}

/** Promise prototypes of every sandbox context, to recognise rejections that belong to user scripts. */
const sandboxPromises = new WeakSet<object>();
let listening = false;

/**
 * A script can leave a promise rejected with no handler (an async function that throws, `Promise.reject()`).
 * Those must not take the process down, so they are recognised by their context and ignored; any other
 * unhandled rejection behaves as Node's default does when no one else listens: it is thrown.
 */
function watchRejections(): void {
  if (listening) return;
  listening = true;
  process.on('unhandledRejection', (reason, promise) => {
    const proto = Object.getPrototypeOf(promise) as object | null;
    if (proto && sandboxPromises.has(proto)) return;
    if (process.listenerCount('unhandledRejection') === 1) throw reason;
  });
}

const LAST = new vm.Script('__idxLast()', { filename: 'record.evaluate/last' });

/**
 * Reads an own data property without running anything: an error thrown by user code may carry getters, and
 * host code must never execute user code outside a timed call.
 */
function field(value: unknown, key: string): unknown {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return undefined;
  const d = Object.getOwnPropertyDescriptor(value, key);
  return d && 'value' in d ? d.value : undefined;
}

function lineOf(error: unknown, filename: string): number | undefined {
  const stack = field(error, 'stack');
  if (typeof stack !== 'string') return undefined;
  const m = new RegExp(`${filename.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:(\\d+)`).exec(stack);
  return m ? Number(m[1]) : undefined;
}

/**
 * `import(` anywhere, even with comments in between. Node rejects a dynamic import in a context with an error of
 * the host realm, whose constructor chain reaches the host's `Function`; since code generation from strings is
 * off in the sandbox, the only way to write an import is literally, so refusing the text closes that door. A
 * mention inside a string or comment is refused too: a rare false alarm, never a hole.
 */
const DYNAMIC_IMPORT = /\bimport\s*(?:(?:\/\*[\s\S]*?\*\/|\/\/[^\n]*\n)\s*)*\(/;

/** Compiles a script without running it; returns the problem, or undefined when it compiles. */
export function compileProblem(source: string, filename: string): ScriptProblem | undefined {
  try {
    new vm.Script(source, { filename });
  } catch (error) {
    const line = lineOf(error, filename);
    return new ScriptProblem(`${describe(error)}${line === undefined ? '' : ` (line ${line})`}`, line);
  }
  const found = DYNAMIC_IMPORT.exec(source);
  if (found) {
    const line = source.slice(0, found.index).split('\n').length;
    return new ScriptProblem(`import() is not available in record.evaluate scripts (line ${line})`, line);
  }
  return undefined;
}

/** One user script loaded in its own context. */
export class Sandbox {
  readonly #context: vm.Context;
  readonly #api: Api;
  readonly #timeoutMs: number;
  readonly #step: vm.Script;

  constructor(source: string, options: SandboxOptions) {
    const problem = compileProblem(source, options.filename);
    if (problem) throw problem;
    this.#timeoutMs = options.timeoutMs;
    this.#step = new vm.Script(`__idxStep(${Number(options.timeoutMs)})`, { filename: 'record.evaluate/step' });
    this.#context = vm.createContext(Object.create(null), {
      name: options.filename,
      codeGeneration: { strings: false, wasm: false },
      microtaskMode: 'afterEvaluate',
    });
    const log: SandboxLog = (level, message, json) => {
      try {
        options.log(level, String(message), typeof json === 'string' ? json : undefined);
      } catch {
        // A failing log sink must not throw a host error into the sandbox.
      }
    };
    const install = vm.runInContext(BOOTSTRAP, this.#context, { filename: 'record.evaluate/bootstrap' }) as (
      log: SandboxLog,
      info: Record<string, unknown>,
    ) => Api;
    this.#api = install(log, { ...options.info });
    sandboxPromises.add(vm.runInContext('Object.getPrototypeOf(Promise.resolve())', this.#context) as object);
    watchRejections();
    try {
      new vm.Script(source, { filename: options.filename }).runInContext(this.#context, { timeout: options.timeoutMs });
    } catch (error) {
      const line = lineOf(error, options.filename);
      throw new ScriptProblem(
        `the script failed while loading: ${describe(error)}${line === undefined ? '' : ` (line ${line})`}`,
        line,
      );
    }
    if (vm.runInContext('typeof process', this.#context, { timeout: options.timeoutMs }) !== 'function') {
      throw new ScriptProblem('the script defines no function process(record, ctx, logger, next, error)');
    }
  }

  /** Runs process() over a batch; one outcome per record, in order. */
  run(batch: readonly Record<string, unknown>[]): Outcome[] {
    const outcomes: Outcome[] = [];
    this.#api.begin(JSON.stringify(batch));
    // Each call stops itself once it has run for the time limit; the call's own timeout is twice that, so a
    // record that is interrupted has run for at least the limit on its own.
    for (;;) {
      let finished = false;
      try {
        finished = this.#step.runInContext(this.#context, { timeout: this.#timeoutMs * 2 }) === true;
      } catch (error) {
        outcomes.push(...this.#take());
        if (field(error, 'code') !== 'ERR_SCRIPT_EXECUTION_TIMEOUT') throw hostError(error);
        const at = this.#api.where();
        this.#api.skip();
        outcomes.push({
          kind: 'fail',
          code: 'IDX_SCRIPT_TIMEOUT',
          message: `process() ran longer than ${this.#timeoutMs} ms on this record and was stopped`,
        });
        if (typeof at !== 'number' || at + 1 >= batch.length) break;
        continue;
      }
      outcomes.push(...this.#take());
      if (finished) break;
    }
    return outcomes;
  }

  /** Calls process(null) once more (notifyLastRecord); returns its outcome. */
  /**
   * The shared variables (`ctx.setSharedVariable`) as JSON, so the step's next invocation starts with them;
   * undefined when a value cannot be written as JSON.
   */
  sharedVariables(): string | undefined {
    return this.#api.saveShared();
  }

  /** Restores shared variables saved by {@link sharedVariables} in the step's previous invocation. */
  restoreSharedVariables(json: string): void {
    this.#api.loadShared(json);
  }

  last(): Outcome {
    try {
      LAST.runInContext(this.#context, { timeout: this.#timeoutMs * 2 });
    } catch (error) {
      if (field(error, 'code') !== 'ERR_SCRIPT_EXECUTION_TIMEOUT') throw hostError(error);
      this.#take();
      return {
        kind: 'fail',
        code: 'IDX_SCRIPT_TIMEOUT',
        message: `process(null) ran longer than ${this.#timeoutMs} ms`,
      };
    }
    return this.#take()[0] ?? { kind: 'drop' };
  }

  #take(): Outcome[] {
    const text = this.#api.take();
    if (typeof text !== 'string') return [];
    return (JSON.parse(text) as { k: string; v?: Record<string, unknown>; m?: string; c?: string }[]).map(
      (o): Outcome => {
        switch (o.k) {
          case 'r':
            return o.v !== null && typeof o.v === 'object' ? { kind: 'record', record: o.v } : { kind: 'drop' };
          case 'd':
            return { kind: 'drop' };
          case 'e':
            return { kind: 'reject', record: o.v, message: o.m ?? 'rejected by the script' };
          default:
            return { kind: 'fail', code: o.c ?? 'IDX_SCRIPT_ERROR', message: o.m ?? 'the script failed' };
        }
      },
    );
  }
}

function describe(error: unknown): string {
  const message = field(error, 'message');
  if (typeof message === 'string') return message;
  return typeof error === 'string' || typeof error === 'number' ? String(error) : 'an error was thrown';
}

/** A host error for anything unexpected that escaped the sandbox (never the sandbox's own object). */
function hostError(error: unknown): Error {
  return new ScriptProblem(`the script sandbox failed: ${describe(error)}`);
}
