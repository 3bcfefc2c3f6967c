import { type DataRecord, defineScript } from '../core/script.ts';
import { UidMapStore } from '../stores/uidmap.ts';
import { getPath } from './util/paths.ts';

/** The params that say which fields of a record map to which UID. */
interface MapParams {
  readonly keyField: string;
  readonly uidField: string;
  readonly isCaseSensitive: boolean;
}

/** The UID-map entry of a record, or undefined when it has no key or no UID. */
function entryOf(params: MapParams, record: DataRecord): { key: string; uid: string } | undefined {
  const key = getPath(record, params.keyField);
  const uid = getPath(record, params.uidField);
  if (
    (typeof key === 'string' || typeof key === 'number') &&
    String(key).trim() !== '' &&
    typeof uid === 'string' &&
    uid !== ''
  ) {
    const k = String(key).trim();
    return { key: params.isCaseSensitive ? k : k.toLowerCase(), uid };
  }
  return undefined;
}

/** `uidmap.write`: remembers key → UID for every passing record. */
export const uidmapWrite = defineScript({
  type: 'uidmap.write',
  summary:
    'Stores keyField → UID of every passing record in the UID map, under a namespace; records pass on unchanged.',
  description:
    'An identity-sync extension (not an IdentitySync component). Outbound flows write it (e.g. Eloqua email → UID) so the ' +
    'inbound flow can find the account of a contact that comes back without its UID. Records without a key or a UID ' +
    'pass on unchanged and are counted in the trace; they store nothing.',
  consumes: 'records',
  produces: 'records',
  delivers: 'records',
  params: {
    namespace: {
      type: 'string',
      default: 'default',
      description:
        'Separates maps of different systems (e.g. `eloqua`); the inbound lookup must use the same namespace.',
    },
    keyField: {
      type: 'string',
      required: true,
      description: 'Path of the external key in the record, e.g. `C_EmailAddress`.',
    },
    uidField: { type: 'string', default: 'UID', description: 'Path of the Gigya UID in the record.' },
    isCaseSensitive: {
      type: 'boolean',
      default: false,
      description:
        'Compare keys as written; when false (the default), keys are stored lower-cased so emails match in any case.',
    },
  },
  dryRun: {
    call(params, record) {
      const entry = entryOf(params, record);
      return entry && { method: 'uidmap.put', params: { namespace: params.namespace, key: entry.key, UID: entry.uid } };
    },
  },
  create(params, ctx) {
    const store = new UidMapStore(ctx.services.dynamo, ctx.services.config.tables.uidMap);
    let missing = 0;
    return {
      async records(batch, out) {
        const entries: { key: string; uid: string }[] = [];
        for (const record of batch) {
          const entry = entryOf(params, record);
          if (entry) entries.push(entry);
          else missing++;
        }
        // Store before passing records on: a record downstream always has its mapping.
        await store.put(params.namespace, entries);
        for (const record of batch) out.emit(record);
        // put returns once DynamoDB processed every item (it throws otherwise): each record of the batch now has
        // its mapping stored, or had none to store (no key or no UID, counted in `missing`).
        out.deliveredRecords(batch.length);
      },
      end() {
        if (missing > 0)
          ctx.log.warn(
            `${missing} record(s) had no ${params.keyField} or no ${params.uidField}; nothing stored for them`,
          );
      },
    };
  },
});
