/**
 * In-memory folders for the protocol-independent transfer logic: a source whose reads can drop once after some
 * bytes, and a target that can lose the end of an upload or drop every attempt, as real servers do.
 */
import { Readable } from 'node:stream';
import type { FileSource, FileTarget, RemoteFile } from '../../lib/connectors/transfer.ts';

/** A remote file with its content. */
export type MemoryFile = RemoteFile & { content: string };

/** A file of `/in/` modified at `modifiedAt`, holding `content` (its name by default). */
export const memoryFile = (name: string, modifiedAt: number, content = name): MemoryFile => ({
  name,
  path: `/in/${name}`,
  size: Buffer.byteLength(content),
  modifiedAt,
  content,
});

const dropped = () => Object.assign(new Error('connection reset'), { code: 'ECONNRESET' });

/** An in-memory folder whose next read fails after `failAfter` bytes, like a dropped connection. */
export class MemorySource implements FileSource {
  readonly id = 'mem://test';
  resets = 0;
  opens: number[] = [];
  constructor(
    readonly files: MemoryFile[],
    private failAfter?: number,
  ) {}
  async list() {
    return this.files;
  }
  async open(f: RemoteFile, start: number) {
    this.opens.push(start);
    const content = Buffer.from((f as MemoryFile).content).subarray(start);
    const cut = this.failAfter;
    this.failAfter = undefined;
    if (cut === undefined) return Readable.from([content]);
    return Readable.from(
      (async function* () {
        yield content.subarray(0, cut);
        throw dropped();
      })(),
    );
  }
  async remove() {}
  async move() {}
  async reset() {
    this.resets++;
  }
  isTransient(e: unknown) {
    return (e as { code?: string }).code === 'ECONNRESET';
  }
}

/** An in-memory folder that can lose bytes of uploads, like a server that drops the end of a transfer. */
export class MemoryTarget implements FileTarget {
  readonly files = new Map<string, Buffer>();
  truncateNext = 0;
  failAll = false;
  async upload(path: string, body: Readable) {
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(c as Buffer);
    if (this.failAll) {
      this.files.set(path, Buffer.concat(chunks).subarray(0, 1));
      throw dropped();
    }
    const all = Buffer.concat(chunks);
    this.files.set(path, this.truncateNext > 0 ? all.subarray(0, all.length - 1) : all);
    if (this.truncateNext > 0) this.truncateNext--;
  }
  async rename(from: string, to: string) {
    const b = this.files.get(from);
    if (!b) throw new Error('missing');
    this.files.delete(from);
    this.files.set(to, b);
  }
  async remove(path: string) {
    this.files.delete(path);
  }
  async size(path: string) {
    return this.files.get(path)?.length;
  }
  async ensureFolder() {}
  async reset() {}
  isTransient(e: unknown) {
    return (e as { code?: string }).code === 'ECONNRESET';
  }
  /** The folder as path → text. */
  texts(): [string, string][] {
    return [...this.files.entries()].map(([k, v]) => [k, v.toString()]);
  }
}

/** A staged input file holding `content`. */
export const memoryInput = (name: string, content: string) => ({
  name,
  size: content.length,
  open: () => Readable.from([Buffer.from(content)]),
});
