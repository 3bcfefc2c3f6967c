import { defineScript, type ScriptCheckProblem } from '../core/script.ts';
import { formatDate } from '../dataflow/placeholders.ts';
import { checkDatePattern, dateParser, NAMED_FORMATS } from './util/dates.ts';
import { getPath, hasPath, setPath } from './util/paths.ts';

const FORMAT_HELP =
  '"iso" (2024-03-01T10:11:12.000Z; a date alone or an offset such as +02:00 is read too), "epochMillis", ' +
  '"epochSeconds", or a Java-style pattern with y M d H h m s S a and \'quoted text\' (e.g. "dd/MM/yyyy HH:mm")';

function writer(format: string): (ms: number) => unknown {
  if (format === 'iso') return (ms) => new Date(ms).toISOString();
  if (format === 'epochMillis') return (ms) => ms;
  if (format === 'epochSeconds') return (ms) => Math.floor(ms / 1000);
  return (ms) => formatDate(new Date(ms), format);
}

/** `field.date.format`: converts dates from one format to another. */
export const fieldDateFormat = defineScript({
  type: 'field.date.format',
  summary: 'Converts date fields from one format to another (ISO, epoch, or Java-style patterns); all in UTC.',
  description:
    'A value must match its input format exactly and name a real date (no 31 February); otherwise the record ' +
    'goes to the error path with the field and value named, never a guessed date. A field that is absent, null ' +
    'or an empty string is left as it is. Times without a zone are UTC; output is UTC.',
  consumes: 'records',
  produces: 'records',
  params: {
    fields: {
      type: 'array',
      required: true,
      minItems: 1,
      description: 'The fields to convert.',
      items: {
        type: 'object',
        description: 'One conversion.',
        properties: {
          field: { type: 'string', required: true, description: 'Path of the date field.' },
          inputFormat: { type: 'string', default: 'iso', description: `Format of the values read: ${FORMAT_HELP}.` },
          outputFormat: { type: 'string', required: true, description: `Format written: ${FORMAT_HELP}.` },
          targetField: { type: 'string', description: 'Where to write the result. Default: the field itself.' },
        },
      },
      examples: [[{ field: 'created', inputFormat: 'iso', outputFormat: 'yyyy-MM-dd' }]],
    },
  },
  lanes: { records: true },
  check(params) {
    const problems: ScriptCheckProblem[] = [];
    params.fields.forEach((f, i) => {
      for (const key of ['inputFormat', 'outputFormat'] as const) {
        const format = f[key] ?? 'iso';
        const bad = checkDatePattern(format);
        if (bad) {
          problems.push({
            code: 'IDX_DATE_PATTERN',
            path: `fields[${i}].${key}`,
            message: `date pattern letter "${bad}" is not supported`,
            expected: FORMAT_HELP,
            received: JSON.stringify(format),
          });
        }
      }
    });
    return problems;
  },
  create(params) {
    const rules = params.fields.map((f) => ({
      field: f.field,
      target: f.targetField ?? f.field,
      input: f.inputFormat,
      parse: dateParser(f.inputFormat),
      write: writer(f.outputFormat),
    }));
    return {
      records(batch, out) {
        next: for (const record of batch) {
          const results: [string, unknown][] = [];
          for (const rule of rules) {
            if (!hasPath(record, rule.field)) continue;
            const value = getPath(record, rule.field);
            if (value === null || value === undefined || value === '') continue;
            const ms = rule.parse(value);
            if (ms === undefined) {
              out.reject(record, {
                code: 'IDX_DATE_INVALID',
                message: `field "${rule.field}": ${JSON.stringify(value)} is not a date in the format ${(NAMED_FORMATS as readonly string[]).includes(rule.input) ? rule.input : `"${rule.input}"`}`,
                field: rule.field,
              });
              continue next;
            }
            results.push([rule.target, rule.write(ms)]);
          }
          for (const [target, v] of results) setPath(record, target, v);
          out.emit(record);
        }
      },
    };
  },
});
