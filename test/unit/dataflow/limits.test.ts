import { describe, expect, it } from 'vitest';
import { compile } from '../../../lib/compiler/compile.ts';
import { IdxError, printable, showValue } from '../../../lib/core/errors.ts';
import { applyDefaults, checkObject, type ParamProblem, stringLeaves } from '../../../lib/core/params.ts';
import { cyclesOf, levelsOf } from '../../../lib/dataflow/graph.ts';
import { readDataflow } from '../../../lib/dataflow/load.ts';
import type { Step } from '../../../lib/dataflow/types.ts';
import { parseScheduleTime } from '../../../lib/dataflow/validate.ts';
import { defaultRegistry } from '../../../lib/scripts/index.ts';

/** A chain of `n` steps s0 → s1 → … */
function chain(n: number): Step[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `s${i}`,
    type: 'file.compress.gzip',
    params: {},
    next: i < n - 1 ? [`s${i + 1}`] : [],
    error: [],
  }));
}

describe('graph walks', () => {
  it('levels and cycle-checks a chain of 5,000 steps without exhausting the stack', () => {
    // Prepare
    const steps = chain(5_000);
    // Act
    const levels = levelsOf(steps);
    const cycles = cyclesOf(steps);
    // Assess
    expect(levels.length).toBe(5_000);
    expect(levels[4_999]).toEqual(['s4999']);
    expect(cycles).toEqual([]);
  });

  it('finds the cycle when a chain of 5,000 steps loops back', () => {
    // Prepare
    const steps = chain(5_000);
    steps[4_999] = { ...(steps[4_999] as Step), next: ['s0'] };
    // Act
    const cycles = cyclesOf(steps);
    // Assess
    expect(cycles).toHaveLength(1);
    expect(cycles[0]).toHaveLength(5_000);
  });

  it('compiles a valid dataflow of 5,000 steps', () => {
    // Prepare
    const loaded = readDataflow({
      name: 'long',
      steps: [
        { id: 'account', type: 'datasource.read.gigya.account', params: { select: 'UID' }, next: ['dsv'] },
        { id: 'dsv', type: 'file.format.dsv', params: { fileName: 'a.csv' }, next: ['s0'] },
        ...chain(5_000),
      ],
    });
    // Act
    const asl = compile(loaded.dataflow as never, defaultRegistry());
    // Assess
    expect(Object.keys(asl.States).length).toBeGreaterThan(0);
  });
});

describe('params named like Object.prototype members', () => {
  it('are unknown params, not members of the schema', () => {
    // Prepare
    const problems: ParamProblem[] = [];
    const params = JSON.parse('{"constructor":"x","toString":"y","valueOf":1,"__proto__":{"a":1}}');
    // Act
    checkObject({ fileName: { type: 'string', description: 'f' } }, params, '', problems);
    // Assess
    expect(problems.map((p) => p.code).sort()).toEqual([
      'IDX_NAME_RESERVED',
      'IDX_PARAM_UNKNOWN',
      'IDX_PARAM_UNKNOWN',
      'IDX_PARAM_UNKNOWN',
    ]);
  });

  it('survive applyDefaults as own properties, without changing the prototype', () => {
    // Prepare
    const params = JSON.parse('{"__proto__":{"polluted":true},"toString":"kept"}');
    // Act
    const out = applyDefaults({}, params);
    // Assess
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.keys(out).sort()).toEqual(['__proto__', 'toString']);
    expect((out as { polluted?: boolean }).polluted).toBeUndefined();
  });

  it('walks string leaves of params nested 10,000 deep', () => {
    // Prepare
    const root: Record<string, unknown> = {};
    let at = root;
    for (let i = 0; i < 10_000; i++) {
      const inner: Record<string, unknown> = {};
      at.a = inner;
      at = inner;
    }
    at.leaf = 'x';
    // Act
    const leaves = [...stringLeaves({}, root)];
    // Assess
    expect(leaves).toHaveLength(1);
    expect(leaves[0]?.path.endsWith('.a.leaf')).toBe(true);
  });
});

describe('received values in errors', () => {
  it('shows a 50 MB string and a value nested 100,000 deep in under 100 characters', () => {
    // Prepare
    const deep: Record<string, unknown> = {};
    let at = deep;
    for (let i = 0; i < 100_000; i++) {
      const inner: Record<string, unknown> = {};
      at.a = inner;
      at = inner;
    }
    // Act
    const shown = [showValue('n'.repeat(50 * 1024 * 1024)), showValue(deep)];
    // Assess
    for (const s of shown) expect(s.length).toBeLessThanOrEqual(80);
    expect(shown[1]).toMatch(/^object \{"a":\{"a"/);
  });

  it('keeps an error’s received value and message bounded', () => {
    // Act
    const e = new IdxError('IDX_PARAM_VALUE', `bad ${'m'.repeat(200_000)}`, { received: 'r'.repeat(5_000_000) });
    // Assess
    expect(e.received?.length).toBeLessThanOrEqual(1000);
    expect(e.message.length).toBeLessThanOrEqual(64 * 1024);
    expect(e.received).toMatch(/\(5000000 characters\)$/);
  });

  it('escapes line breaks and ANSI escapes for the terminal', () => {
    // Act
    const text = printable('step\n\u001b[31mred\r\u009b');
    // Assess
    expect(text).toBe('step\\n\\u001b[31mred\\r\\u009b');
  });
});

describe('parseScheduleTime', () => {
  it.each([
    ['2026-13-45 25:61:00'],
    ['2026-02-30 10:00:00'],
    ['2027-02-29T00:00:00Z'],
    ['2026-01-01 24:00:00'],
    ['2026-01-01T10:00:00+25:00'],
    ['tomorrow at two'],
  ])('refuses %s, a time that does not exist', (value) => {
    // Act / Assess
    expect(parseScheduleTime(value)).toBeUndefined();
  });

  it.each([
    ['2026-01-01 02:00:00', '2026-01-01T02:00:00.000Z'],
    ['2028-02-29 10:00', '2028-02-29T10:00:00.000Z'],
    ['2026-02-15T04:30:00Z', '2026-02-15T04:30:00.000Z'],
    ['2026-02-15T04:30:00.250+02:00', '2026-02-15T02:30:00.250Z'],
  ])('reads %s as %s', (value, iso) => {
    // Act / Assess
    expect(parseScheduleTime(value)?.toISOString()).toBe(iso);
  });
});
