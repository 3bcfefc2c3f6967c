/**
 * One case of the large file.parse.json test, run in a process of its own (as a staged step runs in a function of
 * its own), so that its resident memory is its own and not what an earlier case left uncollected:
 *
 *   node --import tsx test/support/large-json.ts <array|lines> <megabytes>
 *
 * The content is generated on the fly as a stream of Gigya-shaped accounts, never built as one string, and the
 * records come out into an output that counts and checksums them without keeping any. Prints one JSON line: what
 * was generated, what came out, and the peak growth of resident memory over the level before the case.
 */
import { createHash, type Hash } from 'node:crypto';
import { Readable, type Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import type {
  AnyScriptDefinition,
  DataRecord,
  InputFile,
  RecordError,
  StepLogger,
  StepOutput,
} from '../../lib/core/script.ts';
import { fileParseJson } from '../../lib/scripts/file.parse.json.ts';
import { offlineServices, startScript, testJob } from '../../lib/testing/harness.ts';

const MB = 1024 * 1024;

/** Text generated per pushed chunk. */
const CHUNK = 64 * 1024;

const FIRST = ['Anna', 'Ben', 'Chloé', 'Dmitri', 'Émile', 'Fatima', 'Giovanni', 'Hana', 'Igor', 'Júlia', 'Kenji'];
const LAST = ['Müller', 'Smith', 'García', 'Nguyen', "O'Brien", 'Kowalski', 'Rossi', 'Dubois', 'Tanaka', 'Silva'];
const CITIES = ['Paris', 'Berlin', 'São Paulo', 'New York, NY', 'Tokyo', 'Zürich', 'Madrid', 'القاهرة'];
const GENDERS = ['m', 'f', 'u'];
const TIERS = ['gold', 'silver', 'bronze'];

/** The fields the checksum covers, as the generator writes them for account `i`. */
interface Checked {
  UID: string;
  email: string;
  bio: string | null;
  lastUpdatedTimestamp: number;
}

function checked(i: number): Checked {
  const first = FIRST[i % FIRST.length]!;
  const last = LAST[(i * 7) % LAST.length]!;
  return {
    UID: `uid${i.toString(16).padStart(12, '0')}`,
    email: `${first}.${last}${i}@example.com`.toLowerCase(),
    bio: i % 5 === 0 ? `says "hi" \\ [not] {a}, 🚀 #${i}` : null,
    lastUpdatedTimestamp: 1_700_000_000_000 + i,
  };
}

/**
 * Account `i` as accounts.search returns it, as JSON text: nested objects, arrays, escaped quotes, backslashes,
 * brackets inside strings and non-ASCII text. Written from a template (JSON.stringify of an object per record
 * would cost more than the parsing under test).
 */
function accountJson(i: number, c: Checked): string {
  const first = FIRST[i % FIRST.length]!;
  const last = LAST[(i * 7) % LAST.length]!;
  const bio = c.bio === null ? 'null' : JSON.stringify(c.bio);
  const unverified = i % 4 ? '' : `"alt${i}@example.org"`;
  return (
    `{"UID":"${c.UID}","isActive":true,"isVerified":${i % 3 !== 0},"created":"2024-03-0${1 + (i % 9)}T10:11:12.000Z",` +
    `"lastUpdatedTimestamp":${c.lastUpdatedTimestamp},"loginProvider":"${i % 2 ? 'site' : 'googleplus'}",` +
    `"profile":{"firstName":"${first}","lastName":"${last}","email":"${c.email}","gender":"${GENDERS[i % 3]}",` +
    `"birthYear":${1950 + (i % 55)},"city":"${CITIES[i % CITIES.length]}","zip":"${String((i * 7919) % 99_999).padStart(5, '0')}",` +
    `"bio":${bio}},"emails":{"verified":["${c.email}"],"unverified":[${unverified}]},` +
    `"data":{"subscribed":${i % 2 === 0},"loyaltyTier":"${TIERS[i % 3]}","points":${(i * 13) % 10_000}},` +
    `"identities":[{"provider":"site","providerUID":"p${i}","isLoginIdentity":true,"lastUpdated":"2024-03-01"}]}`
  );
}

/** Folds the checked fields of one record into the checksum, in record order on both sides. */
function fold(hash: Hash, c: Checked): void {
  hash.update(`${c.UID}|${c.email}|${c.bio}|${c.lastUpdatedTimestamp}\n`);
}

/** What the generator wrote: filled in as the stream ends. */
interface Generated {
  count: number;
  checksum: string;
  bytes: number;
}

/**
 * An input file of at least `bytes` of accounts, as a JSON array (`[`, elements joined by `,\n`, `]`) or as
 * JSON Lines. Each `open()` starts a fresh stream; the last stream to end fills in `generated`.
 */
function generatedFile(name: string, bytes: number, layout: 'array' | 'lines', generated: Generated): InputFile {
  return {
    name,
    size: bytes,
    open() {
      let i = 0;
      let written = 0;
      let done = false;
      const hash = createHash('sha256');
      return new Readable({
        read() {
          if (done) return void this.push(null);
          let text = i === 0 && layout === 'array' ? '[\n' : '';
          let size = text.length;
          while (size < CHUNK && written + size < bytes) {
            const c = checked(i);
            fold(hash, c);
            const json = accountJson(i, c);
            const piece = layout === 'array' ? (i === 0 ? json : `,\n${json}`) : `${json}\n`;
            text += piece;
            size += Buffer.byteLength(piece);
            i++;
          }
          if (written + size >= bytes) {
            if (layout === 'array') text += '\n]\n';
            done = true;
            Object.assign(generated, { count: i, checksum: hash.digest('hex') });
          }
          const chunk = Buffer.from(text);
          written += chunk.length;
          generated.bytes = written;
          this.push(chunk);
        },
      });
    },
  };
}

/** Counts and checksums what comes out, keeping nothing; samples resident memory as it goes. */
class CountingOutput implements StepOutput {
  readonly remaining = Number.POSITIVE_INFINITY;
  emitted = 0;
  readonly rejected: RecordError[] = [];
  readonly #hash = createHash('sha256');
  /** Resident memory before the case: the process has just started. */
  readonly #from = process.memoryUsage.rss();
  #peak = this.#from;

  emit(record: DataRecord): void {
    const profile = record.profile as { email: string; bio: string | null };
    fold(this.#hash, {
      UID: record.UID as string,
      email: profile.email,
      bio: profile.bio,
      lastUpdatedTimestamp: record.lastUpdatedTimestamp as number,
    });
    // The script may run long stretches without yielding to timers; sample from the output as well.
    if (++this.emitted % 1000 === 0) this.sample();
  }
  reject(_record: DataRecord, error: RecordError): void {
    if (this.rejected.length < 10) this.rejected.push(error);
  }
  drop(): void {
    throw new Error('file.parse.json does not drop records');
  }
  async flush(): Promise<void> {
    this.sample();
  }
  createFile(): Writable {
    throw new Error('file.parse.json writes no files');
  }
  delivered(): void {
    throw new Error('file.parse.json delivers no files');
  }
  deliveredRecords(): void {
    throw new Error('file.parse.json delivers no records');
  }

  sample(): void {
    this.#peak = Math.max(this.#peak, process.memoryUsage.rss());
  }
  /** Peak resident memory over the level before the case. */
  get growth(): number {
    return this.#peak - this.#from;
  }
  get checksum(): string {
    return this.#hash.copy().digest('hex');
  }
}

