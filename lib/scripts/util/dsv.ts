/**
 * Delimiter-separated values: a streaming parser and a cell formatter. The parser is fed decoded text in chunks
 * of any size and reports rows as arrays of cells with the line each row starts on; malformed rows are reported
 * with their raw text and parsing goes on at the next line, so one bad row never costs the rest of a file.
 *
 * Dialect: cells are separated by `separator` (any non-empty string); a cell may be wrapped in `quote`; inside a
 * quoted cell the quote is written doubled when `escape` equals `quote` (RFC 4180), or preceded by `escape`
 * otherwise (`escape` also escapes itself; before any other character it is kept literally). A quote inside an
 * unquoted cell is kept as text, as spreadsheets do. Rows end with LF or CRLF; a file whose first line break is a
 * lone CR uses CR. Blank lines are skipped.
 */
import type { ScriptCheckProblem } from '../../core/script.ts';
import { unescapeControl } from './io.ts';

/** The characters of a DSV dialect. */
export interface DsvSyntax {
  readonly separator: string;
  readonly quote: string;
  readonly escape: string;
}

/** A cell as parsed: text, or the value chosen for an unquoted empty cell. */
export type DsvCell = string | null | undefined;

/** A row the parser could not read. */
export interface DsvProblem {
  readonly code: 'IDX_DSV_QUOTE' | 'IDX_DSV_ROW_TOO_LONG';
  readonly message: string;
  /** The line the row starts on (1-based). */
  readonly line: number;
  /** The row's text as found, cut at {@link MAX_RAW_CHARS}. */
  readonly raw: string;
}

/** Receives what the parser reads. */
export interface DsvRowSink {
  /**
   * A row; `start` and `end` locate its text for {@link DsvParser.raw} during this call. A row with more cells
   * than `maxColumns` brings only the first `maxColumns + 1` of them, and its real count in `columns`.
   */
  row(cells: DsvCell[], line: number, start: number, end: number, columns?: number): void;
  malformed(problem: DsvProblem): void;
}

/** Options of {@link DsvParser}. */
export interface DsvParserOptions {
  /** What an unquoted empty cell becomes (a quoted `""` is always the empty string). @default '' */
  readonly unquotedEmpty?: '' | null | undefined;
  /**
   * Longest row, in characters, kept while looking for its end. A longer row is reported as malformed
   * (`IDX_DSV_ROW_TOO_LONG`, with its first {@link MAX_RAW_CHARS} characters) and skipped up to its end without
   * being kept, so memory stays bounded and time linear whatever the file. @default 64 Mi characters
   */
  readonly maxRowChars?: number;
  /**
   * Cells split out of one row at most: a row with more brings `maxColumns + 1` cells and its real count, so a
   * line of millions of one-character cells never becomes millions of strings. May be changed with
   * {@link DsvParser.maxColumns} once the header is known. @default 16384 (the column limit of spreadsheets)
   */
  readonly maxColumns?: number;
  /** The line number of the first line of the text (a chunk of a larger file starts further on). @default 1 */
  readonly firstLine?: number;
}

/** Rejected rows keep at most this much of their text. */
export const MAX_RAW_CHARS = 10_000;

const INCOMPLETE = -1;

/** Where a skipped over-long row stands (see {@link DsvParser.push}). */
enum Skip {
  /** Not skipping. */
  None,
  /** Skipping to the next line break, whatever the quotes (an opening quote that was never closed). */
  Line,
  /** At the start of a cell of a skipped row. */
  CellStart,
  /** Inside an unquoted cell of a skipped row. */
  Unquoted,
  /** Inside a quoted cell of a skipped row. */
  Quoted,
  /** After a quote inside a quoted cell: a second quote keeps the cell open, anything else closes it. */
  QuoteInQuoted,
  /** After an escape character inside a quoted cell. */
  Escaped,
}

/** An incomplete row longer than this is kept as pieces until it ends, not as one growing text. */
const LONG_ROW = 65_536;

/** The default of {@link DsvParserOptions.maxRowChars}. */
export const DEFAULT_MAX_ROW_CHARS = 64 * 1024 * 1024;
/** The default of {@link DsvParserOptions.maxColumns}. */
export const DEFAULT_MAX_COLUMNS = 16_384;

