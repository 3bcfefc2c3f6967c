/**
 * What the audience formats (Krux, Adobe Audience Manager) share: one line per user, a user ID and the user's
 * attributes, written into one file across the step's invocations; and how a record's fields become attributes.
 */
import type { DataRecord, RecordError, ScriptContext, ScriptInstance, StepOutput } from '../../core/script.ts';
import { CoalescingWriter } from './io.ts';
import { getPath } from './paths.ts';

/** What a user-lines formatter keeps from one invocation of its step to the next. */
interface UserLinesState {
  /** Files started so far; the last one is continued under its name by the next invocation. */
  readonly parts: number;
  /** Bytes in the last file started (for the size limit). */
  readonly bytes: number;
  readonly written: number;
  readonly changed: number;
}

/** A line of a record, or why it is not written. */
export type UserLine =
  | { readonly line: string; readonly changed: number }
  | { readonly error: RecordError }
  | { readonly empty: string };

/**
 * The instance of a formatter that writes each record as one line of one file: `line` makes the line (with the
 * number of values it had to change to fit the format, counted in the trace), or the error that rejects the
 * record, or why the record has nothing to write (it is then dropped, counted). The file is created on the first
 * line, or at the end when `createEmptyFile` is set and no line came. With `split`, a line that would take a file
 * past `maxBytes` starts the next one (a file always holds at least one line), each named by `partName`.
 */
export function userLinesInstance(
  ctx: ScriptContext,
  options: {
    readonly fileName: string;
    readonly createEmptyFile: boolean;
    readonly line: (record: DataRecord) => UserLine;
    /** What a changed value is, for the trace. */
    readonly changes: string;
    readonly split?: { readonly maxBytes: number; readonly partName: (n: number) => string };
  },
): ScriptInstance {
  const kept = ctx.continuation as UserLinesState | undefined;
  let parts = kept?.parts ?? 0;
  let bytes = kept?.bytes ?? 0;
  let written = kept?.written ?? 0;
  let changed = kept?.changed ?? 0;
  const { split } = options;
  const name = (n: number) => (split ? split.partName(n) : options.fileName);
  let file: CoalescingWriter | undefined;
  /** Opens the next file, or (`fresh` false) the piece of this invocation of the file started before. */
  const open = (out: StepOutput, fresh: boolean) => {
    if (fresh) {
      parts++;
      bytes = 0;
    }
    file = new CoalescingWriter(out.createFile(name(parts)));
    return file;
  };
  let dropped = 0;
  return {
    async records(batch, out) {
      for (const record of batch) {
        const made = options.line(record);
        if ('error' in made) {
          out.reject(record, made.error);
          continue;
        }
        if ('empty' in made) {
          if (dropped++ < 5) ctx.log.info(`a record is not written: ${made.empty}`);
          out.drop(record);
          continue;
        }
        changed += made.changed;
        written++;
        const size = split ? Buffer.byteLength(made.line) : 0;
        const full = split !== undefined && parts > 0 && bytes > 0 && bytes + size > split.maxBytes;
        if (full) await file?.end();
        const w = full ? open(out, true) : (file ?? open(out, parts === 0));
        bytes += size;
        if (w.add(made.line)) await w.spill();
      }
    },
    async end(out, { final }) {
      if (final && parts === 0 && options.createEmptyFile) open(out, true);
      if (file) await file.end();
      file = undefined;
      if (!final) {
        const state: UserLinesState = { parts, bytes, written, changed };
        return { continuation: state };
      }
      if (changed) ctx.log.warn(`${changed} ${options.changes}`);
      if (dropped) ctx.log.info(`${dropped} record(s) with nothing to write were dropped in the last invocation`);
      ctx.log.info(`${written} record(s) written to ${parts === 1 ? name(1) : `${parts} files`}`);
      return undefined;
    },
    close() {
      file?.target.destroy();
    },
  };
}

/**
 * The attributes of a record, every field but the user ID: a nested object's fields under their dotted path
 * (`profile.city`), an array's elements as several values of one attribute (objects in it by the dotted paths of
 * their fields), in the order the fields come; null, missing and empty values are left out.
 */
