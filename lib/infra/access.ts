/**
 * What a dataflow's function must reach beyond the stage and the tables, read from the dataflow itself: the
 * secrets its params name, and the S3 locations its S3 steps use with the execution role. The stack turns this
 * into IAM statements, so a function can reach nothing its dataflow does not name.
 */
import { isBlankTemplateValue, secretNames } from '../dataflow/placeholders.ts';
import type { Dataflow } from '../dataflow/types.ts';
import { GIGYA_FALLBACK_SECRETS } from '../scripts/util/gigya-step.ts';

/** Every string in a params value, however deep. */
function* strings(value: unknown): Generator<string> {
  if (typeof value === 'string') yield value;
  else if (Array.isArray(value)) for (const v of value) yield* strings(v);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) yield* strings(v);
}

/** The names of every secret the dataflow's params reference (`${secret:NAME}`), sorted and unique. */
export function dataflowSecretNames(dataflow: Dataflow): string[] {
  const names = new Set<string>();
  for (const step of dataflow.steps) {
    for (const text of strings(step.params)) for (const n of secretNames(text)) names.add(n);
    for (const n of gigyaFallbacks(dataflow, step.type, step.params)) names.add(n);
  }
  return [...names].sort();
}

/** A Gigya step with blank credentials reads the conventional GIGYA_* secrets at run time, so it needs them. */
function gigyaFallbacks(dataflow: Dataflow, type: string, params: Readonly<Record<string, unknown>>): string[] {
  if (!/^datasource\.(read|write|lookup)\.gigya\./.test(type)) return [];
  const blank = (k: string) => typeof params[k] !== 'string' || isBlankTemplateValue(params[k] as string);
  const out: string[] = [];
  if (blank('apiKey') && isBlankTemplateValue(dataflow.apiKey)) out.push(GIGYA_FALLBACK_SECRETS.apiKey);
  if (blank('privateKey')) {
    if (blank('userKey')) out.push(GIGYA_FALLBACK_SECRETS.userKey);
    if (blank('secret')) out.push(GIGYA_FALLBACK_SECRETS.secret);
  }
  return out;
}

/** One S3 location a step reaches with the execution role. */
export interface S3Access {
  readonly stepId: string;
  readonly bucket: string;
  /** The literal key prefix (cut before the first placeholder); access covers every key that starts with it. */
  readonly prefix: string;
  /** Get + List; Put and Delete when the step writes, moves or deletes. */
  readonly read: boolean;
  readonly write: boolean;
  readonly remove: boolean;
}

/** The part of a key before its first `${...}` placeholder: what is known before the job runs. */
export function literalPrefix(key: string): string {
  const at = key.indexOf('${');
  return (at === -1 ? key : key.slice(0, at)).replace(/^\/+/, '');
}

/** A key folder: the prefix with one trailing `/` (empty stays empty: the bucket root). */
function folderOf(prefix: string): string {
  const p = prefix.replace(/^\/+/, '');
  return p === '' || p.endsWith('/') ? p : `${p}/`;
}

/**
 * The S3 locations the dataflow's S3 readers and writers reach with the execution role (steps that carry their
 * own access key are left out: their credentials, not the role, decide). A bucket name holding a placeholder
 * cannot be granted ahead of time and is reported as `unresolved`.
 */
export function dataflowS3Access(dataflow: Dataflow): { access: S3Access[]; unresolved: string[] } {
  const access: S3Access[] = [];
  const unresolved: string[] = [];
  for (const step of dataflow.steps) {
    const reads = step.type === 'datasource.read.amazon.s3';
    const writes = step.type === 'datasource.write.amazon.s3';
    if (!reads && !writes) continue;
    const p = step.params as Record<string, unknown>;
    if (typeof p.accessKey === 'string' && p.accessKey !== '') continue;
    const bucket = typeof p.bucketName === 'string' ? p.bucketName : '';
    if (bucket === '' || bucket.includes('${')) {
      unresolved.push(step.id);
      continue;
    }
    const keyPrefix = typeof p.objectKeyPrefix === 'string' ? p.objectKeyPrefix : '';
    if (writes) {
      access.push({
        stepId: step.id,
        bucket,
        prefix: literalPrefix(folderOf(keyPrefix)),
        read: false,
        write: true,
        remove: false,
      });
      continue;
    }
    const after = typeof p.afterRead === 'string' ? p.afterRead : 'leave';
    const prefix = literalPrefix(keyPrefix);
    access.push({ stepId: step.id, bucket, prefix, read: true, write: false, remove: after !== 'leave' });
    const moveTo = typeof p.moveToPath === 'string' ? p.moveToPath : '';
    if (after === 'move') {
      // The target folder is absolute from the bucket root, or relative to the read prefix's folder (which a
      // name prefix such as "imports/accounts_" does not cover): it gets its own write grant.
      const folder = keyPrefix.lastIndexOf('/') < 0 ? '' : keyPrefix.slice(0, keyPrefix.lastIndexOf('/') + 1);
      const target = moveTo.startsWith('/') ? folderOf(moveTo) : `${folder}${folderOf(moveTo)}`;
      access.push({
        stepId: step.id,
        bucket,
        prefix: literalPrefix(target),
        read: false,
        write: true,
        remove: false,
      });
    }
  }
  return { access, unresolved };
}
