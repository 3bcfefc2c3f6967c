import { type DataRecord, defineScript } from '../core/script.ts';
import { deletePath, getPath, hasPath } from './util/paths.ts';

type Arrays = 'index' | 'json' | 'keep';

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Writes the flat entries of `value` under `prefix` into `into`. */
function flattenInto(into: DataRecord, prefix: string, value: unknown, delimiter: string, arrays: Arrays): void {
  if (Array.isArray(value)) {
    if (arrays === 'json') into[prefix] = JSON.stringify(value);
    else if (arrays === 'keep' || value.length === 0) into[prefix] = value;
    else
      for (let i = 0; i < value.length; i++)
        flattenInto(into, `${prefix}${delimiter}${i}`, value[i], delimiter, arrays);
    return;
  }
  if (isPlainObject(value)) {
    const keys = Object.keys(value);
    if (keys.length === 0) {
      into[prefix] = value;
      return;
    }
    for (const k of keys) flattenInto(into, `${prefix}${delimiter}${k}`, value[k], delimiter, arrays);
    return;
  }
  into[prefix] = value;
}

/** `field.flatten`: turns nested objects into flat keys. */
export const fieldFlatten = defineScript({
  type: 'field.flatten',
  summary: 'Turns nested objects into flat keys joined by the delimiter (profile.city, phones.0.number).',
  description:
    'Without `fields`, every nested object of the record is flattened and the flat keys take the place of the ' +
    'object they came from. With `fields`, only those objects are flattened, and their flat keys (full paths, ' +
    'e.g. `profile.education.0.school`) are added at the end of the record. Arrays follow `arrays`. An empty ' +
    'object or array stays as it is under its flat key. Values themselves never change.',
  consumes: 'records',
  produces: 'records',
  params: {
    fields: {
      type: 'array',
      description: 'Paths of the objects to flatten. Default: all of them.',
      items: { type: 'string', description: 'A field name or dotted path.' },
      examples: [['profile']],
    },
    delimiter: {
      type: 'string',
      default: '.',
      description: 'Joins the parts of a flat key.',
    },
    arrays: {
      type: 'string',
      enum: ['index', 'json', 'keep'],
      default: 'index',
      description:
        'How arrays are flattened: "index" gives one key per element (`phones.0.number`, the layout the ' +
        'IdentitySync import templates read back), "json" one key holding the array as JSON text, "keep" one ' +
        'key holding the array as it is.',
    },
  },
  lanes: { records: true },
  create(params) {
    const { delimiter } = params;
    const arrays = params.arrays;
    const fields = params.fields;
    return {
      records(batch, out) {
        for (const record of batch) {
          if (!fields) {
            let nested = false;
            for (const k in record) {
              const v = record[k];
              if (typeof v === 'object' && v !== null && (arrays === 'index' || !Array.isArray(v))) {
                nested = true;
                break;
              }
            }
            if (!nested) {
              out.emit(record);
              continue;
            }
            const flat: DataRecord = {};
            for (const k of Object.keys(record)) flattenInto(flat, k, record[k], delimiter, arrays);
            out.emit(flat);
            continue;
          }
          for (const path of fields) {
            if (Object.hasOwn(record, path) && !path.includes('.')) {
              const v = record[path];
              if (typeof v !== 'object' || v === null) continue;
              delete record[path];
              flattenInto(record, path, v, delimiter, arrays);
            } else if (hasPath(record, path)) {
              const v = getPath(record, path);
              if (typeof v !== 'object' || v === null) continue;
              deletePath(record, path);
              flattenInto(record, path, v, delimiter, arrays);
            }
          }
          out.emit(record);
        }
      },
    };
  },
});
