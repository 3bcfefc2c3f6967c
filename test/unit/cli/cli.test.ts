import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixtureFiles } from '../../support/dataflows.ts';

function idx(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/idx.js', ...args], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const dir = mkdtempSync(join(tmpdir(), 'idx-cli-'));
const broken = join(dir, 'broken.json');
writeFileSync(
  broken,
  JSON.stringify({
    name: 'b',
    steps: [
      { id: 'r', type: 'field.rename', params: { fields: 'x' }, next: ['gone'] },
      { id: 'z', type: 'nope' },
    ],
  }),
);

describe('idx', () => {
  it('validates the sample dataflow and exits 0', () => {
    // Act
    const r = idx('validate', 'dataflows/sample-s3-csv.json');

    // Assess
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('valid');
  });

  it('prints every problem of an invalid dataflow and exits 2', () => {
    // Act
    const r = idx('validate', broken);

    // Assess
    expect(r.code).toBe(2);
    for (const code of [
      'IDX_PARAM_TYPE',
      'IDX_EDGE_MISSING_STEP',
      'IDX_STEP_TYPE_UNKNOWN',
      'IDX_GRAPH_MULTIPLE_ENTRIES',
    ])
      expect(r.stdout).toContain(code);
  });

  it('prints problems as JSON objects with code, file, stepId, path and message', () => {
    // Act
    const r = idx('validate', broken, '--json');

    // Assess
    const problems = JSON.parse(r.stdout) as Record<string, unknown>[];
    expect(problems.length).toBeGreaterThanOrEqual(4);
    for (const p of problems)
      expect(Object.keys(p)).toEqual(expect.arrayContaining(['code', 'file', 'path', 'message']));
    expect(problems.find((p) => p.code === 'IDX_PARAM_TYPE')).toMatchObject({ stepId: 'r', file: broken });
  });

  it('compiles a dataflow to ASL', () => {
    // Act
    const r = idx('compile', 'dataflows/sample-s3-csv.json');

    // Assess
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ StartAt: 'Job: prepare' });
  });

  it('draws the graph of a public dataflow as Mermaid with its error edges', () => {
    // Act
    const r = idx('graph', fixtureFiles().find((f) => f.includes('18-'))!);

    // Assess
    expect(r.stdout.startsWith('flowchart LR')).toBe(true);
    expect(r.stdout).toContain('-. error .->');
  });

  it('lists the registry as JSON', () => {
    // Act
    const r = idx('scripts', '--json');

    // Assess
    const list = JSON.parse(r.stdout) as { type: string }[];
    expect(list.map((s) => s.type)).toEqual(expect.arrayContaining(['field.rename', 'datasource.read.amazon.s3']));
  });

  it('answers an unknown command with usage and exit 2, and a missing file with a readable line', () => {
    // Act
    const unknown = idx('frobnicate');
    const missing = idx('compile', join(dir, 'nope.json'));

    // Assess
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('usage: idx <command>');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('IDX_FILE_READ');
    expect(missing.stderr).not.toMatch(/\n\s+at /);
  });

  it('reports the public fixtures as not implemented rather than unknown', () => {
    // Act
    const r = idx('validate', '--json', ...fixtureFiles());

    // Assess
    const codes = new Set(
      (JSON.parse(r.stdout) as { code: string; severity: string }[])
        .filter((p) => p.severity === 'error')
        .map((p) => p.code),
    );
    expect([...codes]).toEqual(['IDX_STEP_TYPE_NOT_IMPLEMENTED']);
  });
});
