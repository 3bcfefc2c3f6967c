import { defineScript } from '../core/script.ts';
import { getPath, hasPath, setPath } from './util/paths.ts';

/** `field.copy`: copies field values to other fields. */
export const fieldCopy = defineScript({
  type: 'field.copy',
  summary: 'Copies field values to other fields; dotted paths work in both directions.',
  description:
    'Copies are made in the order listed, so a later pair can copy what an earlier one wrote. Objects and arrays ' +
    'are copied deeply: changing the copy later never changes the source. A source that is absent creates no ' +
    'target; an existing target is overwritten.',
  consumes: 'records',
  produces: 'records',
  params: {
    fields: {
      type: 'array',
      required: true,
      minItems: 1,
      description: 'Pairs of source and target paths.',
      items: {
        type: 'object',
        description: 'One copy.',
        properties: {
          sourceField: { type: 'string', required: true, description: 'Path of the field to copy.' },
          targetField: { type: 'string', required: true, description: 'Path to copy it to; parents are created.' },
        },
      },
    },
  },
  lanes: { records: true },
  create(params) {
    const pairs = params.fields.map((f) => [f.sourceField, f.targetField] as const);
    return {
      records(batch, out) {
        for (const record of batch) {
          for (const [from, to] of pairs) {
            if (from === to || !hasPath(record, from)) continue;
            const value = getPath(record, from);
            setPath(record, to, value !== null && typeof value === 'object' ? structuredClone(value) : value);
          }
          out.emit(record);
        }
      },
    };
  },
});