function userAttributes(record: DataRecord, idField: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const collect = (name: string, value: unknown) => {
    if (value === null || value === undefined) return;
    if (Array.isArray(value)) {
      for (const v of value) collect(name, v);
      return;
    }
    if (typeof value === 'object') {
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) collect(name ? `${name}.${k}` : k, v);
      return;
    }
    const text = String(value);
    if (text === '') return;
    const values = out.get(name);
    if (values) values.push(text);
    else out.set(name, [text]);
  };
  for (const [key, value] of Object.entries(record)) if (key !== idField) collect(key, value);
  return out;
}

/** The user ID of a record as text, or why there is none (missing, empty, or not a single value). */
function userId(record: DataRecord, idField: string): string | RecordError {
  const value = idField in record ? record[idField] : getPath(record, idField);
  if (value === undefined || value === null || value === '') {
    return { code: 'IDX_FORMAT_USER_ID', message: `the record has no user ID in field "${idField}"`, field: idField };
  }
  if (typeof value === 'object') {
    return {
      code: 'IDX_FORMAT_USER_ID',
      message: `field "${idField}" holds ${Array.isArray(value) ? 'an array' : 'an object'}, not a user ID`,
      field: idField,
    };
  }
  return String(value);
}

/** Replaces every character of `forbidden` (a global regex) in `text` with a space, counting the replacements. */
function fitText(text: string, forbidden: RegExp): { text: string; changed: boolean } {
  forbidden.lastIndex = 0;
  if (!forbidden.test(text)) return { text, changed: false };
  forbidden.lastIndex = 0;
  return { text: text.replace(forbidden, ' '), changed: true };
}

/**
 * How a user-lines formatter writes fragments in lanes (its `lanes.fragments`): each line stands alone and the
 * file has nothing written once (no header), so fragments formatted apart join into the file.
 */
export function userLinesFragments<P extends { readonly createEmptyFile: boolean }>(
  params: P,
): { readonly head: P; readonly body: P; readonly emptyFile: boolean } {
  return {
    head: { ...params, createEmptyFile: true },
    body: { ...params, createEmptyFile: false },
    emptyFile: params.createEmptyFile,
  };
}

/** What differs between the user-lines formats. */
export interface UserLineFormat {
  readonly idField: string;
  /** Characters (or sequences) a user ID may not hold. */
  readonly idForbidden: RegExp;
  /** What the format refuses in a user ID, for the error. */
  readonly idRefused: string;
  /** Characters replaced by a space in attribute names and values (a global regex). */
  readonly special: RegExp;
  /** Checks a value before it is fitted; an error rejects the record. */
  readonly checkValue?: (name: string, value: string) => RecordError | undefined;
  /** The line of a user, from the ID and the fitted attributes; or why the user has nothing to write. */
  readonly line: (
    id: string,
    attributes: readonly (readonly [string, readonly string[]])[],
  ) => string | { empty: string };
}

/** The line of a record in a user-lines format (see {@link userLinesInstance}). */
export function userLine(record: DataRecord, format: UserLineFormat): UserLine {
  const id = userId(record, format.idField);
  if (typeof id !== 'string') return { error: id };
  if (format.idForbidden.test(id)) {
    return {
      error: {
        code: 'IDX_FORMAT_USER_ID',
        message: `the user ID in "${format.idField}" holds ${format.idRefused}`,
        field: format.idField,
      },
    };
  }
  let changed = 0;
  const attributes: [string, string[]][] = [];
  for (const [name, values] of userAttributes(record, format.idField)) {
    const key = fitText(name, format.special);
    if (key.changed) changed++;
    const texts: string[] = [];
    for (const value of values) {
      const error = format.checkValue?.(name, value);
      if (error) return { error };
      const fit = fitText(value, format.special);
      if (fit.changed) changed++;
      texts.push(fit.text);
    }
    attributes.push([key.text, texts]);
  }
  const line = format.line(id, attributes);
  return typeof line === 'string' ? { line, changed } : line;
}
