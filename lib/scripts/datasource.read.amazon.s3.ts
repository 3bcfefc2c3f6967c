import { keyFolder, prefixFolder, S3FileSource } from '../connectors/s3.ts';
import { literalPrefix } from '../core/access.ts';
import { defineScript } from '../core/script.ts';
import {
  checkReaderParams,
  fileReaderParams,
  s3AccessParams,
  s3GrantFolder,
  s3RoleReaches,
  transferRetryParams,
} from './util/file-transfer.ts';
import { readerInstance } from './util/remote-files.ts';
import { checkKeyPair, s3ClientFor } from './util/s3-access.ts';

/** `datasource.read.amazon.s3`: reads the matching objects of a bucket folder as files. */
export const datasourceReadAmazonS3 = defineScript({
  type: 'datasource.read.amazon.s3',
  summary: 'Reads the objects under a key prefix whose names match a regex; each becomes a file for the next step.',
  description:
    'Lists the keys directly under objectKeyPrefix (not in deeper folders), keeps those whose name (the part ' +
    'after the prefix folder) matches fileNameRegex, sorts them, skips those already imported, and streams each ' +
    'into the stage; a dropped connection resumes with a range request. Credentials are the execution role ' +
    'unless accessKey and secretKey name secrets.',
  consumes: 'nothing',
  produces: 'files',
  continues: true,
  defers: true,
  params: {
    bucketName: { type: 'string', required: true, description: 'The bucket to read from.' },
    objectKeyPrefix: {
      type: 'string',
      default: '',
      description:
        'Key prefix to read: a folder ("imports/"), a folder and name prefix ("imports/accounts_"), or one key. A ' +
        'folder given without its trailing "/" is read as that folder. Empty: the bucket root.',
      examples: ['imports/', 'imports/accounts_'],
    },
    ...s3AccessParams,
    ...fileReaderParams,
    ...transferRetryParams,
    timeout: {
      type: 'integer',
      default: 60,
      minimum: 1,
      maximum: 3600,
      description: 'Seconds without a byte after which a download counts as dropped (and resumes).',
    },
  },
  check: (params) => checkReaderParams(params),
  reaches: {
    summary:
      "S3, with the function's role unless accessKey is set: gets and lists the keys under objectKeyPrefix of " +
      'bucketName; deletes them when afterRead is "delete" or "move", and puts them into moveToPath when it is "move".',
    of: (params) =>
      s3RoleReaches(params, (bucket) => {
        const prefix = literalPrefix(params.objectKeyPrefix);
        const remove = params.afterRead !== 'leave';
        const source = { kind: 's3', bucket, prefix, read: true, write: false, remove } as const;
        if (params.afterRead !== 'move') return [source];
        // The target folder is absolute from the bucket root, or relative to the read prefix's folder (which a
        // name prefix such as "imports/accounts_" does not cover): it gets its own write grant.
        const moveTo = params.moveToPath ?? '';
        const target = moveTo.startsWith('/')
          ? s3GrantFolder(moveTo)
          : `${prefixFolder(params.objectKeyPrefix)}${s3GrantFolder(moveTo)}`;
        return [source, { kind: 's3', bucket, prefix: literalPrefix(target), read: false, write: true, remove: false }];
      }),
  },
  create(params, ctx) {
    checkKeyPair(params, ctx.stepId);
    const moveToPath = params.afterRead === 'move' ? params.moveToPath : undefined;
    // Refuse a bad folder before anything is read, not after.
    if (moveToPath !== undefined) keyFolder(moveToPath, { param: 'moveToPath', stepId: ctx.stepId });
    const source = new S3FileSource({
      client: s3ClientFor(ctx.services, params),
      bucket: params.bucketName,
      prefix: params.objectKeyPrefix,
      ...(moveToPath === undefined ? {} : { moveToPath }),
    });
    return readerInstance(source, params, ctx, 'IDX_S3_IO');
  },
});
