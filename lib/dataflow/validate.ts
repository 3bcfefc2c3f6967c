/**
 * Validates a loaded dataflow against the script registry and the graph rules. Every problem is reported at
 * once, each with a stable code, the file, the step id, the JSON path, and what was expected vs. received.
 */
import { showValue } from '../core/errors.ts';
import { checkObject, type ParamProblem, stringLeaves } from '../core/params.ts';
import type { ScriptRegistry } from '../core/registry.ts';
import { CREDENTIAL_PARAMS, IDENTITYSYNC_TYPES, RETIRED_TYPES } from './catalog.ts';
import { cyclesOf, edgesOf, entriesOf, unreachableFrom } from './graph.ts';
import { MAX_DEFINITION_BYTES, MAX_NESTING_DEPTH, paramTextBytes, tooDeepAt } from './limits.ts';
import { loadDataflowFile, parseDataflow } from './load.ts';
import { isBlankTemplateValue, isProblem, isSecretReference, placeholdersIn } from './placeholders.ts';
import { boundProblem, hasErrors, type Problem } from './problems.ts';
import type { Dataflow, Step } from './types.ts';

/** The console's mask for stored secrets. */
export const MASKED_SECRET = '********';

/** A validated dataflow with its problems (warnings only when `valid`). */
export interface ValidationResult {
  readonly dataflow?: Dataflow;
  readonly problems: Problem[];
  readonly valid: boolean;
}

/** Loads and validates a dataflow file. */
export function validateFile(file: string, registry: ScriptRegistry): ValidationResult {
  const loaded = loadDataflowFile(file);
  return finish(loaded.dataflow, loaded.problems, registry);
}

/** Parses and validates dataflow JSON text. */
export function validateText(
  text: string,
  registry: ScriptRegistry,
  options: { file?: string } = {},
): ValidationResult {
  const loaded = parseDataflow(text, options);
  return finish(loaded.dataflow, loaded.problems, registry);
}

function finish(dataflow: Dataflow | undefined, problems: Problem[], registry: ScriptRegistry): ValidationResult {
  if (dataflow) problems.push(...validateDataflow(dataflow, registry));
  return {
    ...(dataflow ? { dataflow } : {}),
    problems: problems.map(boundProblem),
    valid: dataflow !== undefined && !hasErrors(problems),
  };
}

/** Adds a problem of the dataflow being checked (an error unless it says otherwise). */
type AddProblem = (p: Omit<Problem, 'file' | 'severity'> & { severity?: Problem['severity'] }) => void;

/** What every check of one dataflow needs. */
interface Check {
  readonly dataflow: Dataflow;
  readonly registry: ScriptRegistry;
  readonly add: AddProblem;
  /** The JSON path of a step. */
  readonly stepPath: (s: Step) => string;
  /** The first step with each id. */
  readonly seen: ReadonlyMap<string, Step>;
}

/** Checks a dataflow's steps, params, graph and schedules. */
export function validateDataflow(dataflow: Dataflow, registry: ScriptRegistry): Problem[] {
  const problems: Problem[] = [];
  const file = dataflow.file;
  const indexOf = new Map<Step, number>(dataflow.steps.map((s, i) => [s, i]));
  const add: AddProblem = (p) => problems.push(boundProblem({ severity: 'error', ...(file ? { file } : {}), ...p }));
  const stepPath = (s: Step) => `$.steps[${indexOf.get(s)}]`;
  const seen = checkStepIds(dataflow.steps, stepPath, add);
  const check: Check = { dataflow, registry, add, stepPath, seen };
  for (const s of dataflow.steps) {
    if (!checkStepDepth(s, check)) continue;
    checkStep(s, check);
    checkStrings(s, stepPath(s), registry, add);
  }
  checkDefinitionSize(check);
  checkEdgeTargets(check);
  checkEdgeKinds(check);
  checkGraphShape(check);
  problems.push(...validateSchedules(dataflow));
  return problems;
}

/**
 * Names every plain object has through its prototype (`__proto__`, `constructor`, `toString`, …): a step with
 * one of them as its id would be misread or lost wherever steps are looked up or counted by id.
 */
const RESERVED_NAMES = new Set(Object.getOwnPropertyNames(Object.prototype));

