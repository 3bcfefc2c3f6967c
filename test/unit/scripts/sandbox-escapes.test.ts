import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { validateText } from '../../../lib/dataflow/validate.ts';
import { defaultRegistry } from '../../../lib/scripts/index.ts';
import { recordEvaluate } from '../../../lib/scripts/record.evaluate.ts';
import { ESCAPE_GLOBAL, ESCAPES, type Escape } from '../../../lib/testing/escapes.ts';
import { runScript } from '../../../lib/testing/harness.ts';

const ROOT = new URL('../../..', import.meta.url).pathname;
const b64 = (source: string) => Buffer.from(source).toString('base64');
/** Short, so the endless loops end quickly; the limit's semantics do not depend on its size. */
const TIMEOUT_MS = 250;

/** A dataflow whose step "evaluate" carries the script. */
function dataflow(script: string, params: Readonly<Record<string, unknown>> = {}): string {
  return JSON.stringify({
    id: 'escape',
    name: 'escape',
    steps: [
      { id: 'read', type: 'datasource.read.gigya.account', params: { select: 'UID' }, next: ['evaluate'] },
      { id: 'evaluate', type: 'record.evaluate', params: { script: b64(script), timeoutMs: TIMEOUT_MS, ...params } },
    ],
  });
}

/** A host promise may settle after the call returned: the escape gets the time to act before the check. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 100));

const escaped = (marker: string) => existsSync(marker) || (globalThis as Record<string, unknown>)[ESCAPE_GLOBAL];

describe('the record.evaluate sandbox against known node:vm escapes', () => {
  let dir: string;
  let marker: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'idx-escape-'));
    marker = join(dir, 'escaped');
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
    delete (globalThis as Record<string, unknown>)[ESCAPE_GLOBAL];
  });

  it('holds the reported escape and at least ten other techniques', () => {
    // Assess
    expect(ESCAPES.length).toBeGreaterThanOrEqual(11);
    expect(ESCAPES[0]?.name).toContain('the reported escape');
  });

  it.each(ESCAPES.map((e) => [e.name, e] as const))(
    'validates a dataflow with %s without running it',
    async (_name, attack: Escape) => {
      // Prepare
      const text = dataflow(attack.script(marker), attack.params);

      // Act
      const { problems } = validateText(text, defaultRegistry());
      await settle();

      // Assess
      expect(escaped(marker)).toBeFalsy();
      const codes = problems.filter((p) => p.stepId === 'evaluate').map((p) => p.code);
      expect(codes).toEqual(attack.expected.validation === 'accepted' ? [] : [attack.expected.validation]);
    },
  );

  it.each(ESCAPES.map((e) => [e.name, e] as const))(
    'runs a record through %s and answers it with a code of its own',
    async (_name, attack: Escape) => {
      // Prepare
      const params = { script: b64(attack.script(marker)), timeoutMs: TIMEOUT_MS, ...attack.params };

      // Act
      const run = runScript(recordEvaluate, params, { records: [{ i: 1 }] });
      const out = await run.catch((error: { code?: string }) => error);
      await settle();

      // Assess
      expect(escaped(marker)).toBeFalsy();
      if (attack.expected.run === 'load refused') {
        expect(out).toMatchObject({ code: 'IDX_SCRIPT_INVALID' });
        return;
      }
      const result = out as Awaited<typeof run>;
      if (attack.expected.run === 'passes') {
        expect(result.records).toEqual([{ i: 1 }]);
        return;
      }
      expect(result.records).toEqual([]);
      expect(result.rejected.map((r) => (r._errorDetails as { code: string }).code)).toEqual([attack.expected.run]);
    },
  );

  it('goes on with the next records once a memory bomb is spent, the memory of its record freed', async () => {
    // Prepare
    const source = `function process(record) {
      if (record.bomb) { var hoard = []; for (;;) hoard.push(new Float64Array(1 << 18).fill(hoard.length)); }
      return record;
    }`;

    // Act
    const out = await runScript(
      recordEvaluate,
      { script: b64(source), memoryMb: 16, timeoutMs: 20_000 },
      {
        records: [{ i: 1 }, { bomb: true }, { i: 2 }],
      },
    );

    // Assess
    expect(out.records).toEqual([{ i: 1 }, { i: 2 }]);
    expect(out.rejected).toEqual([
      {
        bomb: true,
        _errorDetails: {
          code: 'IDX_SCRIPT_MEMORY',
          message: 'process() ran out of memory on this record',
          stepId: 'record.evaluate',
        },
      },
    ]);
  });

  it('answers a recursion deeper than the sandbox allows as the script’s own error, without touching the host stack', async () => {
    // Prepare
    const source = 'function down(n) { return down(n + 1) + 1; } function process(r) { down(0); return r; }';

    // Act
    const out = await runScript(recordEvaluate, { script: b64(source) }, { records: [{ i: 1 }, { i: 2 }] });

    // Assess
    expect(out.rejected.map((r) => r._errorDetails)).toEqual([
      expect.objectContaining({ code: 'IDX_SCRIPT_ERROR', message: expect.stringContaining('stack overflow') }),
      expect.objectContaining({ code: 'IDX_SCRIPT_ERROR', message: expect.stringContaining('stack overflow') }),
    ]);
  });

  it('keeps `idx validate` from running the reported escape, as the CLI runs it', () => {
    // Prepare
    const file = join(dir, 'escape.json');
    const reported = ESCAPES[0] as Escape;
    writeFileSync(file, dataflow(reported.script(marker)));

    // Act
    const r = spawnSync(process.execPath, ['bin/idx.js', 'validate', '--json', file], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 120_000,
    });

    // Assess
    expect(existsSync(marker)).toBe(false);
    const problems = JSON.parse(r.stdout) as { code: string; stepId?: string }[];
    expect(problems.filter((p) => p.stepId === 'evaluate')).toEqual([]);
  });
});
