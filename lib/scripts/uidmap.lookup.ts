import { defineScript } from '../core/script.ts';
import { UidMapStore } from '../stores/uidmap.ts';
import { getPath, setPath } from './util/paths.ts';

/** `uidmap.lookup`: fills the UID from the UID map by an external key. */
export const uidmapLookup = defineScript({
  type: 'uidmap.lookup',
  summary: 'Fills the UID of each record from the UID map by keyField; a record with no match goes to the error path.',
  description:
    'An identity-sync extension (not an IdentitySync component), the counterpart of `uidmap.write`. Records that already ' +
    'carry a UID pass on untouched unless `overwrite` is set. Lookups are batched (100 keys per request).',
  consumes: 'records',
  produces: 'records',
  params: {
    namespace: {
      type: 'string',
      default: 'default',
      description: 'The namespace `uidmap.write` stored the mappings under.',
    },
    keyField: {
      type: 'string',
      required: true,
      description: 'Path of the external key in the record, e.g. `C_EmailAddress`.',
    },
    uidField: {
      type: 'string',
      default: 'UID',
      description: 'Path the UID is written to (and read from, to skip records that have one).',
    },
    isCaseSensitive: { type: 'boolean', default: false, description: 'Must match the setting `uidmap.write` used.' },
    overwrite: {
      type: 'boolean',
      default: false,
      description: 'Look up records that already have a UID too, replacing it.',
    },
  },
  create(params, ctx) {
    const store = new UidMapStore(ctx.services.dynamo, ctx.services.config.tables.uidMap);
    const keyOf = (record: Record<string, unknown>): string | undefined => {
      const v = getPath(record, params.keyField);
      if ((typeof v !== 'string' && typeof v !== 'number') || String(v).trim() === '') return undefined;
      const k = String(v).trim();
      return params.isCaseSensitive ? k : k.toLowerCase();
    };
    const hasUid = (record: Record<string, unknown>) => {
      const uid = getPath(record, params.uidField);
      return typeof uid === 'string' && uid !== '';
    };
    return {
      async records(batch, out) {
        const wanted = batch
          .filter((r) => params.overwrite || !hasUid(r))
          .map(keyOf)
          .filter((k): k is string => k !== undefined);
        const found = await store.get(params.namespace, wanted);
        for (const record of batch) {
          if (!params.overwrite && hasUid(record)) {
            out.emit(record);
            continue;
          }
          const key = keyOf(record);
          const uid = key === undefined ? undefined : found.get(key);
          if (uid === undefined) {
            out.reject(record, {
              code: 'IDX_UIDMAP_NO_MATCH',
              message:
                key === undefined
                  ? `record has no ${params.keyField} to look up`
                  : `no UID mapped to ${params.keyField} "${key}" in namespace "${params.namespace}"`,
            });
          } else {
            setPath(record, params.uidField, uid);
            out.emit(record);
          }
        }
      },
    };
  },
});
