import { defineScript } from '../core/script.ts';
import { getPath, hasPath, setPath } from './util/paths.ts';

/** `field.array.join`: turns an array field into one text field. */
export const fieldArrayJoin = defineScript({
  type: 'field.array.join',
  summary: 'Joins the elements of an array field into one text value (e.g. emails → "a@x.com,b@y.com").',
  description:
    'Text elements are joined as they are, numbers and booleans as text, objects and arrays as JSON, null as ' +
    'an empty element. A value that is not an array is left unchanged; an empty array becomes an empty string.',
  consumes: 'records',
  produces: 'records',
  params: {
    field: { type: 'string', required: true, description: 'Path of the array field.', examples: ['loginIDs.emails'] },
    separator: { type: 'string', default: ',', description: 'Text put between two elements.' },
    targetField: {
      type: 'string',
      description: 'Where to write the joined text. Default: replace the array field itself.',
    },
  },
  lanes: { records: true },
  create(params) {
    const { field, separator } = params;
    const target = params.targetField ?? field;
    const text = (v: unknown) =>
      typeof v === 'string'
        ? v
        : v === null || v === undefined
          ? ''
          : typeof v === 'object'
            ? JSON.stringify(v)
            : String(v);
    return {
      records(batch, out) {
        for (const record of batch) {
          if (hasPath(record, field)) {
            const value = getPath(record, field);
            if (Array.isArray(value)) setPath(record, target, value.map(text).join(separator));
          }
          out.emit(record);
        }
      },
    };
  },
});
