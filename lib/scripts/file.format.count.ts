import { defineScript } from '../core/script.ts';
import { endWritable, unescapeControl, writeChunk } from './util/io.ts';

/** `file.format.count`: writes a control file with the number of records. */
export const fileFormatCount = defineScript({
  type: 'file.format.count',
  summary: 'Writes a small control file holding the number of records received (e.g. for a receiver to check).',
  description:
    'The file holds `prefix`, the count in decimal digits, then `lineEnd`, and is written after the last record ' +
    '(also when there is none: the count is then 0). The records themselves are not passed on.',
  consumes: 'records',
  produces: 'files',
  params: {
    fileName: {
      type: 'string',
      required: true,
      description: 'Name of the control file; placeholders such as ${now} are rendered.',
      examples: ['GIGYA_TO_SFTP_${now}.count'],
    },
    prefix: { type: 'string', default: '', description: 'Text before the count, e.g. "records=".' },
    lineEnd: { type: 'string', default: '\n', description: 'Text after the count; "\\n" may be written as text.' },
  },
  create(params, ctx) {
    // The count so far, when the step continues from a previous invocation.
    let count = (ctx.continuation as { count?: number } | undefined)?.count ?? 0;
    return {
      records(batch) {
        count += batch.length;
      },
      async end(out, { final }) {
        if (!final) return { continuation: { count } };
        const file = out.createFile(params.fileName);
        await writeChunk(file, `${params.prefix}${count}${unescapeControl(params.lineEnd)}`);
        await endWritable(file);
        return undefined;
      },
    };
  },
});