/** Step ids must be unique and not reserved; returns the first step with each id. */
function checkStepIds(steps: readonly Step[], stepPath: (s: Step) => string, add: AddProblem): Map<string, Step> {
  const seen = new Map<string, Step>();
  for (const s of steps) {
    if (RESERVED_NAMES.has(s.id)) {
      add({
        code: 'IDX_NAME_RESERVED',
        stepId: s.id,
        path: `${stepPath(s)}.id`,
        message: `step id "${s.id}" is a name every JavaScript object has, so the step would be lost from job records`,
        expected: 'an id that is not a member of every object (__proto__, constructor, toString, valueOf, …)',
        received: showValue(s.id),
      });
    }
    if (seen.has(s.id)) {
      add({
        code: 'IDX_STEP_DUPLICATE_ID',
        stepId: s.id,
        path: `${stepPath(s)}.id`,
        message: `step id "${s.id}" is used by more than one step`,
        expected: 'a unique step id',
        received: showValue(s.id),
      });
    } else seen.set(s.id, s);
  }
  return seen;
}

/**
 * A step's params must not nest deeper than the limit (a dataflow read from a file was checked whole when it
 * was loaded; one built in memory is checked here). False when they do: nothing else of the step is read.
 */
function checkStepDepth(s: Step, { add, stepPath }: Check): boolean {
  // The dataflow object is level 1, its steps array 2, a step 3, its params 4.
  const deep = tooDeepAt(s.params, `${stepPath(s)}.params`, 4);
  if (deep === undefined) return true;
  add({
    code: 'IDX_DATAFLOW_LIMIT',
    stepId: s.id,
    path: deep,
    message: `the params of step "${s.id}" nest objects and arrays more than ${MAX_NESTING_DEPTH} levels deep`,
    expected: `at most ${MAX_NESTING_DEPTH} levels of nesting`,
    received: `level ${MAX_NESTING_DEPTH + 1} at ${deep}`,
  });
  return false;
}

/**
 * The compiled definition holds every step's params, so params longer than Step Functions' definition limit
 * can never deploy. (The compiled size itself is checked by the compiler's validation, which sees the states.)
 */
function checkDefinitionSize({ dataflow, add }: Check): void {
  const bytes = paramTextBytes(dataflow.steps);
  if (bytes <= MAX_DEFINITION_BYTES) return;
  add({
    code: 'IDX_DATAFLOW_LIMIT',
    path: '$.steps',
    message: `the steps' params hold ${bytes} bytes of text, more than a Step Functions definition (which holds them all) may be`,
    expected: `at most ${MAX_DEFINITION_BYTES} bytes (1 MB) for the whole compiled definition`,
    received: `${bytes} bytes of params`,
  });
}

/** A step's type must be a script of the registry, and its params must fit the script's. */
function checkStep(s: Step, { registry, add, stepPath }: Check): void {
  const def = registry.get(s.type);
  if (!def) {
    const implemented = !IDENTITYSYNC_TYPES.has(s.type);
    add({
      code: implemented ? 'IDX_STEP_TYPE_UNKNOWN' : 'IDX_STEP_TYPE_NOT_IMPLEMENTED',
      stepId: s.id,
      path: `${stepPath(s)}.type`,
      message: implemented
        ? `step type "${s.type}" is not a known component`
        : RETIRED_TYPES.has(s.type)
          ? `step type "${s.type}" is an IdentitySync component that identity-sync does not implement: ${RETIRED_TYPES.get(s.type)}`
          : `step type "${s.type}" is an IdentitySync component that identity-sync does not implement yet`,
      expected: implemented
        ? 'a script type listed by `idx scripts`'
        : 'an implemented script type (see `idx scripts`)',
      received: showValue(s.type),
    });
    return;
  }
  const paramProblems: ParamProblem[] = [];
  checkObject(def.params, s.params as Record<string, unknown>, '', paramProblems);
  for (const p of paramProblems) {
    add({
      code: p.code,
      stepId: s.id,
      path: `${stepPath(s)}.params.${p.path}`,
      message: `${s.type}: ${p.message}`,
      expected: p.expected,
      received: p.received,
    });
  }
  // A script's own checks assume params of the declared shapes.
  if (!def.check || paramProblems.length > 0) return;
  for (const p of def.check(s.params as never)) {
    add({
      code: p.code,
      stepId: s.id,
      path: `${stepPath(s)}.params${p.path ? `.${p.path}` : ''}`,
      message: `${s.type}: ${p.message}`,
      ...(p.expected === undefined ? {} : { expected: p.expected }),
      ...(p.received === undefined ? {} : { received: p.received }),
    });
  }
}

