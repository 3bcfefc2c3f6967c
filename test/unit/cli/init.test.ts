import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from 'vitest';
import { initCommand } from '../../../lib/cli/init.ts';
import { validateDeployableFile } from '../../../lib/compiler/deployable.ts';
import { defaultRegistry } from '../../../lib/scripts/index.ts';

const ROOT = new URL('../../../', import.meta.url).pathname;
const SCHEMA = join(ROOT, 'schema', 'dataflow.schema.json');

describe('idx init', () => {
  const dir = mkdtempSync(join(tmpdir(), 'idx-init-'));
  const out = join(dir, 'flows', 'nightly.json');
  let stdout: MockInstance;
  const printed = () => stdout.mock.calls.map((c) => String(c[0])).join('');

  beforeEach(() => {
    stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  });
  afterEach(() => vi.restoreAllMocks());

  it('writes a dataflow from a template with a $schema line, schedules disabled, and it validates', () => {
    // Act
    const code = initCommand(['nightly', '--integration', 'eloqua', '--direction', 'outbound', '--out', out]);

    // Assess
    expect(code).toBe(0);
    expect(printed()).toContain('eloqua outbound template');
    const json = JSON.parse(readFileSync(out, 'utf8'));
    expect(Object.keys(json).slice(0, 3)).toEqual(['$schema', 'id', 'name']);
    expect(resolve(dirname(out), json.$schema)).toBe(SCHEMA);
    expect(json).toMatchObject({ id: 'nightly', schedules: [{ name: 'nightly', enabled: false }] });
    expect(validateDeployableFile(out, defaultRegistry()).valid).toBe(true);
  });

  it('refuses a file that exists, an id that cannot name a file, and a template that does not exist', () => {
    // Act
    const init =
      (...args: string[]) =>
      () =>
        initCommand(args);

    // Assess
    expect(init('nightly', '--integration', 'eloqua', '--direction', 'outbound', '--out', out)).toThrow(
      expect.objectContaining({ code: 'IDX_DATAFLOW_EXISTS' }),
    );
    expect(init('../up', '--integration', 'eloqua', '--direction', 'outbound')).toThrow(
      expect.objectContaining({ code: 'IDX_USAGE' }),
    );
    expect(init('x', '--integration', 'marketo', '--direction', 'inbound')).toThrow(
      expect.objectContaining({ code: 'IDX_TEMPLATE_NOT_FOUND', expected: expect.stringContaining('eloqua inbound') }),
    );
  });

  it('lists the templates by integration and direction', () => {
    // Act
    const code = initCommand(['--list']);

    // Assess
    expect(code).toBe(0);
    expect(printed()).toMatch(/eloqua\s+outbound\s+account > rename > remember UIDs > remove > dsv > sftp/);
  });

  it('ships editor settings that map dataflows/*.json to the schema', () => {
    // Act
    const settings = JSON.parse(readFileSync(join(ROOT, '.vscode', 'settings.json'), 'utf8'));

    // Assess
    expect(settings['json.schemas']).toContainEqual(
      expect.objectContaining({
        fileMatch: expect.arrayContaining(['dataflows/*.json']),
        url: './schema/dataflow.schema.json',
      }),
    );
  });
});
