/**
 * Stream helpers shared by the file scripts: writing with backpressure, coalescing many small strings into a
 * few large writes, finishing an output file, and reading a byte stream as decoded text.
 */
import { isAscii, isUtf8, transcode } from 'node:buffer';
import type { Readable, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { TextDecoder } from 'node:util';
import { IdxError } from '../../core/errors.ts';

/**
 * Size of the coalesced chunks written to files and compressors. Large on purpose: a compressor in the same
 * process does one thread-pool job per chunk and needs a turn of the event loop between jobs, so small chunks
 * leave it waiting while records are being formatted.
 */
export const CHUNK_CHARS = 512 * 1024;

/**
 * Most bytes decoded into one string at a time. V8 decodes UTF-8 up to half as fast into a string too large for
 * its regular heap pages (128 KiB and up, which it allocates one by one) as into a smaller one, so large chunks
 * are decoded in pieces below that size.
 */
export const DECODE_BYTES = 64 * 1024;

/** Waits until a writable can take more data; rejects when it fails or closes first. */
export function drained(w: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (error?: unknown) => {
      w.off('drain', onDrain);
      w.off('error', onError);
      w.off('close', onClose);
      if (error) reject(error);
      else resolve();
    };
    const onDrain = () => done();
    const onError = (error: unknown) => done(error);
    const onClose = () => done(w.errored ?? new Error('the output stream closed before it drained'));
    w.on('drain', onDrain);
    w.on('error', onError);
    w.on('close', onClose);
  });
}

/** Writes one chunk and waits when the writable asks for it (`write` returned false). */
export async function writeChunk(w: Writable, chunk: string | Uint8Array): Promise<void> {
  if (w.errored) throw w.errored;
  if (!w.write(chunk)) await drained(w);
}

/** Ends a writable and waits until everything written has been handed on. */
export async function endWritable(w: Writable): Promise<void> {
  w.end();
  await finished(w, { readable: false });
}

/**
 * Copies a stream into an output file with backpressure and ends it. On failure the file is destroyed without an
 * error of its own (the caller's error is what fails the step), so no half-written file is ever finished.
 */
export async function copyToFile(source: AsyncIterable<Uint8Array | string>, target: Writable): Promise<void> {
  try {
    for await (const chunk of source) await writeChunk(target, chunk);
    await endWritable(target);
  } catch (error) {
    if (!target.destroyed) target.destroy();
    throw error;
  }
}

/**
 * Coalesces strings into chunks of about {@link CHUNK_CHARS} bytes before writing them, so a formatter can append
 * one row at a time without paying one stream write (and, downstream, one zlib call) per row. Each text is encoded
 * into the chunk's buffer as it comes: adding it to one long string instead cost a chain of partial strings that
 * the write then had to flatten, measure and encode, three passes over every byte (8 % of the one-lane export's
 * main thread in a profile of the benchmark's pipeline (a); the run's CPU time moved within its noise).
 */
export class CoalescingWriter {
  #buf: Buffer | undefined;
  #used = 0;

  constructor(readonly target: Writable) {}