/** Every id in `next` and `error` must name a step, once. */
function checkEdgeTargets({ dataflow, add, stepPath }: Check): void {
  const ids = new Set(dataflow.steps.map((s) => s.id));
  for (const s of dataflow.steps) {
    for (const via of ['next', 'error'] as const) {
      s[via].forEach((to, i) => {
        const first = s[via].indexOf(to);
        if (first < i) {
          add({
            code: 'IDX_EDGE_DUPLICATE',
            stepId: s.id,
            path: `${stepPath(s)}.${via}[${i}]`,
            message: `${via} lists step "${to}" twice, which would send it every record twice`,
            expected: 'each step id once',
            received: `${showValue(to)} at ${via}[${first}] and ${via}[${i}]`,
          });
          return;
        }
        if (ids.has(to)) return;
        add({
          code: 'IDX_EDGE_MISSING_STEP',
          stepId: s.id,
          path: `${stepPath(s)}.${via}[${i}]`,
          message: `${via} names step "${to}", which does not exist`,
          expected: `one of ${[...ids].map((x) => showValue(x)).join(', ')}`,
          received: showValue(to),
        });
      });
    }
  }
}

/** Every edge must carry what its target consumes; only a step that handles records has an error path. */
function checkEdgeKinds({ dataflow, registry, add, stepPath, seen }: Check): void {
  for (const e of edgesOf(dataflow.steps)) {
    const from = seen.get(e.from) as Step;
    const to = seen.get(e.to) as Step;
    const fromDef = registry.get(from.type);
    const toDef = registry.get(to.type);
    if (!fromDef || !toDef) continue;
    const carries = e.via === 'error' ? 'records' : fromDef.produces;
    const path = `${stepPath(from)}.${e.via}[${from[e.via].indexOf(e.to)}]`;
    if (e.via === 'error' && fromDef.consumes !== 'records' && fromDef.produces !== 'records') {
      add({
        code: 'IDX_EDGE_ERROR_PATH',
        stepId: from.id,
        path,
        message: `step "${from.id}" (${from.type}) has no record-level error path, so it cannot route rejects to "${to.id}"`,
        expected: 'an error edge from a step that handles records',
        received: `${from.type} (consumes ${fromDef.consumes}, produces ${fromDef.produces})`,
      });
    } else if (carries !== toDef.consumes) {
      add({
        code: 'IDX_EDGE_KIND',
        stepId: from.id,
        path,
        message:
          carries === 'nothing'
            ? `step "${from.id}" (${from.type}) produces nothing, so it cannot feed "${to.id}"`
            : `step "${from.id}" sends ${carries} to "${to.id}" (${to.type}), which consumes ${toDef.consumes}`,
        expected: `a step that consumes ${carries}`,
        received: `${to.type} (consumes ${toDef.consumes})`,
      });
    }
  }
}

/** One entry, which reads; no cycle; every step reachable from the entry. */
function checkGraphShape(check: Check): void {
  const { dataflow, registry, add, stepPath, seen } = check;
  const entries = entriesOf(dataflow.steps);
  checkEntryCount(entries, add);
  for (const c of cyclesOf(dataflow.steps)) {
    const first = seen.get(c[0] as string) as Step;
    add({
      code: 'IDX_GRAPH_CYCLE',
      stepId: first.id,
      path: stepPath(first),
      message: `the steps form a cycle: ${[...c, c[0]].map((x) => JSON.stringify(x)).join(' → ')}`,
      expected: 'an acyclic graph',
      received: 'a cycle',
    });
  }
  if (entries.length >= 1) {
    for (const id of unreachableFrom(dataflow.steps, entries.slice(0, 1))) {
      if (entries.includes(id)) continue;
      add({
        code: 'IDX_GRAPH_UNREACHABLE',
        stepId: id,
        path: stepPath(seen.get(id) as Step),
        message: `step "${id}" cannot be reached from the entry step "${entries[0]}"`,
        expected: 'every step reachable from the entry',
        received: 'an unreachable step',
      });
    }
  }
  const entry = entries.length === 1 ? seen.get(entries[0] as string) : undefined;
  const entryDef = entry && registry.get(entry.type);
  if (entry && entryDef && entryDef.consumes !== 'nothing') {
    add({
      code: 'IDX_GRAPH_ENTRY_KIND',
      stepId: entry.id,
      path: stepPath(entry),
      message: `the entry step "${entry.id}" (${entry.type}) needs input, so nothing would feed it`,
      expected: 'a reader (a step that consumes nothing) as the entry',
      received: `${entry.type} (consumes ${entryDef.consumes})`,
    });
  }
}

