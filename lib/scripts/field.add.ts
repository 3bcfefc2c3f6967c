import { IdxError } from '../core/errors.ts';
import { defineScript, type ScriptCheckProblem } from '../core/script.ts';
import { setPath } from './util/paths.ts';

type ValueType = 'string' | 'number' | 'boolean' | 'json';

function convert(value: string, type: ValueType): unknown {
  switch (type) {
    case 'string':
      return value;
    case 'number': {
      const n = Number(value);
      if (value.trim() === '' || !Number.isFinite(n)) throw new Error(`"${value}" is not a number`);
      return n;
    }
    case 'boolean':
      if (value === 'true') return true;
      if (value === 'false') return false;
      throw new Error(`"${value}" is not true or false`);
    case 'json':
      return JSON.parse(value);
  }
}

/** `field.add`: adds constant or placeholder fields. */
export const fieldAdd = defineScript({
  type: 'field.add',
  summary: 'Adds fields with constant values or job placeholders (e.g. data.idxImportId = ${jobId}).',
  description:
    'Placeholders (${jobId}, ${now}, ${now:yyyy-MM-dd}, ${dataflowId}, ${apiKey}) are rendered once per job, so ' +
    'every record of a run gets the same value. An existing field is overwritten; parents of a dotted path are ' +
    'created.',
  consumes: 'records',
  produces: 'records',
  params: {
    fields: {
      type: 'array',
      required: true,
      minItems: 1,
      description: 'The fields to add.',
      items: {
        type: 'object',
        description: 'One field.',
        properties: {
          field: { type: 'string', required: true, description: 'Path of the field to set.' },
          value: { type: 'string', required: true, description: 'The value; placeholders are rendered.' },
          type: {
            type: 'string',
            enum: ['string', 'number', 'boolean', 'json'],
            default: 'string',
            description:
              'How the value is stored: as text, or converted to a number, a boolean (`true`/`false`), or any ' +
              'JSON value (`{"a":1}`, `[1,2]`, `null`).',
          },
        },
      },
    },
  },
  lanes: { records: true },
  check(params) {
    const problems: ScriptCheckProblem[] = [];
    params.fields.forEach((f, i) => {
      const type = f.type ?? 'string';
      // Values with placeholders are only known at run time.
      if (type === 'string' || f.value.includes('${')) return;
      try {
        convert(f.value, type);
      } catch (error) {
        problems.push({
          code: 'IDX_PARAM_VALUE',
          path: `fields[${i}].value`,
          message: `value of "${f.field}" cannot be read as ${type}: ${(error as Error).message}`,
          expected: `a ${type} value`,
          received: JSON.stringify(f.value),
        });
      }
    });
    return problems;
  },
  create(params, ctx) {
    const values = params.fields.map((f, i) => {
      try {
        return [f.field, convert(f.value, f.type)] as const;
      } catch (error) {
        throw new IdxError(
          'IDX_PARAM_VALUE',
          `value of "${f.field}" cannot be read as ${f.type}: ${(error as Error).message}`,
          {
            stepId: ctx.stepId,
            param: `fields[${i}].value`,
            expected: `a ${f.type} value`,
            received: JSON.stringify(f.value),
          },
        );
      }
    });
    return {
      records(batch, out) {
        for (const record of batch) {
          for (const [field, value] of values) {
            setPath(record, field, value !== null && typeof value === 'object' ? structuredClone(value) : value);
          }
          out.emit(record);
        }
      },
    };
  },
});
