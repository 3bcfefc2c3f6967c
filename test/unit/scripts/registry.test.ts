import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generatedFiles } from '../../../lib/cli/dataflow-commands.ts';
import type { ParamSpec } from '../../../lib/core/params.ts';
import { ScriptRegistry } from '../../../lib/core/registry.ts';
import { defineScript } from '../../../lib/core/script.ts';
import { IDENTITYSYNC_TYPES } from '../../../lib/dataflow/catalog.ts';
import { defaultRegistry } from '../../../lib/scripts/index.ts';
import { laneDefinitions } from '../../../lib/scripts/lane-scripts.ts';

function* specs(name: string, spec: ParamSpec): Generator<[string, ParamSpec]> {
  yield [name, spec];
  if (spec.type === 'array') yield* specs(`${name}[]`, spec.items);
  if (spec.type === 'object') for (const [k, s] of Object.entries(spec.properties)) yield* specs(`${name}.${k}`, s);
}

const scripts = defaultRegistry().list();

describe('the script registry', () => {
  it.each(scripts.map((s) => [s.type, s]))('%s is a complete definition', (_type, s) => {
    // Assess
    expect(s.summary.length).toBeGreaterThan(10);
    expect(['records', 'files', 'nothing']).toContain(s.consumes);
    expect(['records', 'files', 'nothing']).toContain(s.produces);
    expect(typeof s.create).toBe('function');
    for (const [name, spec] of Object.entries(s.params).flatMap(([k, v]) => [...specs(k, v)])) {
      expect(spec.description.length, `${s.type} ${name} needs a description`).toBeGreaterThan(5);
      if (spec.default !== undefined && spec.type !== 'array' && spec.type !== 'object') {
        expect(typeof spec.default, `${s.type} ${name} default type`).toBe(
          spec.type === 'integer' ? 'number' : spec.type,
        );
      }
    }
    if (s.continues) expect(s.consumes).toBe('nothing');
  });

  it('names only IdentitySync types or documented extensions', () => {
    // Prepare
    const extensions = scripts.map((s) => s.type).filter((t) => !IDENTITYSYNC_TYPES.has(t));

    // Assess
    expect(extensions.every((t) => /^(uidmap|file|field|record|datasource)\./.test(t))).toBe(true);
  });

  it('gives lane workers exactly the scripts that declare lane support', () => {
    // Prepare
    const declaring = scripts.filter((s) => s.lanes).map((s) => s.type);

    // Act
    const loaded = laneDefinitions.map((d) => d.type);

    // Assess
    expect([...loaded].sort()).toEqual([...declaring].sort());
    expect(declaring).toContain('file.parse.dsv');
    expect(declaring).not.toContain('record.evaluate');
  });

  it('is cloned for tests without touching the default', () => {
    // Prepare
    const extra = defineScript({
      type: 'test.extra',
      summary: 'A test script.',
      consumes: 'records',
      produces: 'records',
      params: {},
      create: () => ({}),
    });

    // Act
    const clone = defaultRegistry().clone().register(extra);

    // Assess
    expect(clone.has('test.extra')).toBe(true);
    expect(defaultRegistry().has('test.extra')).toBe(false);
  });

  it('refuses a type registered twice', () => {
    // Prepare
    const extra = defineScript({
      type: 'test.extra',
      summary: 'A test script.',
      consumes: 'records',
      produces: 'records',
      params: {},
      create: () => ({}),
    });

    // Act / Assess
    expect(() => new ScriptRegistry([extra, extra] as never)).toThrow(
      expect.objectContaining({ code: 'IDX_REGISTRY_DUPLICATE' }),
    );
  });

  it('matches the checked-in JSON Schema, script reference and error codes (run `idx schema --write` after changing them)', () => {
    // Act / Assess
    for (const [path, text] of Object.entries(generatedFiles()))
      expect(readFileSync(path, 'utf8'), `${path} is stale`).toBe(text);
  });
});