/** Exactly one step that no other step points to. */
function checkEntryCount(entries: readonly string[], add: AddProblem): void {
  if (entries.length === 1) return;
  add({
    code: entries.length === 0 ? 'IDX_GRAPH_NO_ENTRY' : 'IDX_GRAPH_MULTIPLE_ENTRIES',
    path: '$.steps',
    message:
      entries.length === 0
        ? 'every step is pointed to by another step, so the dataflow has no entry point'
        : `the dataflow has ${entries.length} entry points; connect them or remove the extra ones`,
    expected: 'exactly one step that no other step lists in next or error',
    received: entries.length === 0 ? 'none' : entries.map((e) => JSON.stringify(e)).join(', '),
  });
}

/** Credentials must be secret references; placeholders must be known. */
function checkStrings(s: Step, path: string, registry: ScriptRegistry, add: AddProblem): void {
  const def = registry.get(s.type);
  for (const leaf of stringLeaves(def?.params ?? {}, s.params as Record<string, unknown>)) {
    const name =
      leaf.path
        .split('.')
        .pop()
        ?.replace(/\[\d+\]$/, '') ?? '';
    const isCredential = leaf.spec?.secret === true || CREDENTIAL_PARAMS.has(name);
    const at = `${path}.params.${leaf.path}`;
    if (isCredential && !isSecretReference(leaf.value) && leaf.value !== MASKED_SECRET) {
      // Templates ship credentials empty, elided ("...") or as {{mustache}} blanks: unset, not leaked.
      if (isBlankTemplateValue(leaf.value)) {
        add({
          code: 'IDX_CREDENTIAL_UNSET',
          severity: 'warning',
          stepId: s.id,
          path: at,
          message: `credential "${leaf.path}" is not set; the step fails at run time until it names a secret`,
          expected: '${secret:NAME}',
          received: showValue(leaf.value),
        });
      } else {
        add({
          code: 'IDX_CREDENTIAL_PLAINTEXT',
          stepId: s.id,
          path: at,
          message: `credential "${leaf.path}" holds a plaintext value; store it as a secret and reference it`,
          expected: '${secret:NAME} (or the console mask ********)',
          // Never echo the value: it is a secret.
          received: `a plaintext string of ${leaf.value.length} characters`,
        });
      }
      continue;
    }
    if (PRIVATE_KEY_BLOCK.test(leaf.value)) {
      // Pasted where a public key or other text belongs: deploying it would put the key in the compiled
      // definition in clear. The credential branch above has already handled credential params.
      add({
        code: 'IDX_CREDENTIAL_PLAINTEXT',
        stepId: s.id,
        path: at,
        message: `"${leaf.path}" holds a private key block; a private key is a secret, and this param does not take one`,
        expected: 'no private key material (for PGP, the recipient’s public key)',
        // Never echo the value: it is a secret.
        received: `a private key block in a string of ${leaf.value.length} characters`,
      });
      continue;
    }
    if (leaf.spec?.verbatim) continue;
    for (const p of placeholdersIn(leaf.value)) {
      if (isProblem(p)) {
        add({ code: p.code, stepId: s.id, path: at, message: p.message, expected: p.expected, received: p.raw });
      }
    }
  }
}

/** The armor line of a private key: PGP, PEM (RSA, EC, PKCS#8, encrypted) or OpenSSH. */
const PRIVATE_KEY_BLOCK = /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----/;

const FREQUENCIES = ['once', 'minute', 'hour', 'day', 'week', 'month'];
const LOG_LEVELS = ['error', 'info', 'debug'];
const EMAILS = /^\s*[^\s@,]+@[^\s@,]+\s*(,\s*[^\s@,]+@[^\s@,]+\s*)*$/;

/** `yyyy-MM-dd`, then optionally `HH:mm`, `:ss`, a fraction and a zone (`Z`, `+02:00`, `-0500`). */
const SCHEDULE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?(?:\s*(Z|[+-]\d{2}:?\d{2}))?$/i;

