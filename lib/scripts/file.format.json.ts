import { defineScript, type StepOutput } from '../core/script.ts';
import { CoalescingWriter } from './util/io.ts';
import { partName } from './util/parts.ts';

const MB = 1024 * 1024;

/** What the formatter keeps from one invocation of its step to the next. */
interface JsonState {
  /** Files started so far. */
  readonly parts: number;
  readonly written: number;
  /** The file left open: its bytes and records so far. */
  readonly part?: { readonly bytes: number; readonly rows: number };
}

/** `file.format.json`: writes records as a JSON array file or as JSON Lines. */
export const fileFormatJson = defineScript({
  type: 'file.format.json',
  summary: 'Writes the records as one JSON array per file (optionally wrapped in an object), or as JSON Lines.',
  description:
    'With format "array" a file is `[{…},{…}]`, one record per line, or `{"<wrapField>": [ … ]}` when ' +
    'wrapField is set; with "jsonLines" it is one record per line and nothing else. Every part of a split ' +
    'output is a complete document. Streaming: memory does not grow with the number of records.',
  consumes: 'records',
  produces: 'files',
  params: {
    fileName: {
      type: 'string',
      required: true,
      description:
        'Name of the file; placeholders such as ${now} and ${jobId} are rendered. When maxFileSize splits the ' +
        'output, the first file keeps this name and the next ones get `_2`, `_3`, … before the extension.',
      examples: ['gigya-${now}.json'],
    },
    format: {
      type: 'string',
      enum: ['array', 'jsonLines'],
      default: 'array',
      description: 'One JSON array per file, or JSON Lines (one record per line).',
    },
    wrapField: {
      type: 'string',
      description: 'With format "array": wrap the array in an object under this property name.',
      examples: ['accounts'],
    },
    maxFileSize: {
      type: 'number',
      minimum: 0.001,
      description:
        'Largest size of one file in MB (1,048,576 bytes); the next record then starts a new part. A part ' +
        'always holds at least one record. Default: no limit.',
      examples: [5000],
    },
    createEmptyFile: {
      type: 'boolean',
      default: false,
      description: 'Write a file (`[]`, the empty wrapper, or an empty JSON Lines file) when no record arrives.',
    },
  },
  create(params, ctx) {
    const lines = params.format === 'jsonLines';
    const open = lines ? '' : params.wrapField === undefined ? '[\n' : `{${JSON.stringify(params.wrapField)}:[\n`;
    const close = lines ? '' : params.wrapField === undefined ? '\n]\n' : '\n]}\n';
    const separator = lines ? '\n' : ',\n';
    const tail = lines ? '\n' : '';
    const maxBytes = params.maxFileSize === undefined ? 0 : Math.floor(params.maxFileSize * MB);
    const closeBytes = Buffer.byteLength(close);
    let part: { writer: CoalescingWriter; bytes: number; rows: number } | undefined;
    // The step's previous invocation: the files it started and the one it left open, which this one continues.
    const kept = ctx.continuation as JsonState | undefined;
    let pending = kept?.part;
    let parts = kept?.parts ?? 0;
    let written = kept?.written ?? 0;

    const start = (out: StepOutput) => {
      parts++;
      const writer = new CoalescingWriter(out.createFile(partName(params.fileName, parts)));
      writer.add(open);
      return { writer, bytes: Buffer.byteLength(open), rows: 0 };
    };
    /** The next piece of the file the previous invocation left open: same name, the array already opened. */
    const reopen = (out: StepOutput, at: { bytes: number; rows: number }) => ({
      writer: new CoalescingWriter(out.createFile(partName(params.fileName, parts))),
      bytes: at.bytes,
      rows: at.rows,
    });
    const finish = async () => {
      if (!part) return;
      const last = part;
      part = undefined;
      last.writer.add(last.rows > 0 ? close : close.replace('\n', ''));
      await last.writer.end();
    };

    return {
      async records(batch, out) {
        for (const record of batch) {
          const text = JSON.stringify(record);
          if (!part && pending) {
            part = reopen(out, pending);
            pending = undefined;
          }
          if (!part) part = start(out);
          if (maxBytes) {
            const bytes = Buffer.byteLength(text) + separator.length;
            if (part.rows > 0 && part.bytes + bytes + closeBytes > maxBytes) {
              await finish();
              part = start(out);
            }
            part.bytes += bytes;
          }
          const due = part.writer.add(part.rows > 0 && !lines ? separator + text : text + tail);
          part.rows++;
          written++;
          if (due) await part.writer.spill();
        }
      },
      async end(out, { final }) {
        if (!final) {
          const left = part ?? pending;
          if (part) await part.writer.end();
          part = undefined;
          const state: JsonState = {
            parts,
            written,
            ...(left ? { part: { bytes: left.bytes, rows: left.rows } } : {}),
          };
          return { continuation: state };
        }
        // The file left open by the previous invocation still needs its closing bracket.
        if (!part && pending) part = reopen(out, pending);
        pending = undefined;
        if (!part && parts === 0 && params.createEmptyFile) part = start(out);
        await finish();
        ctx.log.info(`${written} record(s) written to ${parts} file(s)`);
        return undefined;
      },
      close() {
        if (part) part.writer.target.destroy();
      },
    };
  },
});