/** A streaming DSV parser. */
export class DsvParser {
  readonly #sep: string;
  readonly #sepLen: number;
  readonly #quote: string;
  readonly #q: number;
  readonly #escape: string;
  readonly #e: number;
  readonly #doubled: boolean;
  readonly #empty: '' | null | undefined;
  readonly #maxRow: number;
  #maxCols: number;
  readonly #sink: DsvRowSink;
  #skip: Skip = Skip.None;
  /** The pieces of a long row not complete yet (see {@link pushPending}). */
  #pending: string[] | undefined;
  #pendingLength = 0;
  #pendingState: Skip = Skip.CellStart;
  /** Line breaks inside the pieces kept. */
  #pendingLines = 0;
  /** The line the row being skipped starts on. */
  #skipLine = 0;
  #buf = '';
  #line = 1;
  #nl = '';
  #nlCode = 10;
  #minParse = 0;
  /** The text being scanned, for {@link raw}. */
  #text = '';

  constructor(syntax: DsvSyntax, sink: DsvRowSink, options: DsvParserOptions = {}) {
    if (!syntax.separator) throw new Error('the column separator must not be empty');
    this.#sep = syntax.separator;
    this.#sepLen = syntax.separator.length;
    this.#quote = syntax.quote;
    this.#q = syntax.quote ? syntax.quote.charCodeAt(0) : -2;
    this.#escape = syntax.escape || syntax.quote;
    this.#e = this.#escape ? this.#escape.charCodeAt(0) : -2;
    this.#doubled = this.#escape === this.#quote;
    this.#empty = 'unquotedEmpty' in options ? options.unquotedEmpty : '';
    this.#maxRow = options.maxRowChars ?? DEFAULT_MAX_ROW_CHARS;
    this.#maxCols = options.maxColumns ?? DEFAULT_MAX_COLUMNS;
    this.#line = options.firstLine ?? 1;
    this.#sink = sink;
  }

