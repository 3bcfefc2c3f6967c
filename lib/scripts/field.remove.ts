import { defineScript } from '../core/script.ts';
import { deletePath } from './util/paths.ts';

/** `field.remove`: deletes fields or whole sub-objects. */
export const fieldRemove = defineScript({
  type: 'field.remove',
  summary: 'Deletes fields or whole sub-objects by dotted path.',
  description: 'A path that is absent is ignored. Removing `profile` drops the whole nested object.',
  consumes: 'records',
  produces: 'records',
  params: {
    fields: {
      type: 'array',
      required: true,
      description: 'Paths to delete.',
      items: { type: 'string', description: 'A dotted path.' },
    },
  },
  lanes: { records: true },
  create(params) {
    const paths = [...params.fields];
    return {
      records(batch, out) {
        for (const record of batch) {
          for (const p of paths) deletePath(record, p);
          out.emit(record);
        }
      },
    };
  },
});