  /** Appends text; returns true when a chunk is due and {@link spill} should be awaited. */
  add(text: string): boolean {
    // UTF-8 takes at most three bytes per UTF-16 unit; a long text is measured instead of reserving three times it.
    const most = text.length > 1 << 20 ? Buffer.byteLength(text) : text.length * 3;
    let buf = this.#buf;
    if (!buf || this.#used + most > buf.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(CHUNK_CHARS + 64 * 1024, 2 * this.#used + most));
      buf?.copy(grown, 0, 0, this.#used);
      buf = grown;
      this.#buf = grown;
    }
    this.#used += buf.write(text, this.#used);
    return this.#used >= CHUNK_CHARS;
  }

  /** Writes what is buffered (with backpressure); the buffer goes with it and the next text starts a new one. */
  async spill(): Promise<void> {
    const buf = this.#buf;
    if (!buf || this.#used === 0) return;
    const chunk = buf.subarray(0, this.#used);
    this.#buf = undefined;
    this.#used = 0;
    await writeChunk(this.target, chunk);
  }

  /** Writes what is left and ends the target. */
  async end(): Promise<void> {
    await this.spill();
    await endWritable(this.target);
  }
}

const QUESTION_MARK = 0x3f;

/** Occurrences of `?` in `bytes`. */
function questionMarks(bytes: Uint8Array): number {
  let n = 0;
  for (let at = bytes.indexOf(QUESTION_MARK); at !== -1; at = bytes.indexOf(QUESTION_MARK, at + 1)) n++;
  return n;
}

/**
 * Decodes whole characters of UTF-8 (whole lines of NDJSON, or pieces of a text file cut between characters), to
 * the same text as `toString('utf8')`, faster when the text allows it, and always as V8's one-byte strings when the
 * characters fit in them. V8 decodes
 * UTF-8 one byte at a time in two passes, about 25 instructions a byte, a sixth of a laned export's work. Text
 * that is all ASCII is copied as it is; text whose characters all lie in Latin-1 (Western European names) is
 * converted by ICU into one byte a character, about 19 instructions a byte with the checks below, and copied. ICU
 * writes `?` for a character Latin-1 lacks and drops a byte-order mark, so its result is kept only when it holds
 * as many `?` as the input and encodes back to as many bytes; otherwise the text is decoded as UTF-8, and so is
 * the rest of the stream (text beyond Latin-1 would pay twice).
 */
export class LineDecoder {
  #latin1 = true;

  /** The text of `bytes`, which hold whole UTF-8 characters. */
  decode(bytes: Buffer): string {
    if (isAscii(bytes)) return bytes.toString('latin1');
    if (this.#latin1) {
      try {
        const converted = transcode(bytes, 'utf8', 'latin1');
        const text = converted.toString('latin1');
        if (Buffer.byteLength(text, 'utf8') === bytes.length && questionMarks(converted) === questionMarks(bytes))
          return text;
      } catch {
        // Without ICU (a Node.js built with small or no ICU), or input ICU refuses: decoded as UTF-8 below.
      }
      this.#latin1 = false;
    }
    return bytes.toString('utf8');
  }
}

/** Character sets the file parsers read, by the names dataflows use. */
const CHARSETS: Record<string, string> = {
  'utf-8': 'utf-8',
  utf8: 'utf-8',
  'iso-8859-1': 'windows-1252',
  'iso8859-1': 'windows-1252',
  'latin-1': 'windows-1252',
  latin1: 'windows-1252',
  'windows-1252': 'windows-1252',
  cp1252: 'windows-1252',
  'us-ascii': 'windows-1252',
  ascii: 'windows-1252',
  'utf-16le': 'utf-16le',
  'utf-16be': 'utf-16be',
  'utf-16': 'utf-16le',
};

/** The charset names {@link decodeText} accepts, for docs and checks. */
export const CHARSET_NAMES = ['UTF-8', 'ISO-8859-1', 'Latin-1', 'windows-1252', 'UTF-16LE', 'UTF-16BE', 'auto-detect'];

/** True when a charset name is known (case-insensitive). */
export function isKnownCharset(name: string): boolean {
  const n = name.toLowerCase();
  return n === 'auto-detect' || n === 'auto' || n in CHARSETS;
}

/**
 * True when a charset is fixed (not `auto-detect`) and writes a line feed as the one byte 10, which no other
 * character contains (UTF-8 and the single-byte charsets; not UTF-16), so text in it can be cut into lines in its
 * bytes.
 */
export function keepsLineFeeds(name: string): boolean {
  const label = CHARSETS[name.toLowerCase()];
  return label === 'utf-8' || label === 'windows-1252';
}

/** Bytes inspected by `auto-detect` when the file has no byte-order mark. */
const SNIFF_BYTES = 64 * 1024;

/**
 * Picks an encoding from the start of a file: a byte-order mark wins; otherwise text that is valid UTF-8 is read
 * as UTF-8 and anything else as windows-1252 (the superset of Latin-1 that spreadsheets write).
 */
export function sniffCharset(head: Uint8Array): string {
  if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) return 'utf-8';
  if (head[0] === 0xff && head[1] === 0xfe) return 'utf-16le';
  if (head[0] === 0xfe && head[1] === 0xff) return 'utf-16be';
  // A multi-byte sequence cut at the end of the sample is not evidence against UTF-8.
  let end = head.length;
  for (let back = 1; back <= 3 && end - back >= 0; back++) {
    const b = head[end - back]!;
    if ((b & 0xc0) === 0xc0) {
      end -= back;
      break;
    }
    if ((b & 0x80) === 0) break;
  }
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(head.subarray(0, end));
    return 'utf-8';
  } catch {
    return 'windows-1252';
  }
}

/**
 * What stands in the decoded text for a byte sequence that is not valid in its charset, when {@link DecodeOptions}
 * asks for marks: a lone low surrogate, which no valid input decodes to, so a reader can find it and reject the
 * record that holds it, where U+FFFD could also be a character the file really holds.
 */
export const INVALID_MARK = '\uDFFF';

/** How {@link decodeText} treats bytes that are not valid in the charset (UTF-8: overlong, truncated, stray). */
export interface DecodeOptions {
  /**
   * `mark`: each invalid sequence becomes {@link INVALID_MARK}; `replace`: it becomes U+FFFD, as text decoders
   * do. @default 'replace'
   */
  readonly invalid?: 'mark' | 'replace';
  /** Called with the number of invalid sequences found in each piece that holds any. */
  readonly onInvalid?: (count: number) => void;
}

/**
 * Where the last UTF-8 sequence of `bytes` that is cut short starts (the length of `bytes` when none is), so that
 * the bytes before end between two characters.
 */
function wholeCharacters(bytes: Uint8Array): number {
  const end = bytes.length;
  for (let back = 1; back <= 3 && end - back >= 0; back++) {
    const b = bytes[end - back]!;
    if ((b & 0xc0) === 0x80) continue;
    return sequenceLength(b) > back ? end - back : end;
  }
  return end;
}

/** Bytes a UTF-8 sequence takes by its lead byte (0 for a continuation or invalid byte). */
function sequenceLength(lead: number): number {
  if (lead < 0x80) return 1;
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 0;
}

/**
 * Tells whether pieces of a UTF-8 stream are valid, a sequence cut between two pieces included, with Node's
 * native check (fast enough to run on every piece).
 */
class Utf8Validity {
  /** The start of a sequence cut at the end of the last piece. */
  #carry: number[] = [];
  #need = 0;

