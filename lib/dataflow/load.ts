/**
 * Reads an IdentitySync dataflow object from JSON. Every known field is typed; every other field is kept in
 * `extra` (top level) or left on the step, so a console export loads unchanged. Shape problems are reported
 * all at once instead of stopping at the first.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { type IdxErrorCode, showValue } from '../core/errors.ts';
import { MAX_DATAFLOW_ID_BYTES, MAX_NESTING_DEPTH, tooDeepAt } from './limits.ts';
import type { Problem } from './problems.ts';
import type { Dataflow, Schedule, Step } from './types.ts';

const KNOWN_TOP = new Set(['id', 'name', 'description', 'steps', 'schedules', 'lastRuntime', 'apiKey']);
const KNOWN_STEP = new Set(['id', 'type', 'params', 'next', 'error']);

/** The result of loading: the dataflow when its shape allows one, and every problem found. */
export interface LoadResult {
  readonly dataflow?: Dataflow;
  readonly problems: Problem[];
}

/** Derives a dataflow id from a file name: `dataflows/eloqua-outbound.json` → `eloqua-outbound`. */
export function idFromFile(file: string): string {
  return (
    basename(file)
      .replace(/\.json$/i, '')
      .replace(/[^A-Za-z0-9-]+/g, '-')
      .replace(/^-+|-+$/g, '') || 'dataflow'
  );
}

/** Loads a dataflow from a file path. */
export function loadDataflowFile(file: string): LoadResult {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    return {
      problems: [
        {
          code: 'IDX_FILE_READ',
          severity: 'error',
          file,
          path: '$',
          message: `cannot read the dataflow file: ${(error as Error).message}`,
        },
      ],
    };
  }
  return parseDataflow(text, { file });
}

/** Parses dataflow JSON text. */
export function parseDataflow(text: string, options: { file?: string; id?: string } = {}): LoadResult {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return {
      problems: [
        {
          code: 'IDX_JSON_SYNTAX',
          severity: 'error',
          ...(options.file ? { file: options.file } : {}),
          path: '$',
          message: `the file is not valid JSON: ${(error as Error).message}`,
          expected: 'a JSON dataflow object',
        },
      ],
    };
  }
  return readDataflow(json, options);
}

