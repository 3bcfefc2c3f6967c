/**
 * file.parse.json over a JSON array (and JSON Lines) far larger than the memory it may use. Each case runs in a
 * process of its own (test/support/large-json.ts): the content is generated on the fly, the records are counted and
 * checksummed without being kept, and the process's resident memory is sampled during the run; streaming means its
 * growth stays far below the input size, whatever the size.
 *
 * The array is 400 MB by default. Set IDX_LARGE_JSON_MB to run another size by hand, e.g. the 1 GB the
 * script's description promises:
 *
 *   IDX_LARGE_JSON_MB=1024 npx vitest run test/integration/scripts/file.parse.json.large.test.ts
 *
 * The JSON Lines case reads a quarter of that size (its reader is simpler; the point is the same).
 *
 * The bound holds whatever the size: the growth levels off at about 100 MB for 400 MB and 115 MB for 1 GB on a
 * 2-core machine (V8's young generation, JSON.parse's working memory and the generator's own garbage), where an
 * input kept in memory, even as text, would add more than its size.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runChild } from '../../support/child.ts';
import type { LargeJsonCase } from '../../support/large-json.ts';

const MB = 1024 * 1024;
/** Size of the generated array in MB; JSON Lines gets a quarter of it. */
const ARRAY_MB = Number(process.env.IDX_LARGE_JSON_MB ?? 400);
const LINES_MB = Math.ceil(ARRAY_MB / 4);
/** Resident memory a case may add, whatever the input size. */
const LIMIT = 150 * MB;
const CASE = fileURLToPath(new URL('../../support/large-json.ts', import.meta.url));

/** Runs one case in a fresh Node.js process. */
async function runCase(layout: 'array' | 'lines', megabytes: number): Promise<LargeJsonCase> {
  const r = await runChild(process.execPath, ['--import', 'tsx', CASE, layout, String(megabytes)]);
  if (r.status !== 0) throw new Error(`the ${layout} case failed (${r.status}): ${r.stderr.slice(-3000)}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as LargeJsonCase;
}

describe('file.parse.json on large input', () => {
  const cases = [
    { layout: 'array', megabytes: ARRAY_MB, what: `a ${ARRAY_MB} MB array of accounts` },
    { layout: 'lines', megabytes: LINES_MB, what: `${LINES_MB} MB of JSON Lines` },
  ] as const;

  for (const c of cases) {
    it(`streams ${c.what} with resident memory growing less than 150 MB`, { timeout: 600_000 }, async () => {
      // Act
      const out = await runCase(c.layout, c.megabytes);

      // Assess
      console.log(
        `file.parse.json ${c.layout}: ${out.generated.count} records, ${(out.generated.bytes / MB).toFixed(0)} MB, ` +
          `peak RSS growth ${(out.growth / MB).toFixed(1)} MB`,
      );
      expect(out.generated.bytes).toBeGreaterThanOrEqual(c.megabytes * MB);
      expect(out.rejected).toEqual([]);
      expect(out.emitted).toBe(out.generated.count);
      expect(out.checksum).toBe(out.generated.checksum);
      expect(out.growth).toBeLessThan(LIMIT);
    });
  }
});