/**
 * Parses a scheduling time: `yyyy-MM-dd HH:mm:ss` (UTC) or ISO-8601 (UTC unless it names a zone). Impossible
 * dates and times (month 13, 30 February, 25:61) are refused, not rolled over into another day.
 */
export function parseScheduleTime(value: string): Date | undefined {
  const m = SCHEDULE_TIME.exec(value.trim());
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6]].map((x) => Number(x ?? 0)) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const ms = Date.UTC(year, month - 1, day, hour, minute, second, Number(`0.${m[7] ?? 0}`) * 1000);
  const date = new Date(ms);
  // Date.UTC rolls over out-of-range parts; a time that does not read back unchanged did not exist.
  const exists =
    date.getUTCFullYear() === year &&
    date.getUTCMonth() === month - 1 &&
    date.getUTCDate() === day &&
    date.getUTCHours() === hour &&
    date.getUTCMinutes() === minute &&
    date.getUTCSeconds() === second;
  if (!exists) return undefined;
  const zone = m[8]?.toUpperCase();
  if (zone === undefined || zone === 'Z') return date;
  const [, sign, zh, zm] = /^([+-])(\d{2}):?(\d{2})$/.exec(zone) as unknown as [string, string, string, string];
  if (Number(zh) > 23 || Number(zm) > 59) return undefined;
  return new Date(ms - (sign === '-' ? -1 : 1) * (Number(zh) * 60 + Number(zm)) * 60_000);
}

/** Checks the scheduling objects of a dataflow. */
export function validateSchedules(dataflow: Dataflow): Problem[] {
  const problems: Problem[] = [];
  const names = new Set<string>();
  dataflow.schedules.forEach((s, i) => {
    const path = `$.schedules[${i}]`;
    const add = (field: string, message: string, expected: string, received: unknown) =>
      problems.push({
        code: 'IDX_SCHEDULE_FIELD',
        severity: 'error',
        ...(dataflow.file ? { file: dataflow.file } : {}),
        path: `${path}.${field}`,
        message: `schedule ${JSON.stringify(s.name ?? i)}: ${message}`,
        expected,
        received: showValue(received),
      });
    if (typeof s.name !== 'string' || s.name === '') add('name', 'needs a name', 'a non-empty string', s.name);
    else if (names.has(s.name)) add('name', 'schedule names must be unique', 'a unique name', s.name);
    else names.add(s.name);
    if (!FREQUENCIES.includes(s.frequencyType as string)) {
      add('frequencyType', 'unknown frequency', `one of ${FREQUENCIES.join(', ')}`, s.frequencyType);
    }
    if (s.frequencyType !== 'once' && s.frequencyInterval !== undefined) {
      if (!Number.isInteger(s.frequencyInterval) || (s.frequencyInterval as number) < 1) {
        add('frequencyInterval', 'must be a positive whole number', 'an integer ≥ 1', s.frequencyInterval);
      }
    }
    if (s.nextJobStartTime !== undefined && s.nextJobStartTime !== null) {
      if (typeof s.nextJobStartTime !== 'string' || !parseScheduleTime(s.nextJobStartTime)) {
        add(
          'nextJobStartTime',
          'is not a time that exists',
          '"yyyy-MM-dd HH:mm:ss" (UTC) or ISO-8601, with a real date and time',
          s.nextJobStartTime,
        );
      }
    }
    if (s.logLevel !== undefined && !LOG_LEVELS.includes(s.logLevel as string)) {
      add('logLevel', 'unknown log level', LOG_LEVELS.join(', '), s.logLevel);
    }
    if (s.limit !== undefined && s.limit !== null && (!Number.isInteger(s.limit) || (s.limit as number) < 1)) {
      add('limit', 'must be a positive whole number or null', 'an integer ≥ 1 or null', s.limit);
    }
    for (const f of ['fullExtract', 'enabled'] as const) {
      if (s[f] !== undefined && typeof s[f] !== 'boolean') add(f, 'must be true or false', 'a boolean', s[f]);
    }
    for (const f of ['successEmailNotification', 'failureEmailNotification'] as const) {
      const v = s[f];
      if (v !== undefined && v !== null && v !== '' && (typeof v !== 'string' || !EMAILS.test(v))) {
        add(f, 'must be comma-separated email addresses', 'a@example.com,b@example.com', v);
      }
    }
  });
  return problems;
}
