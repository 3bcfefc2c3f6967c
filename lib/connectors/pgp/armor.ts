/**
 * ASCII armor (RFC 4880 §6, RFC 9580 §6): base64 between BEGIN/END lines with an optional CRC-24 checksum, read
 * and written as streams so an armored file of any size keeps memory flat.
 */
import { IdxError } from '../../core/errors.ts';

const CRC24_INIT = 0xb704ce;
const CRC24_POLY = 0x1864cfb;

const CRC24_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 16;
    for (let bit = 0; bit < 8; bit++) {
      crc <<= 1;
      if (crc & 0x1000000) crc ^= CRC24_POLY;
    }
    table[i] = crc & 0xffffff;
  }
  return table;
})();

/** The running CRC-24 of the armor checksum. */
export class Crc24 {
  /** The CRC so far. */
  value = CRC24_INIT;

  /** Adds bytes to the CRC. */
  update(data: Uint8Array): this {
    let crc = this.value;
    for (const byte of data) crc = ((crc << 8) ^ (CRC24_TABLE[((crc >> 16) ^ byte) & 0xff] as number)) & 0xffffff;
    this.value = crc;
    return this;
  }

  /** The checksum as the armor writes it (base64 of three bytes, without the leading `=`). */
  base64(): string {
    return Buffer.from([(this.value >> 16) & 0xff, (this.value >> 8) & 0xff, this.value & 0xff]).toString('base64');
  }
}

/** Base64 bytes per armor line: 48 bytes make the usual 64 characters. */
const LINE_BYTES = 48;

