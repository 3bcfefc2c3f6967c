import { showValue } from '../core/errors.ts';
import { LinearRegex, regexProblem } from '../core/regex.ts';
import { defineScript, type ScriptCheckProblem } from '../core/script.ts';
import { getPath, hasPath, setPath } from './util/paths.ts';

/** Expands a replacement template for one match: `$1`, `${name}`, `$<name>`, `$&`, `$$`, and `\x` for x. */
function expand(
  template: string,
  match: string,
  groups: (string | undefined)[],
  named: Record<string, string> | undefined,
): string {
  let out = '';
  for (let i = 0; i < template.length; i++) {
    const c = template[i]!;
    if (c === '\\' && i + 1 < template.length) {
      out += template[++i];
    } else if (c === '$' && i + 1 < template.length) {
      const next = template[i + 1]!;
      if (next === '$') {
        out += '$';
        i++;
      } else if (next === '&') {
        out += match;
        i++;
      } else if (next === '{' || next === '<') {
        const close = template.indexOf(next === '{' ? '}' : '>', i + 2);
        if (close === -1) {
          out += c;
          continue;
        }
        const name = template.slice(i + 2, close);
        out += /^\d+$/.test(name) ? (groups[Number(name) - 1] ?? '') : (named?.[name] ?? '');
        i = close;
      } else if (next >= '0' && next <= '9') {
        let j = i + 1;
        while (
          j < template.length &&
          template[j]! >= '0' &&
          template[j]! <= '9' &&
          Number(template.slice(i + 1, j + 1)) <= groups.length
        )
          j++;
        const n = Number(template.slice(i + 1, j));
        out += n >= 1 && n <= groups.length ? (groups[n - 1] ?? '') : template.slice(i, j);
        i = j - 1;
      } else out += c;
    } else out += c;
  }
  return out;
}

/** One compiled rule. */
interface Rule {
  readonly field: string;
  readonly apply: (text: string) => string;
}

/**
 * Compiles a rule in the linear-time engine (RE2, in unicode mode, so `\p{L}` and astral characters work and the
 * Java identity escapes such as `\-` are accepted): no value can make a pattern backtrack for minutes.
 */
function compile(regex: string, replacement: string): (text: string) => string {
  const re = new LinearRegex(regex);
  const plain = !/[$\\]/.test(replacement);
  return (text) =>
    re.replace(text, (match, groups) => {
      // A zero-length match is not replaced: an empty alternative such as "(||)" would otherwise put the
      // replacement between every two characters.
      if (match === '') return '';
      if (plain) return replacement;
      return expand(replacement, match, groups.numbered as (string | undefined)[], groups.named);
    });
}

/** Applies `fn` to every string inside a value (objects and arrays are walked in place). */
function everyString(value: unknown, fn: (text: string) => string): unknown {
  if (typeof value === 'string') return fn(value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = everyString(value[i], fn);
    return value;
  }
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    for (const k of Object.keys(obj)) obj[k] = everyString(obj[k], fn);
  }
  return value;
}

/** `field.replace`: regular-expression replacement inside values. */
export const fieldReplace = defineScript({
  type: 'field.replace',
  summary: 'Replaces what a regular expression matches inside field values; field "*" means every text value.',
  description:
    'Every match is replaced (not only the first). Rules run in the order listed. Only text values change: ' +
    'numbers, booleans and null are left alone; with "*" the values inside nested objects and arrays are ' +
    'included. The regular expression is JavaScript syntax (the usual Java syntax works: classes, groups, ' +
    '\\x escapes, \\p{…}). Patterns run in a linear-time engine (RE2), so no value can make one backtrack for ' +
    'long; backreferences, lookahead and lookbehind, atomic groups and possessive quantifiers are therefore ' +
    'refused at validation with IDX_REGEX_UNSUPPORTED. A zero-length match is not replaced, so a stray empty alternative ' +
    'such as `(||)` in a published template does not insert the replacement between every two characters.',
  consumes: 'records',
  produces: 'records',
  params: {
    fields: {
      type: 'array',
      required: true,
      minItems: 1,
      description: 'The replacement rules.',
      items: {
        type: 'object',
        description: 'One rule.',
        properties: {
          field: { type: 'string', required: true, description: 'Path of the field, or "*" for every text value.' },
          regex: { type: 'string', required: true, verbatim: true, description: 'The regular expression to find.' },
          replacement: {
            type: 'string',
            default: '',
            verbatim: true,
            description:
              'The text put in place of each match; `$1` or `${name}` insert a group, `$&` the whole match, ' +
              '`$$` or `\\$` a dollar sign.',
          },
        },
      },
    },
  },
  lanes: { records: true },
  check(params) {
    const problems: ScriptCheckProblem[] = [];
    params.fields.forEach((f, i) => {
      const problem = regexProblem(f.regex);
      if (problem) {
        problems.push({
          code: problem.code,
          path: `fields[${i}].regex`,
          message: `the regular expression for "${f.field}" cannot be used: ${problem.message}`,
          expected: 'a regular expression RE2 runs: no backreferences, lookaround or possessive quantifiers',
          received: showValue(f.regex, 200),
        });
      }
    });
    return problems;
  },
  create(params) {
    const rules: Rule[] = params.fields.map((f) => ({ field: f.field, apply: compile(f.regex, f.replacement) }));
    return {
      records(batch, out) {
        for (const record of batch) {
          for (const rule of rules) {
            if (rule.field === '*') everyString(record, rule.apply);
            else if (hasPath(record, rule.field)) {
              const value = getPath(record, rule.field);
              if (typeof value === 'string') setPath(record, rule.field, rule.apply(value));
            }
          }
          out.emit(record);
        }
      },
    };
  },
});
