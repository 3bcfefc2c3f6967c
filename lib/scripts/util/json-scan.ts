/**
 * Finds the values of a streamed JSON document without building it: the elements of a top-level array, the
 * elements of the array under one property of a top-level object, or a sequence of top-level values. Each value
 * is handed over as its JSON text, to be parsed on its own with `JSON.parse` (far faster than a token-by-token
 * parser), so a 1 GB array never sits in memory and one bad element does not spoil the others.
 *
 * The scanner only tracks strings and bracket depth; it does not validate the inside of a value (JSON.parse
 * does). Text between values that is not JSON punctuation is a syntax error, reported with its offset.
 */

/** Which values of the document to hand over. */
export type JsonLayout =
  | { readonly kind: 'array' }
  | { readonly kind: 'values' }
  | { readonly kind: 'wrapped'; readonly key: string };

/** A syntax error between values, with its character offset in the document. */
export class JsonScanError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(`${message} at character ${offset}`);
  }
}

enum Phase {
  Start,
  ArrayNext,
  ArrayAfterValue,
  Value,
  ValuesNext,
  ObjectKey,
  ObjectKeyText,
  ObjectColon,
  ObjectValue,
  ObjectSkip,
  ObjectAfterValue,
  Done,
}

function isSpace(c: number): boolean {
  return c === 32 || c === 10 || c === 13 || c === 9 || c === 0xfeff;
}

/** A streaming value scanner; see the module comment. */
export class JsonValueScanner {
  readonly #layout: JsonLayout;
  readonly #onValue: (text: string, index: number) => void;
  #buf = '';
  /** Characters dropped from the front of the buffer so far (for offsets in messages). */
  #dropped = 0;
  #pos = 0;
  #phase = Phase.Start;
  /** Where the value or key being read starts in the buffer. */
  #start = 0;
  #depth = 0;
  #inString = false;
  #scalar = false;
  #index = 0;
  /** True once the wanted array has been read (wrapped layout). */
  #found = false;
  /** The phase to return to after a value (array elements or top-level values). */
  #after = Phase.ArrayAfterValue;

  readonly #maxValue: number;
  readonly #onTooLong: ((head: string, index: number) => void) | undefined;
  /** True while the value being read is longer than allowed: it is scanned to its end but not kept. */
  #skipping = false;
  #head = '';

  /**
   * `options.maxValueChars` bounds the text of one handed-over value: a longer one is not kept, its first
   * 10,000 characters go to `options.onTooLong` once its end is found, and the scan goes on after it.
   */
  constructor(
    layout: JsonLayout,
    onValue: (text: string, index: number) => void,
    options: { maxValueChars?: number; onTooLong?: (head: string, index: number) => void } = {},
  ) {
    this.#layout = layout;
    this.#onValue = onValue;
    this.#maxValue = options.maxValueChars ?? Number.POSITIVE_INFINITY;
    this.#onTooLong = options.onTooLong;
  }

  /** Whether the document had the expected container (false for an empty text). */
  get started(): boolean {
    return this.#phase !== Phase.Start;
  }

  push(text: string): void {
    this.#buf += text;
    this.#scan(false);
    if (this.#phase === Phase.Value && !this.#skipping && this.#pos - this.#start > this.#maxValue) {
      this.#skipping = true;
      this.#head = this.#buf.slice(this.#start, this.#start + 10_000);
    }
    // Keep only the value being read (of one too long to keep, a tail long enough to see an escaped quote).
    const keep = this.#reading() ? (this.#skipping ? Math.max(this.#start, this.#pos - 1024) : this.#start) : this.#pos;
    if (keep > 0) {
      this.#buf = this.#buf.slice(keep);
      this.#dropped += keep;
      this.#pos -= keep;
      this.#start -= keep;
    }
  }