/** Armors a byte stream as `-----BEGIN PGP <type>-----` … with a checksum line. */
export async function* armor(type: string, source: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer> {
  const crc = new Crc24();
  yield Buffer.from(`-----BEGIN PGP ${type}-----\n\n`);
  let carry = Buffer.alloc(0);
  for await (const chunk of source) {
    crc.update(chunk);
    const data = carry.length === 0 ? Buffer.from(chunk) : Buffer.concat([carry, chunk]);
    const whole = data.length - (data.length % LINE_BYTES);
    const lines: string[] = [];
    for (let at = 0; at < whole; at += LINE_BYTES) lines.push(data.subarray(at, at + LINE_BYTES).toString('base64'));
    carry = Buffer.from(data.subarray(whole));
    if (lines.length > 0) yield Buffer.from(`${lines.join('\n')}\n`);
  }
  const tail = carry.length > 0 ? `${carry.toString('base64')}\n` : '';
  yield Buffer.from(`${tail}=${crc.base64()}\n-----END PGP ${type}-----\n`);
}

function armorError(message: string, received?: string): IdxError {
  return new IdxError('IDX_PGP_FAILED', `the ASCII armor is not valid: ${message}`, {
    expected: 'OpenPGP ASCII armor (-----BEGIN PGP …----- / base64 / -----END PGP …-----)',
    ...(received === undefined ? {} : { received }),
  });
}

/** Most characters before the BEGIN line and in the armor headers: beyond that it is not armor. */
const MAX_PREAMBLE = 64 * 1024;
/** A partial base64 line longer than this is decoded before its end, so unwrapped armor keeps memory flat. */
const MAX_LINE = 16 * 1024;
const BASE64_LINE = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Removes the armor of a stream: yields the decoded bytes and checks the CRC-24 when the armor has one. Text
 * before the BEGIN line is skipped; `type` (e.g. `MESSAGE`) is what the BEGIN line must name.
 */
export async function* dearmor(source: AsyncIterable<Uint8Array>, type: string): AsyncGenerator<Buffer> {
  const crc = new Crc24();
  let state: 'begin' | 'headers' | 'body' | 'end' = 'begin';
  let text = '';
  let preamble = 0;
  let base64 = '';
  let midLine = false;
  let checksum: string | undefined;

  function decode(chars: string, final: boolean): Buffer | undefined {
    if (!BASE64_LINE.test(chars)) throw armorError('a line holds characters that are not base64');
    base64 += chars;
    const usable = final ? base64.length : base64.length - (base64.length % 4);
    if (usable === 0) return undefined;
    const out = Buffer.from(base64.slice(0, usable), 'base64');
    base64 = base64.slice(usable);
    crc.update(out);
    return out.length > 0 ? out : undefined;
  }

  for await (const chunk of source) {
    text += Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString('latin1');
    while (state !== 'end') {
      const newline = text.indexOf('\n');
      if (newline < 0) {
        if (state === 'body' && text.length > MAX_LINE && !/^\s*[=-]/.test(text) && (midLine || text.length > 0)) {
          // A long line in the body: decode what is complete and keep the rest.
          const chars = text.replace(/\s+/g, '');
          const cut = chars.length - (chars.length % 4);
          const out = decode(chars.slice(0, cut), false);
          base64 += chars.slice(cut);
          text = '';
          midLine = true;
          if (out) yield out;
        } else if (state !== 'body' && text.length > MAX_PREAMBLE) {
          throw armorError('no armor line within the first 64 KiB');
        }
        break;
      }
      const line = text.slice(0, newline).trim();
      text = text.slice(newline + 1);
      if (state === 'begin') {
        preamble += line.length;
        if (preamble > MAX_PREAMBLE) throw armorError('no BEGIN line within the first 64 KiB');
        const begin = /^-----BEGIN PGP ([A-Z0-9 ,/]+)-----$/.exec(line);
        if (begin) {
          if (begin[1] !== type)
            throw armorError(`expected a ${type} block, found a ${begin[1]} block`, `a ${begin[1]} block`);
          state = 'headers';
          preamble = 0;
        }
      } else if (state === 'headers') {
        preamble += line.length;
        if (preamble > MAX_PREAMBLE) throw armorError('the armor headers are longer than 64 KiB');
        if (line === '') state = 'body';
        else if (!line.includes(':')) {
          // Armor without the blank line after the headers: this line is already data.
          state = 'body';
          const out = decode(line, false);
          if (out) yield out;
        }
      } else if (!midLine && line.startsWith('=')) {
        checksum = line.slice(1);
      } else if (!midLine && line.startsWith('-----END')) {
        if (line !== `-----END PGP ${type}-----`) throw armorError(`expected -----END PGP ${type}-----`, line);
        state = 'end';
      } else {
        midLine = false;
        const out = decode(line, false);
        if (out) yield out;
      }
    }
    if (state === 'end') break;
  }
  if (state !== 'end') throw armorError(`the data ends before the -----END PGP ${type}----- line`);
  const last = decode('', true);
  if (last) yield last;
  if (checksum !== undefined && checksum !== crc.base64()) {
    throw new IdxError('IDX_PGP_FAILED', 'the ASCII armor checksum does not match: the file was changed or cut', {
      expected: `=${crc.base64()}`,
      received: `=${checksum}`,
    });
  }
}

/** One armored block of a text. */
export interface ArmoredBlock {
  /** What the BEGIN line names, e.g. `PUBLIC KEY BLOCK`. */
  readonly type: string;
  readonly data: Buffer;
}

const BLOCK = /-----BEGIN PGP ([A-Z0-9 ,/]+)-----\r?\n([\s\S]*?)-----END PGP \1-----/g;

/** Every armored block of a text (keys given as params), each decoded and its checksum checked. */
export function dearmorBlocks(text: string): ArmoredBlock[] {
  const blocks: ArmoredBlock[] = [];
  for (const match of text.matchAll(BLOCK)) {
    const type = match[1] as string;
    const lines = (match[2] ?? '').split(/\r?\n/).map((l) => l.trim());
    // Headers run to the first blank line; a block without headers may omit it.
    const blank = lines.indexOf('');
    const body = blank >= 0 && lines.slice(0, blank).every((l) => l.includes(':')) ? lines.slice(blank + 1) : lines;
    let checksum: string | undefined;
    const chars: string[] = [];
    for (const line of body) {
      if (line === '') continue;
      if (line.startsWith('=')) {
        checksum = line.slice(1);
        break;
      }
      if (!BASE64_LINE.test(line)) throw armorError(`the ${type} holds a line that is not base64`);
      chars.push(line);
    }
    const data = Buffer.from(chars.join(''), 'base64');
    const crc = new Crc24().update(data);
    if (checksum !== undefined && checksum !== crc.base64()) {
      throw armorError(`the checksum of the ${type} does not match: it was changed or cut`);
    }
    blocks.push({ type, data });
  }
  return blocks;
}
