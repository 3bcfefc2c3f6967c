/**
 * A corpus of malformed input files, each with the reader that gets it and the exact code it must produce: a
 * `step` code fails the job (nothing of the file is delivered), a `record` code sends the bad rows or lines down
 * the error path while the good ones (`delivered`) go on. Files are generated here, so the corpus documents the
 * bytes that make each case.
 */

import type { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import yazl from 'yazl';
import type { IdxErrorCode } from '../../lib/core/errors.ts';
import { lzopCompress } from './lzop.ts';

/** One malformed file. */
export interface MalformedFile {
  /** Unique, also the name of the dataflow that reads it. */
  readonly name: string;
  /** The file's name on the source. */
  readonly fileName: string;
  readonly content: Buffer;
  /** The steps between the reader and the parser, and the parser. */
  readonly uncompress?: 'file.uncompress.zip' | 'file.uncompress.gzip' | 'file.uncompress.lzo';
  readonly uncompressParams?: Record<string, unknown>;
  readonly parser: 'file.parse.dsv' | 'file.parse.json';
  readonly params?: Record<string, unknown>;
  /** Where the code shows: on the failed job, or on each rejected record. */
  readonly outcome: 'step' | 'record';
  readonly code: IdxErrorCode;
  /** Records delivered (0 for a failed job). */
  readonly delivered: number;
  /** Records rejected with the code (record outcome). */
  readonly rejected?: number;
}

const bytes = (...parts: (string | number[])[]): Buffer =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));

/** A zip archive written by an independent writer; `stored` leaves entries uncompressed. */
async function zipOf(entries: Record<string, string>, stored = false): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const [name, content] of Object.entries(entries))
    zip.addBuffer(Buffer.from(content), name, { compress: !stored });
  zip.end();
  const chunks: Buffer[] = [];
  for await (const c of zip.outputStream as Readable) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** An archive whose entry name is changed after writing (yazl refuses unsafe names itself). */
async function zipWithName(entries: Record<string, string>, from: string, to: string): Promise<Buffer> {
  if (from.length !== to.length) throw new Error('names must have one length');
  const archive = await zipOf(entries);
  let at = archive.indexOf(from);
  while (at !== -1) {
    archive.write(to, at);
    at = archive.indexOf(from, at + 1);
  }
  return archive;
}

const deep = (levels: number) => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;
const long = (n: number) => 'x'.repeat(n);

