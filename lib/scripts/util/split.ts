/**
 * Cuts a byte stream into chunks that end on a record boundary, so that each chunk can be parsed on its own by a
 * parallel lane. NDJSON ends a record at every line feed. Delimiter-separated text ends a row at a line feed
 * outside quotes; the splitter follows the quotes the way the DSV parser reads them, and where the text is not
 * regular enough to be sure (a quote inside an unquoted cell, text after a closing quote, a quote that does not
 * close within the chunk limit) it stops cutting and hands the rest of the file on as one piece, which is then
 * read exactly as a single parser would read it.
 */
import type { SplitSyntax } from '../../core/script.ts';

/** A piece of input that ends on a record boundary (or is the end of its file). */
export interface Chunk {
  /** The bytes. */
  readonly data: Buffer;
  /** The line the chunk starts on, counted from 1 at the start of the file (line feeds). */
  readonly firstLine: number;
}

/** What a splitter produces: chunks, then possibly the rest of the file that could not be cut. */
export type SplitItem =
  | { readonly kind: 'chunk'; readonly chunk: Chunk }
  | { readonly kind: 'rest'; readonly rest: Rest };

/** The rest of a file handed on as one piece: its first line and its bytes as they keep arriving. */
export interface Rest {
  readonly firstLine: number;
  readonly data: AsyncIterable<Buffer>;
}

/** Bytes per chunk the splitters aim at. */
export const CHUNK_BYTES = 1 << 20;

/**
 * Gives the memory a chunk of `size` bytes is copied into: memory of the chunk's own unless the caller has a
 * place for it (the lanes' shared slots). It must not be in use by anything else until the chunk is done.
 */
export type ChunkMemory = (size: number) => Buffer;

/** Memory of the chunk's own, which can be transferred to another thread as it is. */
const ownMemory: ChunkMemory = (size) => Buffer.allocUnsafeSlow(size);

const LF = 10;

/** Counts line feeds in `data` between `from` and `to`. */
export function countLines(data: Uint8Array, from = 0, to = data.length): number {
  let n = 0;
  let at = data.indexOf(LF, from);
  while (at !== -1 && at < to) {
    n++;
    at = data.indexOf(LF, at + 1);
  }
  return n;
}

/**
 * Cuts NDJSON into chunks of whole lines of at most `target` bytes (a longer line is a chunk of its own), each
 * copied into memory from `memory`. A piece of input larger than `target` is cut into several chunks.
 */
export async function* ndjsonChunks(
  stream: AsyncIterable<Buffer | string>,
  target = CHUNK_BYTES,
  memory: ChunkMemory = ownMemory,
): AsyncGenerator<Chunk> {
  const win = new Window();
  let line = 1;
  /** Where the search for the end of a line longer than `target` goes on. */
  let searched = target;
  for await (const raw of stream) {
    win.push(typeof raw === 'string' ? Buffer.from(raw) : raw);
    while (win.size >= target) {
      const flat = win.flat;
      let end = flat.lastIndexOf(LF, target - 1) + 1;
      if (end === 0) {
        end = flat.indexOf(LF, searched) + 1;
        if (end === 0) {
          searched = win.size;
          break;
        }
      }
      searched = target;
      const data = win.take(end, memory);
      yield { data, firstLine: line };
      line += countLines(data);
    }
  }
  if (win.size > 0) yield { data: win.take(win.size, memory), firstLine: line };
}

/** True when the splitter can follow this dialect byte by byte (one-byte quote and escape, ASCII separator). */
export function splittable(syntax: SplitSyntax): boolean {
  const ascii = (s: string) => [...s].every((c) => c.charCodeAt(0) < 128);
  return (
    syntax.separator.length > 0 &&
    ascii(syntax.separator) &&
    !syntax.separator.includes('\n') &&
    !syntax.separator.includes('\r') &&
    syntax.quote.length === 1 &&
    ascii(syntax.quote) &&
    syntax.escape.length === 1 &&
    ascii(syntax.escape)
  );
}

/**
 * A pending region of bytes that grows as data arrives; offsets are relative to its start. The bytes sit in one
 * buffer that is reused, and each piece taken is copied out into memory of its own (by default a buffer that can
 * be transferred to another thread as it is): the only garbage left behind is the input's own chunks.
 */
class Window {
  #buf = Buffer.allocUnsafeSlow(0);
  size = 0;

  push(b: Uint8Array): void {
    if (this.size + b.length > this.#buf.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(this.size + b.length, this.#buf.length * 2, 64 * 1024));
      this.#buf.copy(grown, 0, 0, this.size);
      this.#buf = grown;
    }
    this.#buf.set(b, this.size);
    this.size += b.length;
  }

  /** The pending bytes (a view, valid until the next push or take). */
  get flat(): Buffer {
    return this.#buf.subarray(0, this.size);
  }

  /** Removes and returns the first `end` bytes, copied into memory from `memory`. */
  take(end: number, memory: ChunkMemory = ownMemory): Buffer {
    const head = memory(end);
    this.#buf.copy(head, 0, 0, end);
    this.#buf.copyWithin(0, end, this.size);
    this.size -= end;
    return head;
  }
}

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const CR = 13;

/** Follows the quotes of delimiter-separated text through a window that starts on a row boundary. */
class QuoteFollower {
  /** Next byte to look at. */
  pos = 0;
  inQuote = false;
  readonly #q: number;
  readonly #e: number;
  readonly #doubled: boolean;
  readonly #sep: Buffer;

  constructor(syntax: SplitSyntax) {
    this.#q = syntax.quote.charCodeAt(0);
    this.#e = syntax.escape.charCodeAt(0);
    this.#doubled = this.#q === this.#e;
    this.#sep = Buffer.from(syntax.separator);
  }