  /** The text of the row being reported (between the `start` and `end` given to `row`), without its line break. */
  raw(start: number, end: number): string {
    let stop = Math.min(end, start + MAX_RAW_CHARS);
    while (stop > start && (this.#text.charCodeAt(stop - 1) === 10 || this.#text.charCodeAt(stop - 1) === 13)) stop--;
    return this.#text.slice(start, stop);
  }

  /** The line the next row starts on. */
  get line(): number {
    return this.#line;
  }

  /** Cells split out of a row at most from now on (the header's count, once it is read). */
  set maxColumns(value: number) {
    this.#maxCols = value;
  }

  /**
   * Feeds text; complete rows are reported before it returns. Text is kept only while a row is incomplete and no
   * longer than the row limit; each character is looked at a bounded number of times (a row is scanned again
   * only once its text has doubled), so time is linear in the input.
   */
  push(text: string): void {
    if (!text) return;
    if (this.#skip !== Skip.None) {
      text = this.#skipRow(text);
      if (!text) return;
    }
    if (this.#pending) {
      this.#pushPending(text);
      return;
    }
    const had = this.#buf.length;
    this.#buf = had ? this.#buf + text : text;
    if (!this.#nl) {
      // No line break seen yet: only the new text can hold the first one.
      const lf = text.indexOf('\n');
      const cr = text.indexOf('\r');
      if (lf === -1 && cr === -1) {
        if (this.#buf.length > this.#maxRow) this.#tooLong(this.#buf, 0, Skip.Line);
        else if (this.#buf.length > LONG_ROW) this.#startPending(this.#buf, Skip.Line);
        return;
      }
    }
    if (this.#buf.length < this.#minParse) return;
    this.#parse(false);
  }

  /** Ends the input: the last row may lack its line break; an unclosed quote is reported. */
  end(): void {
    if (this.#pending) {
      this.#buf = this.#pending.join('');
      this.#pending = undefined;
    }
    if (this.#skip === Skip.None) this.#parse(true);
    else if (this.#skip === Skip.Quoted || this.#skip === Skip.Escaped) {
      // What followed the over-long row was skipped with it: said, not silent.
      this.#sink.malformed({
        code: 'IDX_DSV_QUOTE',
        message: `the quoted value of the over-long row on line ${this.#skipLine} is never closed: lines ${this.#skipLine} to ${this.#line} were skipped with it`,
        line: this.#skipLine,
        raw: '',
      });
    }
    this.#skip = Skip.None;
    this.#buf = '';
  }

  /**
   * Reports the row starting at `rowStart` of `s` as too long, then skips it: to its end (quotes followed) or,
   * with `mode` Line, to the next line break; the text after its end is parsed on.
   */
  #tooLong(s: string, rowStart: number, mode: Skip): void {
    this.#sink.malformed({
      code: 'IDX_DSV_ROW_TOO_LONG',
      message: `the row is longer than ${this.#maxRow} characters (the step's maxLineLength); it is skipped`,
      line: this.#line,
      raw: s.slice(rowStart, rowStart + MAX_RAW_CHARS),
    });
    this.#buf = '';
    this.#minParse = 0;
    this.#skip = mode;
    this.#skipLine = this.#line;
    const rest = this.#skipRow(rowStart === 0 ? s : s.slice(rowStart));
    if (rest) this.push(rest);
  }

  /** Reports a complete row longer than the limit (all its text arrived at once). */
  #rowTooLong(s: string, rowStart: number, line: number): void {
    this.#sink.malformed({
      code: 'IDX_DSV_ROW_TOO_LONG',
      message: `the row is longer than ${this.#maxRow} characters (the step's maxLineLength)`,
      line,
      raw: s.slice(rowStart, rowStart + MAX_RAW_CHARS),
    });
  }

  /** Skips the text of an over-long row; returns what follows its end ('' while it goes on). */
  #skipRow(text: string): string {
    const { end, state } = this.#rowEnd(text, this.#skip, true);
    if (end === -1) {
      this.#skip = state;
      return '';
    }
    this.#skip = Skip.None;
    return text.slice(end);
  }

  /**
   * Follows a row through `text` from `from` (where the row stood at the end of the text before): returns the
   * position just after the line break that ends it, or -1 with the state to go on from. `skipping` counts the
   * lines passed and lets the first line break seen decide the file's, when none is known yet.
   */
  #rowEnd(text: string, from: Skip, skipping: boolean): { end: number; state: Skip; lines: number } {
    const nlCode = this.#nlCode;
    const nl = this.#nl;
    let state = from;
    if (state === Skip.Line || !nl) {
      // Any line break ends it: the first one seen also decides the file's line break, if none is known yet.
      const lf = text.indexOf('\n');
      const cr = nl === '\n' ? -1 : text.indexOf('\r');
      let at = lf === -1 ? cr : cr === -1 ? lf : Math.min(lf, cr);
      if (at === -1) return { end: -1, state, lines: 0 };
      if (!nl && skipping) {
        this.#nl = text[at] === '\r' && text[at + 1] !== '\n' ? '\r' : '\n';
        this.#nlCode = this.#nl.charCodeAt(0);
        if (this.#nl === '\n') at = text.indexOf('\n', at);
        if (at === -1) return { end: -1, state, lines: 0 };
      }
      if (skipping) this.#line++;
      return { end: at + 1, state: Skip.None, lines: 0 };
    }
    const q = this.#q;
    const e = this.#e;
    const doubled = this.#doubled;
    const sepCode = this.#sep.charCodeAt(0);
    const n = text.length;
    let lines = 0;
    for (let i = 0; i < n; i++) {
      const c = text.charCodeAt(i);
      if (state === Skip.Quoted) {
        if (c === q) state = doubled ? Skip.QuoteInQuoted : Skip.Unquoted;
        else if (!doubled && c === e) state = Skip.Escaped;
        else if (c === nlCode) lines++;
        continue;
      }
      if (state === Skip.Escaped) {
        state = Skip.Quoted;
        if (c === nlCode) lines++;
        continue;
      }
      if (state === Skip.QuoteInQuoted && c === q) {
        state = Skip.Quoted;
        continue;
      }
      // At a cell start, or in an unquoted cell, or just after a closing quote.
      if (c === nlCode) {
        if (skipping) this.#line += lines + 1;
        return { end: i + 1, state: Skip.None, lines };
      }
      if (c === sepCode && this.#sepLen === 1) state = Skip.CellStart;
      else if (c === sepCode && text.startsWith(this.#sep, i)) {
        state = Skip.CellStart;
        i += this.#sepLen - 1;
      } else state = state === Skip.CellStart && c === q ? Skip.Quoted : Skip.Unquoted;
    }
    if (skipping) this.#line += lines;
    return { end: -1, state, lines };
  }

  /**
   * Keeps the text of a long incomplete row as the pieces it came in, following it to its end with
   * {@link rowEnd}: the row is joined once, when complete (neither copied nor rescanned as it grows), and
   * dropped as soon as it passes the row limit.
   */
  #pushPending(text: string): void {
    const parts = this.#pending!;
    const { end, state, lines } = this.#rowEnd(text, this.#pendingState, false);
    if (end === -1) {
      parts.push(text);
      this.#pendingLength += text.length;
      this.#pendingState = state;
      this.#pendingLines += lines;
      if (this.#pendingLength > this.#maxRow) {
        this.#pending = undefined;
        let head = '';
        for (const part of parts) {
          head += part.slice(0, MAX_RAW_CHARS - head.length);
          if (head.length >= MAX_RAW_CHARS) break;
        }
        this.#sink.malformed({
          code: 'IDX_DSV_ROW_TOO_LONG',
          message: `the row is longer than ${this.#maxRow} characters (the step's maxLineLength); it is skipped`,
          line: this.#line,
          raw: head,
        });
        this.#skip = state === Skip.None ? Skip.CellStart : state;
        this.#skipLine = this.#line;
        // The line breaks inside the pieces dropped are passed.
        this.#line += this.#pendingLines;
      }
      return;
    }
    this.#pending = undefined;
    parts.push(text.slice(0, end));
    this.#buf = parts.join('');
    // The pieces can go while the joined row is parsed.
    parts.length = 0;
    this.#minParse = 0;
    this.#parse(false);
    if (end < text.length) this.push(text.slice(end));
  }

  /** Starts keeping a long incomplete row in pieces; false when `rest` already holds its end. */
  #startPending(rest: string, state: Skip): boolean {
    const found = this.#rowEnd(rest, state, false);
    if (found.end !== -1) return false;
    this.#pending = [rest];
    this.#pendingLength = rest.length;
    this.#pendingState = found.state;
    this.#pendingLines = found.lines;
    this.#buf = '';
    this.#minParse = 0;
    return true;
  }

  #detectNewline(s: string): boolean {
    if (this.#nl) return true;
    // Only a break outside quotes counts, but a header row rarely holds quotes; good enough to pick CR vs LF.
    const lf = s.indexOf('\n');
    const cr = s.indexOf('\r');
    if (lf === -1 && cr === -1) return false;
    if (cr !== -1 && (lf === -1 || cr < lf - 1)) {
      this.#nl = '\r';
      this.#nlCode = 13;
    } else {
      this.#nl = '\n';
      this.#nlCode = 10;
    }
    return true;
  }

  #parse(final: boolean): void {
    let s = this.#buf;
    if (!this.#detectNewline(s)) {
      if (!final) return;
      this.#nl = '\n';
    }
    for (;;) {
      const stop = this.#scan(s, final);
      if (stop.kind === 'done') {
        if (!final && stop.rest.length > this.#maxRow) {
          // Skipped to its real end, quotes followed: a quoted value may hold line breaks.
          this.#tooLong(stop.rest, 0, Skip.CellStart);
          return;
        }
        if (!final && stop.rest.length > LONG_ROW && this.#startPending(stop.rest, Skip.CellStart)) return;
        this.#buf = stop.rest;
        // Scanned again once doubled (linear time), but never kept beyond the row limit.
        this.#minParse = stop.rest.length > LONG_ROW ? Math.min(stop.rest.length * 2, this.#maxRow + 1) : 0;
        return;
      }
      // An opening quote that never closes: reject the line it opened on and read on from the next line.
      s = s.slice(stop.rowStart);
      const from = stop.quoteAt - stop.rowStart;
      const nlAt = s.indexOf(this.#nl, from);
      if (nlAt === -1) {
        if (!final && s.length <= this.#maxRow) {
          this.#buf = s;
          this.#minParse = Math.min(s.length * 2, this.#maxRow + 1);
          return;
        }
        if (!final) {
          // Longer than a row may be, with no line break since the quote: skipped up to the next line break.
          this.#tooLong(s, 0, Skip.Line);
          return;
        }
        this.#sink.malformed({
          code: 'IDX_DSV_QUOTE',
          message: `the quoted value opened on line ${this.#line + count(s, this.#nl, 0, from)} is never closed`,
          line: this.#line,
          raw: s.slice(0, MAX_RAW_CHARS),
        });
        this.#buf = '';
        return;
      }
      this.#sink.malformed({
        code: 'IDX_DSV_QUOTE',
        message: final
          ? `the quoted value opened on line ${this.#line + count(s, this.#nl, 0, from)} is never closed`
          : `no closing quote within ${this.#maxRow} characters of the quoted value opened on line ${this.#line + count(s, this.#nl, 0, from)}`,
        line: this.#line,
        raw: s.slice(0, Math.min(nlAt, MAX_RAW_CHARS)),
      });
      this.#line += count(s, this.#nl, 0, nlAt) + 1;
      s = s.slice(nlAt + 1);
    }
  }

  /**
   * Reads rows from `s`. Returns the unread rest, or where an unclosed quote opened when the rest cannot be a row
   * (end of input, or longer than the row limit).
   */
  #scan(
    s: string,
    final: boolean,
  ): { kind: 'done'; rest: string } | { kind: 'unclosed'; rowStart: number; quoteAt: number } {
    const n = s.length;
    const sep = this.#sep;
    const sepLen = this.#sepLen;
    const nl = this.#nl;
    const nlCode = this.#nlCode;
    const quote = this.#quote;
    const empty = this.#empty;
    const sink = this.#sink;
    this.#text = s;
    let i = 0;
    let line = this.#line;
    let nextQuote = quote ? s.indexOf(quote) : -1;
    while (i < n) {
      const rowStart = i;
      const rowLine = line;
      let nlAt = s.indexOf(nl, i);
      if (nlAt === -1 && !final) break;
      const lineEnd = nlAt === -1 ? n : nlAt;
      if (nextQuote !== -1 && nextQuote < i) nextQuote = s.indexOf(quote, i);
      if (nextQuote === -1 || nextQuote >= lineEnd) {
        // No quote on this line: the common case, split in one native call.
        let textEnd = lineEnd;
        if (nlCode === 10 && textEnd > i && s.charCodeAt(textEnd - 1) === 13) textEnd--;
        i = lineEnd + 1;
        line++;
        if (textEnd === rowStart) continue;
        if (textEnd - rowStart > this.#maxRow) {
          this.#rowTooLong(s, rowStart, rowLine);
          continue;
        }
        const cells: DsvCell[] = s.slice(rowStart, textEnd).split(sep, this.#maxCols + 1);
        if (empty !== '') {
          for (let c = 0; c < cells.length; c++) if (cells[c] === '') cells[c] = empty;
        }
        if (cells.length > this.#maxCols) {
          sink.row(cells, rowLine, rowStart, textEnd, count(s, sep, rowStart, textEnd) + 1);
          continue;
        }
        sink.row(cells, rowLine, rowStart, textEnd);
        continue;
      }
      // A quote on this line: read cell by cell.
      const cells: DsvCell[] = [];
      /** Cells beyond `maxColumns + 1`, counted but not kept. */
      let extra = 0;
      const maxCols = this.#maxCols;
      let j = i;
      let status = 0; // 0 reading, 1 row complete, 2 malformed, INCOMPLETE
      let problem = '';
      let rowEnd = 0;
      let cellStart = i;
      while (status === 0) {
        if (j < n && s.charCodeAt(j) === this.#q) {
          cellStart = j;
          const cell = this.#quoted(s, j, final);
          if (cell.end === INCOMPLETE) {
            if (cell.unclosed) {
              if (final || n - rowStart > this.#maxRow) {
                this.#line = rowLine;
                return { kind: 'unclosed', rowStart, quoteAt: j };
              }
            }
            status = INCOMPLETE;
            break;
          }
          if (cells.length <= maxCols) cells.push(cell.value);
          else extra++;
          j = cell.end;
          if (j >= n) {
            if (!final) {
              status = INCOMPLETE;
              break;
            }
            rowEnd = n;
            status = 1;
            break;
          }
          if (s.startsWith(sep, j)) {
            j += sepLen;
            continue;
          }
          const c = s.charCodeAt(j);
          if (c === nlCode) {
            rowEnd = j + 1;
            status = 1;
          } else if (c === 13 && nlCode === 10 && s.charCodeAt(j + 1) === 10) {
            rowEnd = j + 2;
            status = 1;
          } else if (c === 13 && nlCode === 10 && j + 1 >= n && !final) {
            status = INCOMPLETE;
          } else {
            status = 2;
            problem = `unexpected text after the closing quote of column ${cells.length + extra}`;
          }
        } else {
          if (nlAt !== -1 && nlAt < j) nlAt = s.indexOf(nl, j);
          if (nlAt === -1 && !final) {
            status = INCOMPLETE;
            break;
          }
          const end = nlAt === -1 ? n : nlAt;
          const sepAt = s.indexOf(sep, j);
          if (sepAt !== -1 && sepAt < end) {
            if (cells.length <= maxCols) cells.push(sepAt === j ? empty : s.slice(j, sepAt));
            else extra++;
            j = sepAt + sepLen;
            continue;
          }
          let textEnd = end;
          if (nlCode === 10 && textEnd > j && s.charCodeAt(textEnd - 1) === 13) textEnd--;
          if (cells.length <= maxCols) cells.push(textEnd === j ? empty : s.slice(j, textEnd));
          else extra++;
          rowEnd = end + 1;
          status = 1;
        }
      }
      if (status === INCOMPLETE) {
        i = rowStart;
        line = rowLine;
        break;
      }
      if (status === 2) {
        // A quoted value that ran over line breaks before going wrong most likely opened by mistake: reject only
        // the line it opened on and read on from the next one.
        const afterOpen = s.indexOf(nl, cellStart);
        let skipTo = s.indexOf(nl, j);
        if (afterOpen !== -1 && afterOpen < j) {
          skipTo = afterOpen;
          problem = `unbalanced quote: the quoted value in column ${cells.length} is not closed on its line`;
        }
        if (skipTo === -1) {
          if (!final) {
            i = rowStart;
            line = rowLine;
            break;
          }
          skipTo = n;
        }
        sink.malformed({
          code: 'IDX_DSV_QUOTE',
          message: problem,
          line: rowLine,
          raw: s.slice(rowStart, Math.min(skipTo, rowStart + MAX_RAW_CHARS)),
        });
        line = rowLine + count(s, nl, rowStart, skipTo) + 1;
        i = skipTo + 1;
        continue;
      }
      line = rowLine + count(s, nl, rowStart, Math.min(rowEnd, n));
      i = rowEnd;
      if (rowEnd - rowStart > this.#maxRow) {
        this.#rowTooLong(s, rowStart, rowLine);
        continue;
      }
      if (cells.length > maxCols) sink.row(cells, rowLine, rowStart, rowEnd, cells.length + extra);
      else sink.row(cells, rowLine, rowStart, rowEnd);
    }
    this.#line = line;
    this.#text = '';
    return { kind: 'done', rest: i >= n ? '' : s.slice(i) };
  }

  /** Reads the quoted cell opening at `at`; `end` is INCOMPLETE when the text stops before it closes. */
  #quoted(s: string, at: number, final: boolean): { value: string; end: number; unclosed: boolean } {
    const quote = this.#quote;
    const q = this.#q;
    let value = '';
    let k = at + 1;
    if (this.#doubled) {
      // The closing quote is found first and the value cut once: building it piece by piece at each doubled
      // quote would leave a value of many megabytes as a chain of millions of pieces.
      let doubledQuotes = false;
      for (;;) {
        const close = s.indexOf(quote, k);
        if (close === -1) return { value: '', end: INCOMPLETE, unclosed: true };
        if (close + 1 >= s.length && !final) return { value: '', end: INCOMPLETE, unclosed: false };
        if (s.charCodeAt(close + 1) === q) {
          doubledQuotes = true;
          k = close + 2;
          continue;
        }
        value = doubledQuotes ? undouble(s, at + 1, close, quote) : s.slice(at + 1, close);
        return { value, end: close + 1, unclosed: false };
      }
    }
    const escapeChar = this.#escape;
    const e = this.#e;
    for (;;) {
      const close = s.indexOf(quote, k);
      let esc = s.indexOf(escapeChar, k);
      if (esc !== -1 && close !== -1 && esc > close) esc = -1;
      if (esc !== -1) {
        if (esc + 1 >= s.length) return { value: '', end: INCOMPLETE, unclosed: final };
        const next = s.charCodeAt(esc + 1);
        if (next === q || next === e) {
          value += s.slice(k, esc) + s[esc + 1];
          k = esc + 2;
        } else {
          value += s.slice(k, esc + 1);
          k = esc + 1;
        }
        continue;
      }
      if (close === -1) return { value: '', end: INCOMPLETE, unclosed: true };
      value += s.slice(k, close);
      return { value, end: close + 1, unclosed: false };
    }
  }
}

