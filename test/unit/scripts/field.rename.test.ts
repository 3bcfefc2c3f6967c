import { describe, expect, it } from 'vitest';
import { fieldRename } from '../../../lib/scripts/field.rename.ts';
import { runScript } from '../../../lib/testing/harness.ts';

describe('field.rename', () => {
  it('moves nested fields to flat columns and flat columns into nested paths', async () => {
    // Prepare
    const params = {
      fields: [
        { sourceField: 'profile.email', targetField: 'MAIL' },
        { sourceField: 'EVENING_ABC', targetField: 'data.newslettersEvening.abc' },
      ],
    };
    const records = [{ UID: 'u1', profile: { email: 'a@b.c', firstName: 'A' }, EVENING_ABC: 'true' }];

    // Act
    const out = await runScript(fieldRename, params, { records });

    // Assess
    expect(out.records).toEqual([
      { UID: 'u1', profile: { firstName: 'A' }, MAIL: 'a@b.c', data: { newslettersEvening: { abc: 'true' } } },
    ]);
    expect(out.counters).toMatchObject({ recordsIn: 1, recordsOut: 1, recordsRejected: 0 });
  });

  it('renames the columns of flat records of changing shapes, keeping key order and overwriting a target in place', async () => {
    // Prepare
    const params = {
      fields: [
        { sourceField: 'profile.email', targetField: 'MAIL' },
        { sourceField: 'first', targetField: 'FIRST' },
      ],
    };
    const records = [
      { UID: 'u1', 'profile.email': 'a@b.c', first: 'A', last: 'Z' },
      { UID: 'u2', 'profile.email': 'd@e.f', first: 'D', last: 'Y' },
      { MAIL: 'old', UID: 'u3', 'profile.email': 'g@h.i', first: 'G' },
      { UID: 'u4', first: 'J' },
      { UID: 'u5', 'profile.email': 'k@l.m', first: 'K', last: 'X' },
    ];

    // Act
    const out = await runScript(fieldRename, params, { records });

    // Assess
    expect(out.records.map((r) => Object.entries(r))).toEqual([
      [
        ['UID', 'u1'],
        ['last', 'Z'],
        ['MAIL', 'a@b.c'],
        ['FIRST', 'A'],
      ],
      [
        ['UID', 'u2'],
        ['last', 'Y'],
        ['MAIL', 'd@e.f'],
        ['FIRST', 'D'],
      ],
      [
        ['MAIL', 'g@h.i'],
        ['UID', 'u3'],
        ['FIRST', 'G'],
      ],
      [
        ['UID', 'u4'],
        ['FIRST', 'J'],
      ],
      [
        ['UID', 'u5'],
        ['last', 'X'],
        ['MAIL', 'k@l.m'],
        ['FIRST', 'K'],
      ],
    ]);
  });

  it('writes the same keys for records of more key lists than it compiles copies for', async () => {
    // Prepare
    const params = { fields: [{ sourceField: 'data.subscribed', targetField: 'C_Subscribed' }] };
    const records = Array.from({ length: 80 }, (_, i) => ({ [`k${i}`]: i, data: { subscribed: i % 2 === 0 } }));

    // Act
    const out = await runScript(fieldRename, params, { records });

    // Assess
    expect(out.records.map((r) => Object.keys(r))).toEqual(records.map((_, i) => [`k${i}`, 'data', 'C_Subscribed']));
    expect(out.records[79]).toEqual({ k79: 79, data: {}, C_Subscribed: false });
  });

  it('leaves a record unchanged when the source field is absent', async () => {
    // Prepare
    const params = { fields: [{ sourceField: 'profile.likes', targetField: 'LIKES' }] };

    // Act
    const out = await runScript(fieldRename, params, { records: [{ UID: 'u1' }] });

    // Assess
    expect(out.records).toEqual([{ UID: 'u1' }]);
  });

  it('renames only own fields, never what every object inherits, even under inherited names', async () => {
    // Prepare: nested targets, so a function wrongly taken from Object.prototype would leave its parent object.
    const params = {
      fields: [
        { sourceField: 'constructor', targetField: 'meta.c' },
        { sourceField: 'profile.toString', targetField: 'meta.t' },
        { sourceField: 'profile.email', targetField: 'MAIL' },
      ],
    };
    const records: Record<string, unknown>[] = [
      { UID: 'u1', profile: { email: 'a@b.c' } },
      { UID: 'u2', constructor: 'own', profile: { toString: 'also own', email: 'd@e.f' } },
      { UID: 'u3', profile: Object.assign(Object.create(null), { email: 'g@h.i' }) },
    ];

    // Act
    const out = await runScript(fieldRename, params, { records });

    // Assess
    expect(out.records.map((r) => JSON.stringify(r))).toEqual([
      '{"UID":"u1","profile":{},"MAIL":"a@b.c"}',
      '{"UID":"u2","profile":{},"meta":{"c":"own","t":"also own"},"MAIL":"d@e.f"}',
      '{"UID":"u3","profile":{},"MAIL":"g@h.i"}',
    ]);
  });

  it('writes a single-quoted target as one flat key, as the Epsilon template names its JSON columns', async () => {
    // Prepare
    const params = { fields: [{ sourceField: 'profile.gender', targetField: "'profile.gender'" }] };

    // Act
    const out = await runScript(fieldRename, params, { records: [{ profile: { gender: 'f' } }] });

    // Assess
    expect(out.records).toEqual([{ profile: {}, 'profile.gender': 'f' }]);
  });

  it('flattens nested paths into columns in the same key order whether every source is there or not', async () => {
    // Prepare
    const params = {
      fields: [
        { sourceField: 'profile.firstName', targetField: 'C_FirstName' },
        { sourceField: 'profile.email', targetField: 'C_Email' },
        { sourceField: 'data.tier', targetField: 'C_Tier' },
      ],
    };
    const records = [
      { UID: 'u1', profile: { firstName: 'A', email: 'a@x', age: 1 }, data: { tier: 'gold' }, ok: true },
      { UID: 'u2', profile: { firstName: 'B', email: 'b@x' }, data: { tier: 'silver' } },
      { C_Email: 'old', UID: 'u3', profile: { firstName: 'C', email: 'c@x' }, data: { tier: 'x' } },
      { UID: 'u4', profile: { firstName: 'D' }, data: { tier: 'bronze' } },
    ];

    // Act
    const out = await runScript(fieldRename, params, { records });

    // Assess
    expect(out.records.map((r) => JSON.stringify(r))).toEqual([
      '{"UID":"u1","profile":{"age":1},"data":{},"ok":true,"C_FirstName":"A","C_Email":"a@x","C_Tier":"gold"}',
      '{"UID":"u2","profile":{},"data":{},"C_FirstName":"B","C_Email":"b@x","C_Tier":"silver"}',
      '{"C_Email":"c@x","UID":"u3","profile":{},"data":{},"C_FirstName":"C","C_Tier":"x"}',
      '{"UID":"u4","profile":{},"data":{},"C_FirstName":"D","C_Tier":"bronze"}',
    ]);
  });

  it('renames right when the same step starts again on records of another shape, as a laned step does per chunk', async () => {
    // Prepare
    const params = {
      fields: [
        { sourceField: 'profile.firstName', targetField: 'C_FirstName' },
        { sourceField: 'data.tier', targetField: 'C_Tier' },
      ],
    };
    const chunks = [
      [{ UID: 'u1', profile: { firstName: 'A' }, data: { tier: 'gold' } }],
      [{ created: 1, UID: 'u2', profile: { firstName: 'B', age: 2 }, data: { tier: 'silver' }, ok: false }],
      [{ UID: 'u3', profile: { firstName: 'C' }, data: { tier: 'bronze' } }],
    ];

    // Act
    const outs = [];
    for (const records of chunks) outs.push(await runScript(fieldRename, params, { records }));

    // Assess
    expect(outs.map((out) => JSON.stringify(out.records))).toEqual([
      '[{"UID":"u1","profile":{},"data":{},"C_FirstName":"A","C_Tier":"gold"}]',
      '[{"created":1,"UID":"u2","profile":{"age":2},"data":{},"ok":false,"C_FirstName":"B","C_Tier":"silver"}]',
      '[{"UID":"u3","profile":{},"data":{},"C_FirstName":"C","C_Tier":"bronze"}]',
    ]);
  });

  it('gives the same records as renaming one field at a time, for flat, nested, deeper and chained renames', async () => {
    // Prepare
    const records = [
      {
        'profile.email': 'flat@x',
        profile: { email: 'nested@x', address: { city: 'Paris', zip: '75001' }, age: 3 },
        UID: 'u1',
      },
      { profile: { email: 'n@x', address: { city: 'Rome' } }, keep: 1 },
      { other: true },
    ];
    const independent = {
      fields: [
        { sourceField: 'profile.email', targetField: 'EMAIL' },
        { sourceField: 'profile.address.city', targetField: 'CITY' },
        { sourceField: 'UID', targetField: 'data.uid' },
      ],
    };
    const chained = {
      fields: [
        { sourceField: 'UID', targetField: 'tmp' },
        { sourceField: 'tmp', targetField: 'ID' },
        { sourceField: 'profile', targetField: 'p' },
        { sourceField: 'p.age', targetField: 'AGE' },
      ],
    };

    // Act
    const a = await runScript(fieldRename, independent, { records });
    const b = await runScript(fieldRename, chained, { records });

    // Assess
    expect(a.records).toEqual([
      {
        profile: { email: 'nested@x', address: { zip: '75001' }, age: 3 },
        CITY: 'Paris',
        EMAIL: 'flat@x',
        data: { uid: 'u1' },
      },
      { profile: { address: {} }, keep: 1, EMAIL: 'n@x', CITY: 'Rome' },
      { other: true },
    ]);
    expect(a.records.map((r) => Object.keys(r))).toEqual([
      ['profile', 'EMAIL', 'CITY', 'data'],
      ['profile', 'keep', 'EMAIL', 'CITY'],
      ['other'],
    ]);
    expect(b.records).toEqual([
      {
        'profile.email': 'flat@x',
        ID: 'u1',
        p: { email: 'nested@x', address: { city: 'Paris', zip: '75001' } },
        AGE: 3,
      },
      { keep: 1, p: { email: 'n@x', address: { city: 'Rome' } } },
      { other: true },
    ]);
  });

  it('refuses params without fields with a coded error', async () => {
    // Act / Assess
    await expect(runScript(fieldRename, {}, { records: [] })).rejects.toMatchObject({ code: 'IDX_PARAM_MISSING' });
  });
});