const silent: StepLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/** Runs one step invocation over a streamed file, as a staged step does, with a sampler running beside it. */
async function parseStreaming(file: InputFile, out: CountingOutput): Promise<void> {
  const definition = fileParseJson as unknown as AnyScriptDefinition;
  const instance = await startScript(
    definition,
    {},
    {
      job: testJob(),
      stepId: 'parse',
      log: silent,
      services: offlineServices(),
    },
  );
  const timer = setInterval(() => out.sample(), 10);
  try {
    await instance.file?.(file, out);
    await instance.end?.(out, { final: true });
  } finally {
    clearInterval(timer);
    out.sample();
    await instance.close?.();
  }
}

/** What one case reports. */
export interface LargeJsonCase {
  readonly generated: Generated;
  readonly emitted: number;
  readonly checksum: string;
  readonly rejected: readonly RecordError[];
  /** Peak resident memory over the level before the case, in bytes. */
  readonly growth: number;
}

/** Generates `bytes` of accounts in `layout` and parses them as one streamed file. */
export async function runLargeJsonCase(layout: 'array' | 'lines', bytes: number): Promise<LargeJsonCase> {
  const generated: Generated = { count: 0, checksum: '', bytes: 0 };
  const out = new CountingOutput();
  await parseStreaming(
    generatedFile(layout === 'array' ? 'accounts.json' : 'accounts.jsonl', bytes, layout, generated),
    out,
  );
  return { generated, emitted: out.emitted, checksum: out.checksum, rejected: out.rejected, growth: out.growth };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [layout, megabytes] = process.argv.slice(2);
  if ((layout !== 'array' && layout !== 'lines') || !(Number(megabytes) > 0)) {
    throw new Error(`usage: large-json.ts <array|lines> <megabytes>; got ${process.argv.slice(2).join(' ')}`);
  }
  const result = await runLargeJsonCase(layout, Number(megabytes) * MB);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
