import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { malformedDataflows, PRIVATE_KEY_BODY } from '../../support/malformed-dataflows.ts';

/** `idx validate` run as users run it: the real CLI in a child process. */
function idx(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/idx.js', ...args], {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    timeout: 300_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface JsonProblem {
  code: string;
  severity: string;
  file?: string;
  stepId?: string;
  path: string;
  message: string;
  expected?: string;
  received?: string;
}

const cases = malformedDataflows();

describe('idx validate --json on the malformed-dataflow corpus', () => {
  let dir: string;
  let run: ReturnType<typeof idx>;
  let problems: JsonProblem[];
  const fileOf = (name: string) => join(dir, `${name}.json`);

  beforeAll(() => {
    // Prepare: every case as a file, validated in one run (as `idx validate dataflows/*.json` would).
    dir = mkdtempSync(join(tmpdir(), 'idx-corpus-'));
    for (const c of cases) writeFileSync(fileOf(c.name), c.text);
    // Act
    run = idx('validate', '--json', ...cases.map((c) => fileOf(c.name)));
    problems = JSON.parse(run.stdout) as JsonProblem[];
  }, 300_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('holds at least 60 malformed dataflows, each with a distinct name', () => {
    // Assess
    expect(cases.length).toBeGreaterThanOrEqual(60);
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
  });

  it('refuses the corpus with exit code 2 and no stack trace', () => {
    // Assess
    expect(run.status).toBe(2);
    expect(run.stderr).not.toMatch(/\n\s+at |RangeError|TypeError|IDX_INTERNAL/);
  });

  it.each(cases.map((c) => [c.name, c] as const))('answers %s with exactly its codes', (_name, c) => {
    // Assess
    const codes = new Set(
      problems.filter((p) => p.file === fileOf(c.name) && p.severity === 'error').map((p) => p.code),
    );
    expect([...codes].sort()).toEqual([...c.codes].sort());
  });

  it('keeps every text of every problem short, however long the value it quotes', () => {
    // Assess
    for (const p of problems) {
      for (const text of [p.message, p.expected ?? '', p.received ?? '', p.stepId ?? '', p.path]) {
        expect(text.length).toBeLessThanOrEqual(1000);
      }
    }
  });

  it('never echoes a private key it refuses', () => {
    // Assess
    expect(run.stdout).not.toContain(PRIVATE_KEY_BODY);
    expect(run.stderr).not.toContain(PRIVATE_KEY_BODY);
  });
});

describe('idx validate on a terminal', () => {
  it('shows a step id with a line break and ANSI escapes escaped, never raw', () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'idx-escape-'));
    const c = cases.find((x) => x.name === 'step-id-with-newline-and-ansi');
    const file = join(dir, 'escape.json');
    writeFileSync(file, c?.text ?? '');
    // Act
    const r = idx('validate', file);
    rmSync(dir, { recursive: true, force: true });
    // Assess
    expect(r.status).toBe(2);
    expect(r.stdout).toContain('IDX_EDGE_MISSING_STEP');
    expect(r.stdout).toContain('\\u001b[2J');
    expect(r.stdout).not.toContain('\u001b');
    // Every line is a whole problem or the verdict: the id's line break did not split a line.
    expect(
      r.stdout
        .trimEnd()
        .split('\n')
        .every((l) => /^(error|warning) IDX_|^✗ /.test(l)),
    ).toBe(true);
  });
});