/**
 * The text of `s` between `from` and `to` with every doubled `quote` written once. Pieces are joined a few
 * dozen kilobytes at a time: `replaceAll` over a value of megabytes with millions of quotes takes seconds and
 * several times the value's size in memory; this takes one pass and about the value's size.
 */
function undouble(s: string, from: number, to: number, quote: string): string {
  const pair = quote + quote;
  const joined: string[] = [];
  let pieces: string[] = [];
  let length = 0;
  let k = from;
  for (;;) {
    const at = s.indexOf(pair, k);
    const end = at === -1 || at >= to ? to : at + 1;
    pieces.push(s.slice(k, end));
    length += end - k;
    if (length > 65_536) {
      joined.push(pieces.join(''));
      pieces = [];
      length = 0;
    }
    if (end === to) break;
    k = at + 2;
  }
  joined.push(pieces.join(''));
  return joined.length === 1 ? (joined[0] as string) : joined.join('');
}

/** Occurrences of `needle` in `s` between `from` and `to` (exclusive). */
function count(s: string, needle: string, from: number, to: number): number {
  let n = 0;
  let at = s.indexOf(needle, from);
  while (at !== -1 && at < to) {
    n++;
    at = s.indexOf(needle, at + 1);
  }
  return n;
}

/** Options of {@link DsvFormatter}. */
export interface DsvFormatterOptions extends DsvSyntax {
  /** Quote every cell (true) or only cells that need it (false). */
  readonly quoteAll: boolean;
}

