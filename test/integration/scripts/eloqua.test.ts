/**
 * The Eloqua Bulk API scripts one at a time against the Eloqua emulator on loopback: the reader's delta window on
 * C_DateModified and its continuation from page to page, and what the writer checks before any call.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Services } from '../../../lib/core/services.ts';
import { type EloquaEmulator, startEloquaEmulator } from '../../../lib/local/eloqua-emulator.ts';
import { datasourceReadEloqua } from '../../../lib/scripts/datasource.read.eloqua.ts';
import { datasourceWriteEloqua } from '../../../lib/scripts/datasource.write.eloqua.ts';
import { checkParams, offlineServices, runScript } from '../../../lib/testing/harness.ts';

let emu: EloquaEmulator;
let services: Services;
let clock = Date.parse('2026-03-01T00:00:00Z');

beforeAll(async () => {
  emu = await startEloquaEmulator({ now: () => clock, pollsToComplete: 1 });
  const offline = offlineServices();
  services = { ...offline, config: { ...offline.config, endpoints: { ...offline.config.endpoints, eloqua: emu.url } } };
  // Contacts modified on 1, 2 and 3 March, ten each.
  for (const day of [1, 2, 3]) {
    clock = Date.parse(`2026-03-0${day}T12:00:00Z`);
    for (let i = 0; i < 10; i++) emu.put({ C_EmailAddress: `d${day}.${i}@example.com`, C_Gigya_UID1: `u${day}.${i}` });
  }
});
afterAll(async () => {
  await emu.close();
});

const READ = {
  company: '',
  fields: [
    { sourceField: 'C_EmailAddress', targetField: 'email' },
    { sourceField: 'C_Gigya_UID1', targetField: 'profile.uid' },
    { sourceField: '{{Contact.Email.IsSubscribed}}', targetField: 'subscribed' },
  ],
};

describe('datasource.read.eloqua', () => {
  it("reads only the contacts modified in the job's delta window, into the record paths of fields", async () => {
    // Act
    const out = await runScript(datasourceReadEloqua, READ, {
      services,
      job: { delta: { from: '2026-03-02T00:00:00.000Z', to: '2026-03-02T23:59:59.000Z' } },
    });

    // Assess
    expect(out.records).toHaveLength(10);
    expect(out.records[0]).toEqual({ email: 'd2.0@example.com', profile: { uid: 'u2.0' }, subscribed: 'True' });
    expect(out.trace.join('\n')).toContain(
      "'{{Contact.Field(C_DateModified)}}' >= '2026-03-02 00:00:00' AND '{{Contact.Field(C_DateModified)}}' <= '2026-03-02 23:59:59'",
    );
  });

  it('continues from page to page across invocations and reads what one invocation reads', async () => {
    // Prepare
    const params = { ...READ, pageSize: 7, fullExtract: true };
    const whole = await runScript(datasourceReadEloqua, params, { services });

    // Act
    const records = [];
    let continuation: unknown;
    let invocations = 0;
    do {
      const out = await runScript(datasourceReadEloqua, params, {
        services,
        deadline: 0,
        ...(continuation === undefined ? {} : { continuation }),
      });
      records.push(...out.records);
      continuation = out.continuation;
      invocations++;
    } while (continuation !== undefined);

    // Assess
    expect(whole.records).toHaveLength(30);
    expect(records).toEqual(whole.records);
    expect(invocations).toBe(5);
  });
});

describe('datasource.write.eloqua', () => {
  const fields = [
    { sourceField: 'UID', targetField: 'C_Gigya_UID1' },
    { sourceField: 'email', targetField: 'C_EmailAddress' },
  ];

  it('refuses an identifierField that no field maps to, and more data POSTs than Eloqua takes per sync', () => {
    // Act
    const attempt = (params: Record<string, unknown>) => {
      try {
        checkParams(datasourceWriteEloqua as never, { fields, ...params });
        return 'accepted';
      } catch (error) {
        return `${(error as { code: string }).code} ${(error as { location: { param?: string } }).location.param}`;
      }
    };

    // Assess
    expect(attempt({})).toBe('accepted');
    expect(attempt({ identifierField: 'C_EmailAddress' })).toBe('accepted');
    expect(attempt({ identifierField: 'ContactIDExt' })).toBe('IDX_PARAM_VALUE identifierField');
    expect(attempt({ batchSize: 100_000, uploadSize: 100 })).toBe('IDX_PARAM_VALUE uploadSize');
    expect(attempt({ fields: [{ sourceField: 'UID', targetField: 'C Gigya UID' }] })).toMatch(
      /^IDX_PARAM_VALUE fields/,
    );
  });

  it('describes for a dry run the row it would import, and refuses a record without the UID or a real address', () => {
    // Prepare
    const params = { fields, identifierField: 'C_Gigya_UID1', subscriptionField: 'subscribed' } as never;
    const call = datasourceWriteEloqua.dryRun?.call as (p: never, r: Record<string, unknown>) => unknown;

    // Act
    const calls = [
      call(params, { UID: 'u1', email: 'a@example.com', subscribed: true }),
      call(params, { email: 'b@example.com' }),
      call(params, { UID: 'u3', email: 'not an email' }),
    ];

    // Assess
    expect(calls[0]).toEqual({
      method: 'eloqua.contacts.import',
      params: { C_Gigya_UID1: 'u1', C_EmailAddress: 'a@example.com', _part: 'subscribed' },
    });
    expect(calls[1]).toMatchObject({ code: 'IDX_ELOQUA_REJECTED', message: expect.stringContaining('has no UID') });
    expect(calls[2]).toMatchObject({ code: 'IDX_ELOQUA_REJECTED', message: expect.stringContaining('not an email') });
  });
});
