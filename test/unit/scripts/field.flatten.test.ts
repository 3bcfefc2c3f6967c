import { describe, expect, it } from 'vitest';
import { fieldFlatten } from '../../../lib/scripts/field.flatten.ts';
import { runScript } from '../../../lib/testing/harness.ts';

describe('field.flatten', () => {
  it('flattens the profile as the BlueKai template asks, arrays by index', async () => {
    // Prepare
    const records = [
      { UID: 'u1', profile: { age: 30, city: 'Paris', phones: [{ number: '1' }, { number: '2' }], work: {} } },
    ];

    // Act
    const out = await runScript(fieldFlatten, { fields: ['profile'] }, { records });

    // Assess
    expect(out.records).toEqual([
      {
        UID: 'u1',
        'profile.age': 30,
        'profile.city': 'Paris',
        'profile.phones.0.number': '1',
        'profile.phones.1.number': '2',
        'profile.work': {},
      },
    ]);
  });

  it('flattens every nested object in place without fields, with a chosen delimiter and arrays as JSON', async () => {
    // Prepare
    const records = [{ a: 1, b: { c: { d: 2 } }, tags: ['x', 'y'], z: null }, { plain: true }];

    // Act
    const out = await runScript(fieldFlatten, { delimiter: '_', arrays: 'json' }, { records });

    // Assess
    expect(out.records).toEqual([{ a: 1, b_c_d: 2, tags: '["x","y"]', z: null }, { plain: true }]);
    expect(Object.keys(out.records[0]!)).toEqual(['a', 'b_c_d', 'tags', 'z']);
  });
});