/** A regular expression matching any one of `chars`. */
function anyOf(chars: readonly string[]): RegExp {
  return new RegExp(`[${chars.map((c) => c.replace(/[\\\]^-]/g, '\\$&')).join('')}]`);
}

function regexEscape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

/**
 * Formats cells. An empty string is always written quoted (`""`) and a missing value (undefined or null) as
 * nothing, so the two stay apart in the file. Objects and arrays are written as JSON.
 */
export class DsvFormatter {
  readonly #quote: string;
  readonly #quoteAll: boolean;
  /** Characters that force quotes, as one character class (the separator too when it is one character). */
  readonly #special: RegExp;
  /** A separator of several characters, searched on its own. */
  readonly #longSeparator: string | undefined;
  readonly #quoting: RegExp;
  readonly #doubled: boolean;
  readonly #inner: RegExp;
  readonly #innerWith: string;

  constructor(options: DsvFormatterOptions) {
    const q = options.quote;
    const e = options.escape || q;
    if (!q) throw new Error('the quote character must not be empty');
    this.#quote = q;
    this.#quoteAll = options.quoteAll;
    const single = [...options.separator].length === 1;
    const chars = [q, e, '\r', '\n', ...(single ? [options.separator] : [])];
    // No `u` flag: a third faster, and an astral separator then matches by its halves (quoting more, never less).
    this.#special = anyOf(chars);
    this.#longSeparator = single ? undefined : options.separator;
    this.#quoting = anyOf([q, e, '\r', '\n']);
    this.#doubled = e === q;
    this.#inner = new RegExp(`${regexEscape(e)}|${regexEscape(q)}`, 'g');
    this.#innerWith = this.#doubled ? q + q : `${e.replace(/\$/g, '$$$$')}$&`;
  }

