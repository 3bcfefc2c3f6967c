import { IdxError } from '../core/errors.ts';
import { defineScript } from '../core/script.ts';
import { type UserLineFormat, userLine, userLinesFragments, userLinesInstance } from './util/user-lines.ts';

/**
 * Characters that may not stand inside a quoted trait key or value: the quote itself, tabs and line breaks
 * (Adobe: never inside keys or values), and the comma that separates traits (whether quotes protect it is not
 * documented).
 */
const AAM_SPECIAL = /["\t\r\n,]/g;
/** Adobe: a DPUUID must not contain `:` (nor its URL encoding); tabs and line breaks would break the line. */
const AAM_ID_FORBIDDEN = /[:\t\r\n]|%3a/i;

/** Bytes in one MB as `maxFileSize` counts them. */
const MB = 1024 * 1024;

/** The AAM inbound file name: `ftp_dpm_<DPID>[_<DPID_TARGET_DATA_OWNER>]_<UTC seconds>.<sync|overwrite>`. */
export function aamFileName(dpid: string, target: string | undefined, startTime: string, type: string): string {
  const seconds = Math.floor(Date.parse(startTime) / 1000);
  return `ftp_dpm_${dpid}${target ? `_${target}` : ''}_${seconds}.${type}`;
}

/** `file.format.aam`: writes an Adobe Audience Manager inbound data file. */
export const fileFormatAam = defineScript({
  type: 'file.format.aam',
  summary:
    'Writes the records as an Adobe Audience Manager inbound data file: `<user ID><TAB>"key"="value","key"="value"`.',
  description:
    'One line per record in Adobe Audience Manager’s inbound (batch) data file format: the user ID, one tab, then ' +
    'the user’s traits separated by commas, each as a key-value pair with key and value double-quoted (as in ' +
    'Adobe’s sample file). The user ID is userIdField (UID by default, as in the IdentitySync AAM template); ' +
    'every other field is a trait: a nested object’s fields under their dotted path (`profile.city`), an ' +
    'array’s elements as one trait each with the same key (objects in it by their fields’ dotted paths), null ' +
    'and empty values left out. Adobe forbids tabs and line breaks in keys and values and documents no escape ' +
    'for quotes or commas inside them, so these are replaced by a space (counted in the job trace). The file is ' +
    'named as AAM requires (`ftp_dpm_<dpid>_<10-digit UTC seconds of the job start>.sync`, or `.overwrite` with ' +
    'fileType overwrite: the traits listed then replace the user’s traits of this data source) unless fileName ' +
    'is given; compress it with file.compress.gzip (AAM takes `.gz` only). Rejected with IDX_FORMAT_USER_ID: a ' +
    'record without a user ID or whose ID holds `:` (or `%3A`), a tab or a line break, which AAM refuses. A ' +
    'record with no trait is dropped (a line without traits is invalid), counted. AAM skips an empty file as ' +
    'invalid, hence no file without records unless createEmptyFile. AAM reads files up to 5 GB uncompressed ' +
    '(1 GB is optimal): maxFileSize splits the output into numbered files. Streaming: memory does not grow with ' +
    'the number of records.',
  consumes: 'records',
  produces: 'files',
  params: {
    dpid: {
      type: 'string',
      required: true,
      description:
        'The AAM data source (data provider) ID the user IDs belong to, digits only; 20914 for Android ' +
        'advertising IDs and 20915 for iOS IDFAs (then give targetDpid). Checked when the step runs, as ' +
        'templates ship a placeholder.',
      examples: ['478'],
    },
    targetDpid: {
      type: 'string',
      description:
        'DPID_TARGET_DATA_OWNER of the file name: your own data source ID, when dpid is 20914 or 20915 (device ' +
        'IDs); it is appended to the name after dpid.',
      examples: ['478'],
    },
    fileType: {
      type: 'string',
      enum: ['sync', 'overwrite'],
      default: 'sync',
      description:
        '`sync`: the traits listed are added to each user; `overwrite`: they replace each listed user’s traits ' +
        'of this data source (users not in the file are untouched). The file name ends with it.',
    },
    fileName: {
      type: 'string',
      description:
        'Name of the file; placeholders such as ${now} are rendered. Default: the AAM name ' +
        '`ftp_dpm_<dpid>[_<targetDpid>]_<UTC seconds of the job start>.<fileType>`.',
      examples: ['ftp_dpm_478_${unix}.sync'],
    },
    userIdField: {
      type: 'string',
      default: 'UID',
      description: 'The field holding the user ID (the DPUUID AAM matches: the Gigya UID in the template).',
    },
    createEmptyFile: {
      type: 'boolean',
      default: false,
      description: 'Write the file (0 bytes) even when no record arrives; AAM marks empty files invalid.',
    },
    maxFileSize: {
      type: 'number',
      minimum: 0.001,
      description:
        'Largest size of one file in MB (1,048,576 bytes, before compression); a line that would pass it starts ' +
        'the next file. AAM reads files of up to 5 GB uncompressed, 1 GB being optimal. When set, every file ' +
        'gets AAM’s split number after its name: `ftp_dpm_478_1366545717.sync.1`, `.sync.2`, … (a gzip step ' +
        'after it then gives AAM’s `….sync.1.gz`). Default: one file, whatever its size.',
      examples: [1024],
    },
  },
  lanes: {
    // Lines formatted apart join into one file; a size limit needs them counted in order, in one place.
    fragments: (params) => (params.maxFileSize === undefined ? userLinesFragments(params) : undefined),
  },
  create(params, ctx) {
    for (const [param, value] of [
      ['dpid', params.dpid],
      ['targetDpid', params.targetDpid],
    ] as const) {
      if (value !== undefined && !/^\d{1,18}$/.test(value)) {
        throw new IdxError('IDX_PARAM_VALUE', `${param} is not an Audience Manager data source ID`, {
          stepId: ctx.stepId,
          param,
          expected: 'the numeric ID of the AAM data source (digits only)',
          received: JSON.stringify(value),
        });
      }
    }
    const fileName = params.fileName ?? aamFileName(params.dpid, params.targetDpid, ctx.job.startTime, params.fileType);
    const format: UserLineFormat = {
      idField: params.userIdField,
      idForbidden: AAM_ID_FORBIDDEN,
      idRefused: '":", "%3A", a tab or a line break, which AAM refuses',
      special: AAM_SPECIAL,
      line: (id, attributes) => {
        const traits = attributes.flatMap(([key, values]) => values.map((value) => `"${key}"="${value}"`));
        return traits.length ? `${id}\t${traits.join(',')}\n` : { empty: 'it has no trait' };
      },
    };
    return userLinesInstance(ctx, {
      fileName,
      createEmptyFile: params.createEmptyFile,
      line: (record) => userLine(record, format),
      changes: 'trait key(s) or value(s) held a quote, comma, tab or line break, each replaced by a space',
      ...(params.maxFileSize === undefined
        ? {}
        : { split: { maxBytes: Math.floor(params.maxFileSize * MB), partName: (n: number) => `${fileName}.${n}` } }),
    });
  },
});
