import { type DataRecord, defineScript } from '../core/script.ts';
import { getPath, hasPath, setPath, splitPath } from './util/paths.ts';

/** `field.array.extract`: one record per array element. */
export const fieldArrayExtract = defineScript({
  type: 'field.array.extract',
  summary: 'Explodes an array field into one record per element, copying chosen parent fields into each.',
  description:
    'An element that is an object becomes the record (its fields at the top level); any other element becomes ' +
    '`{"<last part of the field path>": element}`. The propagation fields are then copied from the parent (they ' +
    'win over an element field of the same name). A record whose array is missing or empty yields no record and ' +
    'is counted as dropped; a record whose field holds something other than an array is rejected.',
  consumes: 'records',
  produces: 'records',
  expands: true,
  params: {
    field: { type: 'string', required: true, description: 'Path of the array field.', examples: ['achievements'] },
    propagationFields: {
      type: 'array',
      default: [],
      description: 'Paths of parent fields copied into every extracted record (e.g. the UID).',
      items: { type: 'string', description: 'A field name or dotted path.' },
    },
    generateKey: {
      type: 'boolean',
      default: false,
      description:
        'Add `_key` to every extracted record: the propagation field values and the element index joined by "_" ' +
        '(e.g. `uid123_0`), unique per parent as long as the propagation fields identify the parent.',
    },
  },
  create(params) {
    const { field, propagationFields, generateKey } = params;
    const parts = splitPath(field);
    const leaf = parts[parts.length - 1] ?? field;
    return {
      records(batch, out) {
        for (const record of batch) {
          const value = hasPath(record, field) ? getPath(record, field) : undefined;
          if (value === undefined || value === null || (Array.isArray(value) && value.length === 0)) {
            out.drop(record);
            continue;
          }
          if (!Array.isArray(value)) {
            out.reject(record, {
              code: 'IDX_NOT_AN_ARRAY',
              message: `field "${field}" holds ${typeof value === 'object' ? 'an object' : `a ${typeof value}`}, not an array`,
              field,
            });
            continue;
          }
          const inherited = propagationFields.map((p) => [p, getPath(record, p)] as const);
          const prefix = inherited.map(([, v]) => (v === undefined || v === null ? '' : String(v))).join('_');
          value.forEach((element, i) => {
            const extracted: DataRecord =
              element !== null && typeof element === 'object' && !Array.isArray(element)
                ? { ...(element as DataRecord) }
                : { [leaf]: element };
            for (const [p, v] of inherited) {
              if (v !== undefined) setPath(extracted, p, v !== null && typeof v === 'object' ? structuredClone(v) : v);
            }
            if (generateKey) extracted._key = prefix ? `${prefix}_${i}` : String(i);
            out.emit(extracted);
          });
        }
      },
    };
  },
});