  /**
   * The characters other than the separator that force quotes, as one regular expression, when quoting depends
   * only on them, the separator, empty text and blanks at the ends (values are not all quoted and the separator
   * is one character); else undefined. A row formatter can then test a whole row at once.
   */
  get quoting(): RegExp | undefined {
    return this.#quoteAll || this.#longSeparator !== undefined ? undefined : this.#quoting;
  }

  /** True when a text must be quoted: special characters, or blanks at either end (some readers trim them). */
  #needs(text: string): boolean {
    if (text === '') return true;
    if (isBlank(text.charCodeAt(0)) || isBlank(text.charCodeAt(text.length - 1))) return true;
    if (this.#special.test(text)) return true;
    return this.#longSeparator !== undefined && text.includes(this.#longSeparator);
  }

  /** The text of one cell, quoted as the options say; '' for a missing value. */
  cell(value: unknown): string {
    let text: string;
    if (typeof value === 'string') text = value;
    else if (value === undefined || value === null) return '';
    else if (typeof value === 'object') text = JSON.stringify(value);
    else text = String(value);
    if (this.#quoteAll || this.#needs(text)) {
      const q = this.#quote;
      if (this.#doubled) return text.indexOf(q) === -1 ? q + text + q : q + text.replaceAll(q, this.#innerWith) + q;
      return q + text.replace(this.#inner, this.#innerWith) + q;
    }
    return text;
  }
}

/** The characters JavaScript's `\s` matches. */
export function isBlank(c: number): boolean {
  if (c <= 32) return c === 32 || (c >= 9 && c <= 13);
  if (c < 0xa0) return false;
  return (
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  );
}

const NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

/** Turns a cell into a number or boolean when it is unambiguously one; anything else stays text. */
export function inferCell(text: string): unknown {
  const c = text.charCodeAt(0);
  if ((c >= 48 && c <= 57) || c === 45) {
    if (!NUMBER.test(text)) return text;
    const n = Number(text);
    // Identifiers longer than a double can hold exactly stay text rather than silently change.
    if (!Number.isFinite(n) || (Number.isInteger(n) && !Number.isSafeInteger(n))) return text;
    return n;
  }
  if (c === 116 || c === 84 || c === 102 || c === 70) {
    const lower = text.toLowerCase();
    if (lower === 'true') return true;
    if (lower === 'false') return false;
  }
  return text;
}

/** Checks the characters of a DSV dialect (shared by the parser and the formatter). */
export function checkDsvSyntax(params: {
  columnSeparator?: string | undefined;
  quoteCharacter?: string | undefined;
  escapeCharacter?: string | undefined;
}): ScriptCheckProblem[] {
  const problems: ScriptCheckProblem[] = [];
  const sep = unescapeControl(params.columnSeparator ?? ',');
  const quote = params.quoteCharacter ?? '"';
  const escapeChar = params.escapeCharacter ?? quote;
  if (sep.length === 0) {
    problems.push({
      code: 'IDX_PARAM_VALUE',
      path: 'columnSeparator',
      message: 'the column separator is empty',
      expected: 'one or more characters, e.g. "," ";" "|" or "\\t"',
      received: '""',
    });
  }
  for (const [path, value] of [
    ['quoteCharacter', quote],
    ['escapeCharacter', escapeChar],
  ] as const) {
    if ([...value].length !== 1) {
      problems.push({
        code: 'IDX_PARAM_VALUE',
        path,
        message: `${path} must be exactly one character`,
        expected: 'one character, e.g. "\\"" or "\\\\"',
        received: JSON.stringify(value),
      });
    }
  }
  if (sep && (sep.includes(quote) || sep.includes('\n') || sep.includes('\r'))) {
    problems.push({
      code: 'IDX_PARAM_VALUE',
      path: 'columnSeparator',
      message: 'the column separator cannot contain the quote character or a line break',
      expected: 'a separator distinct from the quote character and line breaks',
      received: JSON.stringify(sep),
    });
  }
  return problems;
}
