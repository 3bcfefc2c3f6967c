import { defineScript } from '../core/script.ts';
import { endWritable, writeChunk } from './util/io.ts';

/** `file.empty`: writes a marker file once the input is complete. */
export const fileEmpty = defineScript({
  type: 'file.empty',
  summary:
    'Writes a marker file (e.g. gigya.ok) once every record has arrived, telling the receiver the export is complete.',
  description:
    'The file is written after the last record (also when there is none), so a writer that receives it with ' +
    'the data files uploads it after them in the same step. The records themselves are not passed on.',
  consumes: 'records',
  produces: 'files',
  params: {
    fileName: {
      type: 'string',
      required: true,
      description: 'Name of the marker file; placeholders such as ${now} are rendered.',
      examples: ['gigya.ok', 'export_${now:yyyyMMdd}.done'],
    },
    content: {
      type: 'string',
      default: '',
      description: 'Text written into the file; placeholders are rendered. Default: an empty file.',
    },
  },
  create(params) {
    return {
      records() {
        // The marker only needs the input to be complete.
      },
      async end(out, { final }) {
        // The marker is written once the whole input arrived, in the step's last invocation.
        if (!final) return;
        const file = out.createFile(params.fileName);
        if (params.content) await writeChunk(file, params.content);
        await endWritable(file);
      },
    };
  },
});