  /** True when `bytes`, after what came before, holds no invalid sequence. */
  valid(bytes: Uint8Array): boolean {
    let from = 0;
    let ok = true;
    if (this.#need > 0) {
      const take = Math.min(this.#need - this.#carry.length, bytes.length);
      for (let i = 0; i < take; i++) this.#carry.push(bytes[i]!);
      from = take;
      if (this.#carry.length < this.#need) return true;
      ok = isUtf8(Uint8Array.from(this.#carry));
      this.#carry = [];
      this.#need = 0;
    }
    // A sequence cut at the end is kept for the next piece.
    let end = bytes.length;
    for (let back = 1; back <= 3 && end - back >= from; back++) {
      const b = bytes[end - back]!;
      if ((b & 0xc0) === 0x80) continue;
      const len = sequenceLength(b);
      if (len > back) {
        this.#need = len;
        this.#carry = Array.from(bytes.subarray(end - back));
        end -= back;
      }
      break;
    }
    return isUtf8(bytes.subarray(from, end)) && ok;
  }

  /** True when the stream did not end inside a sequence. */
  end(): boolean {
    const ok = this.#need === 0;
    this.#carry = [];
    this.#need = 0;
    return ok;
  }
}

/** Occurrences of one character in a text. */
function countChar(text: string, c: string): number {
  let n = 0;
  for (let at = text.indexOf(c); at !== -1; at = text.indexOf(c, at + 1)) n++;
  return n;
}

/** UTF-16 code units equal to `unit` (read as little-endian) at even offsets of the stream, in `bytes` from `offset`. */
function utf16Units(bytes: Uint8Array, offset: number, unit: number): number {
  let n = 0;
  for (let i = offset % 2; i + 1 < bytes.length; i += 2) if ((bytes[i]! | (bytes[i + 1]! << 8)) === unit) n++;
  return n;
}

/** U+FFFD the bytes EF BF BD of a valid piece stand for (as opposed to those that replaced invalid bytes). */
function realReplacementChars(bytes: Uint8Array): number {
  let n = 0;
  for (let at = bytes.indexOf(0xef); at !== -1 && at + 2 < bytes.length; at = bytes.indexOf(0xef, at + 1)) {
    if (bytes[at + 1] === 0xbf && bytes[at + 2] === 0xbd) n++;
  }
  return n;
}

/**
 * Reads a byte stream as text chunks in the given charset (`auto-detect` sniffs the first 64 KB). A leading
 * byte-order mark is dropped. Chunks are yielded as they arrive, so memory stays flat. In UTF-8, bytes that are
 * not valid are never silent: `options` says whether they are marked (for the reader to reject their record) or
 * replaced with U+FFFD, and counts them.
 */
export async function* decodeText(
  stream: Readable | AsyncIterable<Buffer | string>,
  charset = 'utf-8',
  where = 'the file',
  options: DecodeOptions = {},
): AsyncGenerator<string> {
  let validity: Utf8Validity | undefined;
  /** Fixes up a piece that held invalid bytes: marks or counts them. */
  const invalidIn = (text: string, bytes: Uint8Array): string => {
    const real = realReplacementChars(bytes);
    let found = 0;
    for (let at = text.indexOf('\uFFFD'); at !== -1; at = text.indexOf('\uFFFD', at + 1)) found++;
    options.onInvalid?.(Math.max(1, found - real));
    // A U+FFFD written in the file and an invalid sequence in one piece cannot be told apart: both are marked.
    return options.invalid === 'mark' ? text.replaceAll('\uFFFD', INVALID_MARK) : text;
  };
  const wanted = charset.toLowerCase();
  let decoder: TextDecoder | undefined;
  if (wanted !== 'auto-detect' && wanted !== 'auto') {
    const label = CHARSETS[wanted];
    if (!label) {
      throw new IdxError('IDX_CHARSET_UNKNOWN', `cannot read ${where}: unknown character set "${charset}"`, {
        expected: CHARSET_NAMES.join(', '),
        received: JSON.stringify(charset),
      });
    }
    decoder = new TextDecoder(label);
  }
  let head: Buffer[] = [];
  let headBytes = 0;
  /**
   * Valid UTF-8 skips the text decoder: it gives two-byte strings (UTF-16) even for text whose every character fits
   * in one byte, and every cell parsed from such text stays two bytes a character (twice the heap) through the
   * steps that follow. Decoding costs the same either way (measured on the benchmark's CSV). The first invalid
   * piece, and everything after it, goes through the text decoder as before.
   */
  let fast: { lines: LineDecoder; carry?: Buffer; start: boolean } | undefined;
  /** Bytes decoded so far (UTF-16 code units start at even offsets). */
  let offset = 0;
  /** Decodes `bytes` in pieces of at most {@link DECODE_BYTES}. */
  function* pieces(active: TextDecoder, bytes: Buffer): Generator<string> {
    if (!validity && active.encoding === 'utf-8') {
      validity = new Utf8Validity();
      fast = { lines: new LineDecoder(), start: true };
    }
    if (fast) {
      let at = 0;
      for (; at < bytes.length; at += DECODE_BYTES) {
        let piece = bytes.subarray(at, at + DECODE_BYTES);
        if (fast.carry) piece = Buffer.concat([fast.carry, piece]);
        const end = wholeCharacters(piece);
        let body = piece.subarray(0, end);
        if (!isUtf8(body)) {
          // From here on through the text decoder, which has seen nothing yet: a byte-order mark is no longer
          // the file's first character.
          active = new TextDecoder('utf-8', { ignoreBOM: !fast.start });
          decoder = active;
          bytes = Buffer.concat([piece, bytes.subarray(at + DECODE_BYTES)]);
          fast = undefined;
          break;
        }
        fast.carry = end < piece.length ? Buffer.from(piece.subarray(end)) : undefined;
        if (fast.start && body.length >= 3 && body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf)
          body = body.subarray(3);
        if (body.length) fast.start = false;
        const text = fast.lines.decode(body);
        if (text) yield text;
      }
      if (fast) return;
    }
    const utf16 = active.encoding === 'utf-16le' ? 0xfffd : active.encoding === 'utf-16be' ? 0xfdff : 0;
    for (let at = 0; at < bytes.length; at += DECODE_BYTES) {
      const piece = bytes.subarray(at, at + DECODE_BYTES);
      let text = active.decode(piece, { stream: true });
      if (validity && !validity.valid(piece)) text = invalidIn(text, piece);
      // UTF-16: a lone surrogate decodes to U+FFFD; one more U+FFFD than the file writes means invalid units.
      else if (utf16 && text.includes('\uFFFD') && countChar(text, '\uFFFD') > utf16Units(piece, offset, utf16)) {
        text = invalidIn(text, new Uint8Array(0));
      }
      offset += piece.length;
      if (text) yield text;
    }
  }
  for await (const raw of stream) {
    const chunk = typeof raw === 'string' ? Buffer.from(raw) : raw;
    if (!decoder) {
      head.push(chunk);
      headBytes += chunk.length;
      if (headBytes < SNIFF_BYTES) continue;
      const joined = Buffer.concat(head);
      head = [];
      decoder = new TextDecoder(sniffCharset(joined));
      yield* pieces(decoder, joined);
      continue;
    }
    yield* pieces(decoder, chunk);
  }
  if (!decoder) {
    const joined = Buffer.concat(head);
    decoder = new TextDecoder(sniffCharset(joined));
    yield* pieces(decoder, joined);
  }
  if (fast?.carry) {
    // The file ends inside a character: the text decoder says how.
    const carry = fast.carry;
    decoder = new TextDecoder('utf-8', { ignoreBOM: !fast.start });
    fast = undefined;
    yield* pieces(decoder, carry);
  }
  let rest = decoder.decode();
  // A file that ends inside a multi-byte sequence (UTF-8), or on half a code unit or a lone surrogate (UTF-16).
  if (validity && !validity.end()) rest = invalidIn(rest, new Uint8Array(0));
  else if (!validity && rest.includes('\uFFFD')) rest = invalidIn(rest, new Uint8Array(0));
  if (rest) yield rest;
}

/** Turns the escapes `\t`, `\n`, `\r` and `\\` written as text in a param into the characters they name. */
export function unescapeControl(text: string): string {
  if (!text.includes('\\')) return text;
  return text.replace(/\\([tnr\\])/g, (_m, c: string) =>
    c === 't' ? '\t' : c === 'n' ? '\n' : c === 'r' ? '\r' : '\\',
  );
}

/**
 * Thrown inside a parser when the job's record limit is reached (StepOutput.remaining is 0): the parser catches it
 * and stops reading, closing the file, so what the limit leaves unread is neither downloaded nor parsed.
 */
export class RecordLimitReached extends Error {
  constructor() {
    super("the job's record limit is reached");
    this.name = 'RecordLimitReached';
  }
}
