import { defineScript } from './types.ts';
import { deletePath, getPath, hasPath, setPath } from './util/paths.ts';

/** `field.rename`: renames or moves fields, nested paths in both directions. */
export const fieldRename = defineScript({
  type: 'field.rename',
  summary: 'Renames or moves fields; dotted paths work in both directions (profile.email → MAIL, COL → data.x.y).',
  description:
    'Fields are renamed in the order listed. A source field that is absent leaves the record unchanged for that ' +
    'pair (no target is created). Emptied parent objects are kept; follow with field.remove to drop them, as the ' +
    'IdentitySync templates do.',
  consumes: 'records',
  produces: 'records',
  params: {
    fields: {
      type: 'array',
      required: true,
      description: 'Pairs of source and target paths.',
      items: {
        type: 'object',
        description: 'One rename.',
        properties: {
          sourceField: { type: 'string', required: true, description: 'Path of the field to rename.' },
          targetField: { type: 'string', required: true, description: 'New path; intermediate objects are created.' },
        },
      },
    },
  },
  create(params) {
    const pairs = params.fields.map((f) => [f.sourceField, f.targetField] as const);
    return {
      records(batch, out) {
        for (const record of batch) {
          for (const [from, to] of pairs) {
            if (from === to || !hasPath(record, from)) continue;
            const value = getPath(record, from);
            deletePath(record, from);
            setPath(record, to, value);
          }
          out.emit(record);
        }
      },
    };
  },
});