  reset(): void {
    this.pos = 0;
    this.inQuote = false;
  }

  /** True when a quote at `i` opens a quoted cell: at the start of the text or a line, or after a separator. */
  #cellStart(data: Buffer, i: number, start: number): boolean {
    if (i === start || data[i - 1] === LF) return true;
    const n = this.#sep.length;
    return i - n >= start && data.compare(this.#sep, 0, n, i - n, i) === 0;
  }

  /** Reads on inside a quoted cell up to its closing quote. */
  #close(data: Buffer, ended: boolean): 'ok' | 'more' | 'irregular' {
    const q = this.#q;
    const at = data.indexOf(q, this.pos);
    if (!this.#doubled) {
      const esc = data.indexOf(this.#e, this.pos);
      if (esc !== -1 && (at === -1 || esc < at)) {
        if (esc + 1 >= data.length) {
          this.pos = ended ? data.length : esc;
          return 'more';
        }
        const next = data[esc + 1];
        this.pos = next === q || next === this.#e ? esc + 2 : esc + 1;
        return 'ok';
      }
    }
    if (at === -1) {
      this.pos = data.length;
      return 'more';
    }
    if (at + 1 >= data.length) {
      if (!ended) {
        this.pos = at;
        return 'more';
      }
      this.inQuote = false;
      this.pos = at + 1;
      return 'ok';
    }
    const next = data[at + 1];
    if (this.#doubled && next === q) {
      this.pos = at + 2;
      return 'ok';
    }
    const n = this.#sep.length;
    if (next !== LF && next !== CR) {
      if (at + 1 + n > data.length) {
        if (ended) return 'irregular';
        this.pos = at;
        return 'more';
      }
      if (data.compare(this.#sep, 0, n, at + 1, at + 1 + n) !== 0) return 'irregular';
    }
    this.inQuote = false;
    this.pos = at + 1;
    return 'ok';
  }

  /**
   * The first line feed outside quotes at or after `from`, following every quote before it; `more` when the
   * data ends first, `irregular` when the quotes are not regular. `start` is where the text begins (after a BOM).
   */
  find(data: Buffer, from: number, start: number, ended: boolean): number | 'more' | 'irregular' {
    const q = this.#q;
    for (;;) {
      if (this.inQuote) {
        const r = this.#close(data, ended);
        if (r !== 'ok') return r;
        continue;
      }
      const qn = data.indexOf(q, this.pos);
      if (this.pos >= from) {
        const nl = data.indexOf(LF, this.pos);
        if (nl !== -1 && (qn === -1 || nl < qn)) return nl;
        if (qn === -1) {
          this.pos = data.length;
          return 'more';
        }
      } else if (qn === -1 || qn >= from) {
        this.pos = from;
        continue;
      }
      if (!this.#cellStart(data, qn, start)) return 'irregular';
      this.inQuote = true;
      this.pos = qn + 1;
    }
  }
}

/**
 * Cuts delimiter-separated text into chunks of whole rows of about `target` bytes. The header row (when the
 * syntax has one) goes to `onHeader` with the number of lines it spans, and is not part of any chunk. When the
 * quotes cannot be followed with certainty, or `limit` bytes pass without a row boundary, the rest of the file
 * comes as one `rest` item whose data is the remaining bytes, streamed. Chunks are copied into memory from
 * `memory`; the header and the rest, into memory of their own.
 */
export async function* dsvChunks(
  stream: AsyncIterable<Buffer | string>,
  syntax: SplitSyntax,
  onHeader: (header: Buffer, lines: number) => void,
  target = CHUNK_BYTES,
  limit = 16 * target,
  memory: ChunkMemory = ownMemory,
): AsyncGenerator<SplitItem> {
  const follower = new QuoteFollower(syntax);
  const win = new Window();
  const iterator = stream[Symbol.asyncIterator]();
  let ended = false;
  let line = 1;
  let needHeader = syntax.header;
  let atFileStart = true;

  const more = async (): Promise<void> => {
    const r = await iterator.next();
    if (r.done) ended = true;
    else win.push(typeof r.value === 'string' ? Buffer.from(r.value) : r.value);
  };
  async function* remaining(): AsyncGenerator<Buffer> {
    if (win.size) yield win.take(win.size);
    while (!ended) {
      await more();
      if (win.size) yield win.take(win.size);
    }
  }
  const fallBack = (): SplitItem => ({ kind: 'rest', rest: { firstLine: line, data: remaining() } });

  for (;;) {
    if (!ended && win.size < (needHeader ? 3 : target)) {
      await more();
      continue;
    }
    if (win.size === 0) return;
    const data = win.flat;
    const start = atFileStart && data.length >= 3 && data.compare(BOM, 0, 3, 0, 3) === 0 ? 3 : 0;
    const found = follower.find(data, needHeader ? start : Math.min(target, data.length), start, ended);
    if (found === 'irregular') {
      yield fallBack();
      return;
    }
    if (found === 'more') {
      if (!ended) {
        if (win.size > limit) {
          yield fallBack();
          return;
        }
        await more();
        continue;
      }
      // The end of the file: the last rows, unless a quote is left open.
      if (follower.inQuote) {
        yield fallBack();
        return;
      }
      const last = win.take(win.size, needHeader ? ownMemory : memory);
      if (needHeader) onHeader(last, countLines(last));
      else yield { kind: 'chunk', chunk: { data: last, firstLine: line } };
      return;
    }
    const piece = win.take(found + 1, needHeader ? ownMemory : memory);
    follower.reset();
    atFileStart = false;
    const lines = countLines(piece);
    if (needHeader) {
      needHeader = false;
      onHeader(piece, lines);
    } else yield { kind: 'chunk', chunk: { data: piece, firstLine: line } };
    line += lines;
  }
}
