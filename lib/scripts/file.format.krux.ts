import { defineScript } from '../core/script.ts';
import { type UserLineFormat, userLine, userLinesFragments, userLinesInstance } from './util/user-lines.ts';

/** Characters with a meaning in a Krux line, and line breaks: a value holding one has it replaced by a space. */
const KRUX_SPECIAL = /[\^;:,\t\r\n]/g;
/** A user ID holding one of these cannot be written without changing whom the line is about. */
const KRUX_ID_FORBIDDEN = /[\^\t\r\n]/;
/** Krux (Salesforce Audience Studio) accepts values under 255 characters. */
const MAX_VALUE = 254;

/** `file.format.krux`: writes a Krux / Salesforce Audience Studio first-party user data file. */
export const fileFormatKrux = defineScript({
  type: 'file.format.krux',
  summary: 'Writes the records as a Krux (Salesforce Audience Studio) user data file: `<id>^attr:value;attr:value`.',
  description:
    'One line per record, as Salesforce Audience Studio’s first-party data import reads it: the user ID, a caret, ' +
    'then the attributes as `name:value` pairs separated by `;`, several values of one attribute separated by `,` ' +
    '(`User1234^gender:male;interest:fishing,boating`); UTF-8, no header row (the import specification shows ' +
    'none). The user ID is the idField (`id`, which the IdentitySync Krux template renames UID to); every other ' +
    'field is an attribute: a nested object’s fields under their dotted path (`profile.city`), an array’s ' +
    'elements as the values of one attribute (objects in it by their fields’ dotted paths, so that of a list of ' +
    'likes none of name, category or id is dropped or guessed), null and empty values left out. The specification does not say how to escape its separators, so `^ ; : ,`, tabs and line ' +
    'breaks inside names and values are replaced by a space (counted in the job trace). Rejected with ' +
    'IDX_FORMAT_USER_ID: a record without a user ID, or whose ID holds a caret, tab or line break; with ' +
    'IDX_FORMAT_VALUE: a value of 255 characters or more, which the import refuses. A user with no attribute is ' +
    'written as `<id>^`: Krux replaces a user’s attributes with each line, so the line clears them. Streaming: ' +
    'memory does not grow with the number of records. Compress with file.compress.lzo (createIndexFile) for the ' +
    'LZO files with an index that Krux prefers.',
  consumes: 'records',
  produces: 'files',
  params: {
    fileName: {
      type: 'string',
      required: true,
      description: 'Name of the file; placeholders such as ${now} and ${jobId} are rendered.',
      examples: ['Gigya_Krux_M6.csv', 'krux_${now}.csv'],
    },
    createEmptyFile: {
      type: 'boolean',
      default: false,
      description: 'Write the file (0 bytes) even when no record arrives.',
    },
    idField: {
      type: 'string',
      default: 'id',
      description:
        'The field holding the user ID (the first column): a Krux user ID or the first-party ID matched through ' +
        'the Krux tag. The IdentitySync Krux template renames UID to `id`, so `id` is the default.',
      examples: ['id', 'UID'],
    },
  },
  lanes: { fragments: userLinesFragments },
  create(params, ctx) {
    const format: UserLineFormat = {
      idField: params.idField,
      idForbidden: KRUX_ID_FORBIDDEN,
      idRefused: 'a caret, tab or line break, which a Krux line cannot carry',
      special: KRUX_SPECIAL,
      checkValue: (name, value) =>
        value.length > MAX_VALUE
          ? {
              code: 'IDX_FORMAT_VALUE',
              message: `attribute "${name}" has a value of ${value.length} characters; Krux accepts under 255`,
              field: name,
            }
          : undefined,
      line: (id, attributes) =>
        `${id}^${attributes.map(([name, values]) => `${name}:${values.join(',')}`).join(';')}\n`,
    };
    return userLinesInstance(ctx, {
      fileName: params.fileName,
      createEmptyFile: params.createEmptyFile,
      line: (record) => userLine(record, format),
      changes: 'attribute name(s) or value(s) held ^ ; : , or a line break, each replaced by a space',
    });
  },
});