/** The corpus. */
export async function malformedFiles(): Promise<MalformedFile[]> {
  const csv = 'id,name\n1,Ann\n';
  const storedFlipped = await zipOf({ 'accounts.csv': 'id,email\n1,a@example.com\n' }, true);
  storedFlipped[storedFlipped.indexOf('a@example.com')] = 'b'.charCodeAt(0);
  const storedFlippedSecond = await zipOf({ 'a.csv': csv, 'b.csv': 'id,name\n2,Bob\n' }, true);
  storedFlippedSecond[storedFlippedSecond.indexOf('Bob')] = 'R'.charCodeAt(0);
  const good = await zipOf({ 'a.csv': csv });
  const gz = gzipSync(Buffer.from(csv));
  const gzBadCrc = Buffer.from(gz);
  gzBadCrc[gzBadCrc.length - 6] = (gzBadCrc[gzBadCrc.length - 6] ?? 0) ^ 0xff;
  // lzop's own files (the reference writer), with its default Adler-32 of each block's data.
  const lzo = lzopCompress(Buffer.from(csv));
  const lzoBadSum = Buffer.from(lzo);
  lzoBadSum[lzoBadSum.length - 6] = (lzoBadSum[lzoBadSum.length - 6] ?? 0) ^ 0xff;
  const dsv = (
    name: string,
    content: Buffer | string,
    outcome: 'step' | 'record',
    code: IdxErrorCode,
    delivered: number,
    params?: Record<string, unknown>,
    rejected = outcome === 'record' ? 1 : 0,
  ): MalformedFile => ({
    name,
    fileName: `${name}.csv`,
    content: Buffer.isBuffer(content) ? content : Buffer.from(content),
    parser: 'file.parse.dsv',
    outcome,
    code,
    delivered,
    rejected,
    ...(params ? { params } : {}),
  });
  const json = (
    name: string,
    content: Buffer | string,
    outcome: 'step' | 'record',
    code: IdxErrorCode,
    delivered: number,
    params?: Record<string, unknown>,
    rejected = outcome === 'record' ? 1 : 0,
  ): MalformedFile => ({
    name,
    fileName: `${name}.json`,
    content: Buffer.isBuffer(content) ? content : Buffer.from(content),
    parser: 'file.parse.json',
    outcome,
    code,
    delivered,
    rejected,
    ...(params ? { params } : {}),
  });
  /** A compressed file read by `uncompress` then parsed as CSV, which must fail the step with `code`. */
  const packed =
    (uncompress: NonNullable<MalformedFile['uncompress']>, suffix: string) =>
    (name: string, content: Buffer, code: IdxErrorCode, uncompressParams?: Record<string, unknown>) =>
      ({
        name,
        fileName: `${name}${suffix}`,
        content,
        uncompress,
        parser: 'file.parse.dsv',
        outcome: 'step',
        code,
        delivered: 0,
        ...(uncompressParams ? { uncompressParams } : {}),
      }) satisfies MalformedFile;
  const zip = packed('file.uncompress.zip', '.zip');
  const gzip = packed('file.uncompress.gzip', '.csv.gz');
  const lzop = packed('file.uncompress.lzo', '.csv.lzo');
  return [
    // Delimited files: headers.
    dsv('dsv-duplicate-header', 'email,email\na@x,b@x\n', 'step', 'IDX_DSV_HEADER_DUPLICATE', 0),
    dsv('dsv-duplicate-header-apart', 'id,name,id\n1,Ann,2\n', 'step', 'IDX_DSV_HEADER_DUPLICATE', 0),
    dsv('dsv-empty-header-names', ',\n1,2\n', 'step', 'IDX_DSV_HEADER_DUPLICATE', 0),
    dsv('dsv-header-invalid-utf8', bytes('id,n', [0xff], 'me\n1,Ann\n'), 'step', 'IDX_CHARSET_INVALID', 0),
    dsv('dsv-header-unclosed-quote', '"id,name\n1,Ann\n', 'step', 'IDX_DSV_QUOTE', 0),
    dsv('dsv-header-too-long', `${long(5000)}\n1\n`, 'step', 'IDX_DSV_ROW_TOO_LONG', 0, { maxLineLength: 1000 }),
    dsv('dsv-no-line-break', long(5000), 'step', 'IDX_DSV_ROW_TOO_LONG', 0, { maxLineLength: 1000 }),
    dsv(
      'dsv-header-too-wide',
      `${Array.from({ length: 20_000 }, (_, i) => `c${i}`).join(',')}\n1\n`,
      'step',
      'IDX_DSV_HEADER_TOO_WIDE',
      0,
    ),
    // Delimited files: rows.
    dsv('dsv-overlong-encoding', bytes(csv, '2,a', [0xc0, 0xaf], 'b\n3,Cy\n'), 'record', 'IDX_CHARSET_INVALID', 2),
    dsv('dsv-stray-continuation', bytes(csv, '2,', [0x80], '\n3,Cy\n'), 'record', 'IDX_CHARSET_INVALID', 2),
    dsv('dsv-encoded-surrogate', bytes(csv, '2,', [0xed, 0xa0, 0x80], '\n'), 'record', 'IDX_CHARSET_INVALID', 1),
    dsv('dsv-ff-byte', bytes(csv, '2,B', [0xff], 'b\n'), 'record', 'IDX_CHARSET_INVALID', 1),
    dsv('dsv-truncated-sequence-at-end', bytes(csv, '2,Zo', [0xc3]), 'record', 'IDX_CHARSET_INVALID', 1),
    dsv(
      'dsv-five-byte-sequence',
      bytes(csv, '2,', [0xf8, 0x88, 0x80, 0x80, 0x80], '\n'),
      'record',
      'IDX_CHARSET_INVALID',
      1,
    ),
    dsv('dsv-row-too-long', `${csv}2,${long(5000)}\n3,Cy\n`, 'record', 'IDX_DSV_ROW_TOO_LONG', 2, {
      maxLineLength: 1000,
    }),
    dsv(
      'dsv-quoted-value-too-long',
      `${csv}2,"${long(3000)}\n${long(3000)}"\n3,Cy\n`,
      'record',
      'IDX_DSV_ROW_TOO_LONG',
      2,
      { maxLineLength: 1000 },
    ),
    dsv('dsv-row-of-many-cells', `${csv}${Array(100_000).fill('1').join(',')}\n3,Cy\n`, 'record', 'IDX_DSV_COLUMNS', 2),
    dsv('dsv-row-too-few-cells', `${csv}2\n3,Cy\n`, 'record', 'IDX_DSV_COLUMNS', 2),
    dsv('dsv-unclosed-quote-at-end', `${csv}2,"Bob\n`, 'record', 'IDX_DSV_QUOTE', 1),
    dsv('dsv-text-after-quote', `${csv}2,"Bob"by\n3,Cy\n`, 'record', 'IDX_DSV_QUOTE', 2),
    dsv('dsv-wrong-separator', `${csv}2;Bob;x\n`, 'record', 'IDX_DSV_COLUMNS', 1),
    // JSON.
    json('json-number-too-large', '{"id":1}\n{"id":12345678901234567890}\n', 'record', 'IDX_JSON_NUMBER', 1, {
      exactNumbers: 'reject',
    }),
    json('json-number-infinite', '[{"id":1},{"n":1e400}]', 'record', 'IDX_JSON_NUMBER', 1, { exactNumbers: 'reject' }),
    json('json-number-underflow', '{"id":1}\n{"n":1e-400}\n', 'record', 'IDX_JSON_NUMBER', 1, {
      exactNumbers: 'reject',
    }),
    json('json-line-nested-100000', `{"id":1}\n${deep(100_000)}\n{"id":3}\n`, 'record', 'IDX_JSON_DEPTH', 2),
    json('json-element-nested-5000', `[{"id":1},${deep(5000)}]`, 'record', 'IDX_JSON_DEPTH', 1),
    json('json-line-too-long', `{"id":1}\n{"v":"${long(5000)}"}\n`, 'record', 'IDX_JSON_TOO_LONG', 1, {
      maxLineLength: 1000,
    }),
    json('json-element-too-long', `[{"v":"${long(5000)}"},{"id":2}]`, 'record', 'IDX_JSON_TOO_LONG', 1, {
      maxLineLength: 1000,
    }),
    json('json-line-invalid-utf8', bytes('{"id":1}\n{"n":"', [0xc3, 0x28], '"}\n'), 'record', 'IDX_CHARSET_INVALID', 1),
    json('json-element-invalid-utf8', bytes('[{"id":1},{"n":"', [0xa0], '"}]'), 'record', 'IDX_CHARSET_INVALID', 1),
    json('json-line-syntax', '{"id":1}\n{"id":2,}\n{"id":3}\n', 'record', 'IDX_JSON_LINE', 2),
    json('json-line-not-object', '{"id":1}\n[1,2]\n', 'record', 'IDX_JSON_NOT_OBJECT', 1),
    json('json-element-not-object', '[{"id":1},42,"x"]', 'record', 'IDX_JSON_NOT_OBJECT', 1, undefined, 2),
    json('json-element-bad-inside', '[{"id":1},{"id":tru},{"id":3}]', 'record', 'IDX_JSON_VALUE', 2),
    json('json-array-missing-comma', '[{"id":1} {"id":2}]', 'step', 'IDX_JSON_INVALID', 0),
    json('json-array-unclosed', '[{"id":1},{"id":2}', 'step', 'IDX_JSON_INVALID', 0),
    json('json-array-trailing-text', '[{"id":1}] trailing', 'step', 'IDX_JSON_INVALID', 0),
    json('json-wrapped-not-array', '{"accounts": 5}', 'step', 'IDX_JSON_INVALID', 0, { wrapField: 'accounts' }),
    // Zip.
    zip('zip-stored-flipped-byte', storedFlipped, 'IDX_ZIP_CRC'),
    zip('zip-second-entry-flipped-byte', storedFlippedSecond, 'IDX_ZIP_CRC'),
    zip('zip-truncated', good.subarray(0, Math.floor(good.length / 2)), 'IDX_ZIP_CORRUPT'),
    zip('zip-not-a-zip', Buffer.from(csv), 'IDX_ZIP_CORRUPT'),
    zip(
      'zip-parent-traversal',
      await zipWithName({ 'ab/evil.csv': csv }, 'ab/evil.csv', '../evil.csv'),
      'IDX_ZIP_CORRUPT',
    ),
    zip(
      'zip-second-entry-traversal',
      await zipWithName({ 'a.csv': csv, 'ab/b.csv': csv }, 'ab/b.csv', '../b.csv'),
      'IDX_ZIP_CORRUPT',
    ),
    zip('zip-beyond-output-limit', await zipOf({ 'big.csv': `id\n${'1\n'.repeat(20_000)}` }), 'IDX_UNCOMPRESS_LIMIT', {
      maxOutputSize: 0.01,
    }),
    // Gzip.
    gzip('gzip-truncated', gz.subarray(0, gz.length - 10), 'IDX_GZIP_CORRUPT'),
    gzip('gzip-not-gzip', Buffer.from(csv), 'IDX_GZIP_CORRUPT'),
    gzip('gzip-bad-crc', gzBadCrc, 'IDX_GZIP_CORRUPT'),
    gzip('gzip-beyond-output-limit', gzipSync(Buffer.from(`id\n${'1\n'.repeat(400_000)}`)), 'IDX_UNCOMPRESS_LIMIT', {
      maxOutputSize: 0.5,
    }),
    // LZO (lzop files).
    lzop('lzo-truncated', lzo.subarray(0, lzo.length - 6), 'IDX_LZO_CORRUPT'),
    lzop('lzo-not-lzo', gz, 'IDX_LZO_CORRUPT'),
    lzop('lzo-bad-checksum', lzoBadSum, 'IDX_LZO_CHECKSUM'),
    lzop('lzo-beyond-output-limit', lzopCompress(Buffer.from(`id\n${'1\n'.repeat(400_000)}`)), 'IDX_UNCOMPRESS_LIMIT', {
      maxOutputSize: 0.5,
    }),
  ];
}