/** Reads a parsed dataflow object. */
export function readDataflow(json: unknown, options: { file?: string; id?: string } = {}): LoadResult {
  const problems: Problem[] = [];
  const file = options.file;
  const at = (
    path: string,
    code: IdxErrorCode,
    message: string,
    expected: string,
    received: unknown,
    stepId?: string,
  ) =>
    problems.push({
      code,
      severity: 'error',
      ...(file ? { file } : {}),
      ...(stepId === undefined ? {} : { stepId }),
      path,
      message,
      expected,
      received: showValue(received),
    });

  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    at('$', 'IDX_DATAFLOW_SHAPE', 'a dataflow must be a JSON object', 'an object with name and steps', json);
    return { problems };
  }
  const deep = tooDeepAt(json, '$');
  if (deep !== undefined) {
    // Refused before anything reads it: every later reader of params walks them.
    problems.push({
      code: 'IDX_DATAFLOW_LIMIT',
      severity: 'error',
      ...(file ? { file } : {}),
      path: deep,
      message: `the dataflow nests objects and arrays more than ${MAX_NESTING_DEPTH} levels deep`,
      expected: `at most ${MAX_NESTING_DEPTH} levels of nesting`,
      received: `level ${MAX_NESTING_DEPTH + 1} at ${deep}`,
    });
    return { problems };
  }
  const obj = json as Record<string, unknown>;
  if (typeof obj.name !== 'string' || obj.name.trim() === '') {
    at('$.name', 'IDX_DATAFLOW_SHAPE', 'the dataflow needs a name', 'a non-empty string', obj.name);
  }
  if (obj.description !== undefined && typeof obj.description !== 'string') {
    at('$.description', 'IDX_DATAFLOW_SHAPE', 'description must be text', 'a string', obj.description);
  }
  if (obj.id !== undefined && (typeof obj.id !== 'string' || obj.id === '')) {
    at('$.id', 'IDX_DATAFLOW_SHAPE', 'id must be a non-empty string', 'a string', obj.id);
  } else if (typeof obj.id === 'string' && Buffer.byteLength(obj.id) > MAX_DATAFLOW_ID_BYTES) {
    at(
      '$.id',
      'IDX_DATAFLOW_LIMIT',
      `the dataflow id is ${Buffer.byteLength(obj.id)} bytes long; it is a DynamoDB partition key, which holds at most ${MAX_DATAFLOW_ID_BYTES}`,
      `an id of at most ${MAX_DATAFLOW_ID_BYTES} bytes (UTF-8)`,
      obj.id,
    );
  }
  if (
    obj.lastRuntime !== undefined &&
    (typeof obj.lastRuntime !== 'string' || Number.isNaN(Date.parse(obj.lastRuntime)))
  ) {
    at(
      '$.lastRuntime',
      'IDX_DATAFLOW_SHAPE',
      'lastRuntime must be an ISO-8601 time',
      'an ISO-8601 string',
      obj.lastRuntime,
    );
  }
  const steps: Step[] = [];
  if (!Array.isArray(obj.steps) || obj.steps.length === 0) {
    at('$.steps', 'IDX_DATAFLOW_SHAPE', 'the dataflow needs a non-empty steps array', 'an array of steps', obj.steps);
  } else {
    obj.steps.forEach((raw, i) => {
      const path = `$.steps[${i}]`;
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
        at(path, 'IDX_STEP_SHAPE', `step ${i} must be an object`, 'an object with id and type', raw);
        return;
      }
      const s = raw as Record<string, unknown>;
      const id = typeof s.id === 'string' && s.id !== '' ? s.id : undefined;
      if (id === undefined) at(`${path}.id`, 'IDX_STEP_SHAPE', `step ${i} needs an id`, 'a non-empty string', s.id);
      if (typeof s.type !== 'string' || s.type === '') {
        at(`${path}.type`, 'IDX_STEP_SHAPE', `step ${id ?? i} needs a type`, 'a component type string', s.type, id);
      }
      const params = s.params === undefined || s.params === null ? {} : s.params;
      if (typeof params !== 'object' || Array.isArray(params)) {
        at(`${path}.params`, 'IDX_STEP_SHAPE', 'params must be an object', 'an object', s.params, id);
      }
      const list = (key: 'next' | 'error'): string[] => {
        const v = s[key];
        if (v === undefined || v === null) return [];
        if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) {
          at(`${path}.${key}`, 'IDX_STEP_SHAPE', `${key} must be a list of step ids`, 'an array of strings', v, id);
          return [];
        }
        return v as string[];
      };
      const next = list('next');
      const error = list('error');
      for (const key of Object.keys(s)) {
        if (!KNOWN_STEP.has(key)) {
          problems.push({
            code: 'IDX_STEP_FIELD_UNKNOWN',
            severity: 'warning',
            ...(file ? { file } : {}),
            ...(id === undefined ? {} : { stepId: id }),
            path: `${path}.${key}`,
            message: `step field "${key}" is not part of the step object; it is kept but not used`,
            expected: 'id, type, params, next, error',
            received: JSON.stringify(key),
          });
        }
      }
      if (id !== undefined && typeof s.type === 'string' && s.type !== '') {
        steps.push({
          id,
          type: s.type,
          params: typeof params === 'object' && !Array.isArray(params) ? (params as Record<string, unknown>) : {},
          next,
          error,
        });
      }
    });
  }
  const schedules: Schedule[] = [];
  if (obj.schedules !== undefined) {
    if (!Array.isArray(obj.schedules)) {
      at(
        '$.schedules',
        'IDX_SCHEDULE_SHAPE',
        'schedules must be an array',
        'an array of scheduling objects',
        obj.schedules,
      );
    } else {
      obj.schedules.forEach((raw, i) => {
        if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
          at(`$.schedules[${i}]`, 'IDX_SCHEDULE_SHAPE', 'a schedule must be an object', 'a scheduling object', raw);
        } else schedules.push(raw as Schedule);
      });
    }
  }
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) if (!KNOWN_TOP.has(k)) extra[k] = v;
  if (problems.some((p) => p.code === 'IDX_DATAFLOW_SHAPE' && p.path === '$.steps')) return { problems };
  const dataflow: Dataflow = {
    id: typeof obj.id === 'string' && obj.id !== '' ? obj.id : (options.id ?? (file ? idFromFile(file) : 'dataflow')),
    name: typeof obj.name === 'string' ? obj.name : '',
    ...(typeof obj.description === 'string' ? { description: obj.description } : {}),
    steps,
    schedules,
    ...(typeof obj.lastRuntime === 'string' ? { lastRuntime: obj.lastRuntime } : {}),
    ...(typeof obj.apiKey === 'string' ? { apiKey: obj.apiKey } : {}),
    extra,
    ...(file ? { file } : {}),
  };
  return { dataflow, problems };
}
