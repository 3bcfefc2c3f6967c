import { type DataRecord, defineScript } from '../core/script.ts';

/** `field.move`: changes the order of fields (the column order of a file written later). */
export const fieldMove = defineScript({
  type: 'field.move',
  summary: 'Reorders fields: moves the listed fields, in the order listed, right after the `after` field.',
  description:
    'Order matters for files: file.format.dsv takes its columns from the first record. Fields are top-level ' +
    'names (a flat name may contain dots). Without `after` the fields move to the front; when the `after` field ' +
    'is absent from a record they move to the end. Listed fields a record lacks are skipped; values are never ' +
    'changed.',
  consumes: 'records',
  produces: 'records',
  params: {
    fields: {
      type: 'array',
      required: true,
      minItems: 1,
      description: 'The fields to move, in the order they should end up.',
      items: { type: 'string', description: 'A top-level field name.' },
    },
    after: {
      type: 'string',
      description: 'The field the moved fields follow. Default: none, i.e. the moved fields come first.',
    },
  },
  lanes: { records: true },
  create(params) {
    const moved = [...params.fields];
    const movedSet = new Set(moved);
    const after = params.after;
    return {
      records(batch, out) {
        for (const record of batch) {
          const result: DataRecord = {};
          const place = () => {
            for (const k of moved) if (Object.hasOwn(record, k)) result[k] = record[k];
          };
          const anchored = after !== undefined && after !== '' && Object.hasOwn(record, after) && !movedSet.has(after);
          if (!anchored && (after === undefined || after === '')) place();
          for (const k of Object.keys(record)) {
            if (movedSet.has(k)) continue;
            result[k] = record[k];
            if (anchored && k === after) place();
          }
          if (!anchored && after !== undefined && after !== '') place();
          out.emit(result);
        }
      },
    };
  },
});