  /** Ends the document; throws when it stops inside a value or container. */
  end(): void {
    this.#scan(true);
    const p = this.#phase;
    if (p === Phase.Start || p === Phase.Done || (p === Phase.ValuesNext && !this.#reading())) return;
    throw new JsonScanError('the JSON text ends before its last value or bracket is closed', this.#dropped + this.#pos);
  }

  #reading(): boolean {
    return this.#phase === Phase.Value || this.#phase === Phase.ObjectKeyText || this.#phase === Phase.ObjectSkip;
  }

  #fail(message: string): never {
    throw new JsonScanError(message, this.#dropped + this.#pos);
  }

  #beginValue(emit: boolean, after: Phase): void {
    const c = this.#buf.charCodeAt(this.#pos);
    this.#start = this.#pos;
    this.#depth = 0;
    this.#inString = false;
    this.#scalar = !(c === 123 || c === 91 || c === 34);
    this.#after = after;
    this.#phase = emit ? Phase.Value : Phase.ObjectSkip;
  }

  /** Advances through the current value; returns true when it is complete. */
  #scanValue(final: boolean): boolean {
    const s = this.#buf;
    const n = s.length;
    let pos = this.#pos;
    if (this.#scalar) {
      while (pos < n) {
        const c = s.charCodeAt(pos);
        if (c === 44 || c === 93 || c === 125 || isSpace(c)) break;
        pos++;
      }
      this.#pos = pos;
      return pos < n || final;
    }
    let depth = this.#depth;
    let inString = this.#inString;
    while (pos < n) {
      if (inString) {
        const q = s.indexOf('"', pos);
        if (q === -1) {
          pos = n;
          break;
        }
        let backslashes = 0;
        for (let b = q - 1; b >= pos && s.charCodeAt(b) === 92; b--) backslashes++;
        // A run of backslashes may have started before `pos` in an earlier call: count from the string start.
        if (backslashes === q - pos) {
          for (let b = pos - 1; b > this.#start && s.charCodeAt(b) === 92; b--) backslashes++;
        }
        pos = q + 1;
        if (backslashes % 2 === 1) continue;
        inString = false;
        if (depth === 0) {
          this.#pos = pos;
          this.#inString = false;
          return true;
        }
        continue;
      }
      const c = s.charCodeAt(pos);
      pos++;
      if (c === 34) inString = true;
      else if (c === 123 || c === 91) depth++;
      else if (c === 125 || c === 93) {
        depth--;
        if (depth === 0) {
          this.#pos = pos;
          this.#depth = 0;
          return true;
        }
      }
    }
    this.#pos = pos;
    this.#depth = depth;
    this.#inString = inString;
    return false;
  }

  #scan(final: boolean): void {
    const s = this.#buf;
    const n = s.length;
    while (this.#pos < n || (final && this.#reading())) {
      const phase = this.#phase;
      if (phase === Phase.Value || phase === Phase.ObjectSkip) {
        if (!this.#scanValue(final)) return;
        if (this.#start === this.#pos) this.#fail('a value was expected');
        if (phase === Phase.Value && this.#skipping) {
          this.#skipping = false;
          this.#onTooLong?.(this.#head, this.#index++);
          this.#head = '';
        } else if (phase === Phase.Value) {
          if (this.#pos - this.#start > this.#maxValue && this.#onTooLong) {
            this.#onTooLong(s.slice(this.#start, this.#start + 10_000), this.#index++);
          } else this.#onValue(s.slice(this.#start, this.#pos), this.#index++);
        }
        this.#phase = this.#after;
        continue;
      }
      if (phase === Phase.ObjectKeyText) {
        if (!this.#scanValue(final)) return;
        const key = JSON.parse(s.slice(this.#start, this.#pos)) as string;
        this.#phase = Phase.ObjectColon;
        this.#pendingKey = key;
        continue;
      }
      const c = s.charCodeAt(this.#pos);
      if (isSpace(c)) {
        this.#pos++;
        continue;
      }
      switch (phase) {
        case Phase.Start:
          if (this.#layout.kind === 'array') {
            if (c !== 91) this.#fail('a JSON array "[" was expected');
            this.#pos++;
            this.#phase = Phase.ArrayNext;
          } else if (this.#layout.kind === 'wrapped') {
            if (c !== 123) this.#fail('a JSON object "{" was expected');
            this.#pos++;
            this.#phase = Phase.ObjectKey;
          } else this.#phase = Phase.ValuesNext;
          break;
        case Phase.ValuesNext:
          this.#beginValue(true, Phase.ValuesNext);
          break;
        case Phase.ArrayNext:
          if (c === 93) {
            this.#pos++;
            this.#phase = this.#layout.kind === 'wrapped' ? Phase.ObjectAfterValue : Phase.Done;
          } else this.#beginValue(true, Phase.ArrayAfterValue);
          break;
        case Phase.ArrayAfterValue:
          this.#pos++;
          if (c === 44) this.#phase = Phase.ArrayNext;
          else if (c === 93) this.#phase = this.#layout.kind === 'wrapped' ? Phase.ObjectAfterValue : Phase.Done;
          else {
            this.#pos--;
            this.#fail('"," or "]" was expected after an array element');
          }
          break;
        case Phase.ObjectKey:
          if (c === 125) {
            this.#pos++;
            this.#phase = Phase.Done;
          } else if (c === 34) {
            this.#start = this.#pos;
            this.#depth = 0;
            this.#inString = false;
            this.#scalar = false;
            this.#phase = Phase.ObjectKeyText;
          } else this.#fail('a property name was expected');
          break;
        case Phase.ObjectColon:
          if (c !== 58) this.#fail('":" was expected after a property name');
          this.#pos++;
          while (this.#pos < n && isSpace(s.charCodeAt(this.#pos))) this.#pos++;
          if (this.#pos >= n) {
            this.#phase = Phase.ObjectValue;
            break;
          }
          this.#startObjectValue();
          break;
        case Phase.ObjectValue:
          this.#startObjectValue();
          break;
        case Phase.ObjectAfterValue:
          this.#pos++;
          if (c === 44) this.#phase = Phase.ObjectKey;
          else if (c === 125) this.#phase = Phase.Done;
          else {
            this.#pos--;
            this.#fail('"," or "}" was expected after a property');
          }
          break;
        case Phase.Done:
          this.#fail('unexpected text after the end of the JSON document');
      }
    }
  }

  #pendingKey = '';

  #startObjectValue(): void {
    const wanted = this.#layout.kind === 'wrapped' && this.#pendingKey === this.#layout.key && !this.#found;
    if (wanted && this.#buf.charCodeAt(this.#pos) === 91) {
      this.#found = true;
      this.#pos++;
      this.#phase = Phase.ArrayNext;
      return;
    }
    if (wanted) this.#fail(`property "${this.#pendingKey}" does not hold an array`);
    this.#beginValue(false, Phase.ObjectAfterValue);
  }

  /** True when the wrapped layout found its property. */
  get found(): boolean {
    return this.#found;
  }
}
