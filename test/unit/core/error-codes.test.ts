import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ENV } from '../../../lib/core/env.ts';
import {
  ERROR_CODES,
  errorCodesMarkdown,
  type IdxErrorCode,
  isIdxErrorCode,
  PERMANENT_ERROR_NAME,
  TRANSIENT_ERROR_NAME,
} from '../../../lib/core/error-codes.ts';
import { IdxError } from '../../../lib/core/errors.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const THIS_FILE = relative(ROOT, fileURLToPath(import.meta.url));
/** Starts with a capital letter or a quoted name, ends with a full stop. */
const SENTENCE = /^[A-Z`].*\.$/;
const CATALOGUE = join('lib', 'core', 'error-codes.ts');
const GENERATED_DOC = join('docs', 'errors.md');

/**
 * `IDX_` names that are environment variables, not error codes (`IDX_SECRET_` is the prefix of local secrets,
 * `IDX_SECRET_NAME` and `IDX_SECRET_GIGYA_SECRET` examples of it in the docs).
 */
const ENVIRONMENT_VARIABLES = new Set([
  // The local secrets holding the IDX REST API's credentials, and their environment form (docs/idx-api.md).
  'IDX_API_KEY',
  'IDX_API_SECRET',
  'IDX_API_USER_KEY',
  'IDX_AZURE_BLOB_ENDPOINT',
  'IDX_BENCH_ALSO_AT',
  'IDX_BENCH_BUDGET_ACCOUNTS',
  'IDX_BENCH_EVALUATE_RECORDS',
  'IDX_BENCH_EXTRACT_ACCOUNTS',
  'IDX_BENCH_LIMITS_HEAP_MB',
  'IDX_BENCH_LIMITS_SIZES',
  'IDX_BENCH_LZO_MB',
  'IDX_BENCH_SFTP_DELAYS',
  'IDX_BENCH_SFTP_MB',
  'IDX_BENCH_EXTRACT_PARTITIONS',
  'IDX_BENCH_EXTRACT_SITE_LIMIT',
  'IDX_BENCH_ELOQUA_SIZES',
  'IDX_SIZE_PROOF',
  'IDX_DATAFLOW_ID',
  'IDX_DYNAMODB_ENDPOINT',
  'IDX_ELOQUA_ENDPOINT',
  'IDX_GIGYA_ENDPOINT',
  'IDX_GIGYA_LIVE_API_KEY',
  'IDX_GIGYA_LIVE_DC',
  'IDX_GIGYA_LIVE_SECRET',
  'IDX_GIGYA_LIVE_USER_KEY',
  'IDX_HOME',
  'IDX_INVOCATION_BUDGET_MS',
  'IDX_JOBS_TABLE',
  'IDX_LAMBDA_NODE',
  'IDX_LANES',
  'IDX_LANES_MIN_BYTES',
  'IDX_LANES_MIN_RECORDS',
  'IDX_LANE_WORKER',
  'IDX_LARGE_JSON_MB',
  'IDX_LOCK_TTL_MS',
  'IDX_S3_ENDPOINT',
  'IDX_SECRET_',
  'IDX_SECRET_GIGYA_SECRET',
  'IDX_SECRET_IDX_API_KEY',
  'IDX_SECRET_IDX_API_SECRET',
  'IDX_SECRET_IDX_API_USER_KEY',
  'IDX_SECRET_NAME',
  'IDX_SECRET_PREFIX',
  'IDX_STAGE_BUCKET',
  'IDX_STATE_TABLE',
  'IDX_UIDMAP_TABLE',
  'IDX_WATERMARK_OVERLAP_MS',
  // The deployed console function's environment (lib/core/env.ts).
  'IDX_API_SECRET_ARN',
  'IDX_CONSOLE_ASSETS_BUCKET',
  'IDX_CONSOLE_ORIGINS',
  'IDX_NAME_PREFIX',
  'IDX_STATE_MACHINE_ARN_PREFIX',
  // Tests only: the browser test replaces the README's screenshots.
  'IDX_UPDATE_SCREENSHOTS',
  // Every variable lib/core/env.ts documents (IDX_GIGYA_BUDGET also names the error of a bad value of it).
  ...Object.values(ENV)
    .map((variable) => variable.name)
    .filter((name) => !isIdxErrorCode(name)),
]);

/** Every file under `dir` (relative to the project root) whose name ends with one of `extensions`. */
function filesUnder(dir: string, extensions: readonly string[]): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((name) => extensions.some((ext) => name.endsWith(ext)))
    .map((name) => join(dir, name));
}

/** The `IDX_` names each file mentions, by file. */
function namesIn(files: readonly string[]): Map<string, Set<string>> {
  const found = new Map<string, Set<string>>();
  for (const file of files) {
    for (const [name] of readFileSync(join(ROOT, file), 'utf8').matchAll(/\bIDX_[A-Z0-9_]+/g)) {
      const where = found.get(name) ?? new Set<string>();
      where.add(file);
      found.set(name, where);
    }
  }
  return found;
}

/** The code: what runs or builds the project; the catalogue itself and this test are left out. */
const codeFiles = () =>
  ['bin', 'lambdas', 'lib', 'test']
    .flatMap((dir) => filesUnder(dir, ['.ts', '.js', '.mjs']))
    .filter((file) => file !== CATALOGUE && file !== THIS_FILE);

/** The hand-written and script-generated documentation (the error reference is generated from the catalogue). */
const docFiles = () => ['README.md', ...filesUnder('docs', ['.md']).filter((file) => file !== GENERATED_DOC)];

describe('ERROR_CODES', () => {
  it('catalogues every IDX_ code the code and the docs mention', () => {
    // Prepare
    const mentioned = namesIn([...codeFiles(), ...docFiles()]);

    // Act
    const missing = [...mentioned]
      .filter(([name]) => !isIdxErrorCode(name) && !ENVIRONMENT_VARIABLES.has(name))
      .map(([name, files]) => `${name} (${[...files].join(', ')})`);

    // Assess
    expect(missing).toEqual([]);
  });

  it('lists only codes the project raises: each appears in bin, lambdas or lib', () => {
    // Prepare
    const used = namesIn(codeFiles().filter((file) => !file.startsWith(`test${sep}`)));

    // Act
    const unused = Object.keys(ERROR_CODES).filter((code) => !used.has(code));

    // Assess
    expect(unused).toEqual([]);
  });

  it('knows every environment variable it sets apart, so the list cannot hide a stale code', () => {
    // Prepare
    const mentioned = namesIn([...codeFiles(), ...docFiles()]);

    // Act
    const stale = [...ENVIRONMENT_VARIABLES].filter((name) => !mentioned.has(name) || isIdxErrorCode(name));

    // Assess
    expect(stale).toEqual([]);
  });

  it('gives every code a summary and an action written as sentences', () => {
    // Act
    const unfinished = Object.entries(ERROR_CODES).filter(
      ([, e]) => !SENTENCE.test(e.summary) || !SENTENCE.test(e.action),
    );

    // Assess
    expect(unfinished.map(([code]) => code)).toEqual([]);
  });
});

describe('IdxError', () => {
  it('accepts only catalogued codes at compile time, and a code that arrives as data still makes an error', () => {
    // Prepare
    const arrived = JSON.parse('"IDX_NOT_CATALOGUED"') as IdxErrorCode;

    // Act
    // @ts-expect-error: a code missing from the catalogue does not compile
    const literal = new IdxError('IDX_NOT_CATALOGUED', 'made up');
    const fromData = new IdxError(arrived, 'made up');

    // Assess
    expect(literal).toMatchObject({ code: 'IDX_NOT_CATALOGUED', transient: false, name: PERMANENT_ERROR_NAME });
    expect(fromData).toMatchObject({ code: 'IDX_NOT_CATALOGUED', transient: false, name: PERMANENT_ERROR_NAME });
  });

  it('takes its transience from the catalogue unless the error says otherwise', () => {
    // Act
    const throttled = new IdxError('IDX_UIDMAP_THROTTLED', 'unprocessed items');
    const s3 = new IdxError('IDX_S3_IO', 'request failed');
    const s3Throttled = new IdxError('IDX_S3_IO', 'SlowDown', { transient: true });
    const locked = new IdxError('IDX_RUN_LOCKED', 'already running');

    // Assess
    expect(throttled).toMatchObject({ transient: true, name: TRANSIENT_ERROR_NAME });
    expect(s3).toMatchObject({ transient: false, name: PERMANENT_ERROR_NAME });
    expect(s3Throttled).toMatchObject({ transient: true, name: TRANSIENT_ERROR_NAME });
    expect(locked).toMatchObject({ transient: false, name: PERMANENT_ERROR_NAME });
  });
});

describe('errorCodesMarkdown', () => {
  it('documents every code with its transience, where it shows up and what to do', () => {
    // Act
    const text = errorCodesMarkdown();

    // Assess
    expect(text).toContain(
      '| [`IDX_RUN_LOCKED`](#idx_run_locked) | permanent | step | Another run of the same dataflow holds the run lock. |',
    );
    expect(text).toContain(
      '## IDX_SFTP_IO\n\nAn SFTP listing, transfer, rename or delete failed.\n\n**Transient or permanent**; shows up as: step.',
    );
    for (const code of Object.keys(ERROR_CODES)) expect(text).toContain(`\n## ${code}\n`);
    expect(text).toContain(`retries the error name \`${TRANSIENT_ERROR_NAME}\``);
  });
});
