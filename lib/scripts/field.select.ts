import { type DataRecord, defineScript } from '../core/script.ts';
import { getPath, hasPath, setPath } from './util/paths.ts';

/** `field.select`: keeps only the listed fields. */
export const fieldSelect = defineScript({
  type: 'field.select',
  summary: 'Keeps only the listed fields (dotted paths keep the nested value and its parents).',
  description:
    'The record is rebuilt with the listed fields in the order listed. `profile.email` keeps ' +
    '`{"profile": {"email": …}}`; a flat key that itself holds dots (a CSV header) is kept flat. A listed field ' +
    'that is absent is simply not there.',
  consumes: 'records',
  produces: 'records',
  params: {
    fields: {
      type: 'array',
      required: true,
      minItems: 1,
      description: 'Paths of the fields to keep.',
      items: { type: 'string', description: 'A field name or dotted path.' },
      examples: [['UID', 'status']],
    },
  },
  lanes: { records: true },
  create(params) {
    const paths = [...params.fields];
    const flat = paths.every((p) => !p.includes('.') && !p.startsWith("'"));
    return {
      records(batch, out) {
        for (const record of batch) {
          const kept: DataRecord = {};
          if (flat) {
            for (const p of paths) if (Object.hasOwn(record, p)) kept[p] = record[p];
          } else {
            for (const p of paths) {
              if (Object.hasOwn(record, p)) kept[p] = record[p];
              else if (hasPath(record, p)) setPath(kept, p, getPath(record, p));
            }
          }
          out.emit(kept);
        }
      },
    };
  },
});
