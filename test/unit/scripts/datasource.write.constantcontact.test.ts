import { describe, expect, it } from 'vitest';
import { contactOf, subscribes, v3Name } from '../../../lib/scripts/datasource.write.constantcontact.ts';

describe('v3Name', () => {
  it('turns V2-style field names into V3 names', () => {
    // Act
    const names = ['Custom Field 1', 'First Name', ' job-title ', 'UID'].map(v3Name);

    // Assess
    expect(names).toEqual(['custom_field_1', 'first_name', 'job_title', 'uid']);
  });
});

describe('subscribes', () => {
  it('reads boolean-like values and refuses anything else with a coded error', () => {
    // Act
    const yes = [true, 1, 'true', ' YES ', '1'].map(subscribes);
    const no = [false, 0, 'false', 'no', '', null, undefined].map(subscribes);
    const odd = subscribes('maybe');

    // Assess
    expect(yes).toEqual([true, true, true, true, true]);
    expect(no).toEqual([false, false, false, false, false, false, false]);
    expect(odd).toMatchObject({ code: 'IDX_CONSTANTCONTACT_REJECTED' });
  });
});

describe('contactOf', () => {
  it('sends the address, V3 properties by name and other fields as custom fields, leaving out empty ones', () => {
    // Prepare
    const record = {
      Email: ' ann@example.com ',
      'Custom Field 1': 'uid-1',
      'First Name': 'Ann',
      newsletterField: true,
      profile: {},
      _meta: 'x',
    };

    // Act
    const made = contactOf(record, 'Email', 'newsletterField');

    // Assess
    expect(made).toEqual({ contact: { email: 'ann@example.com', 'cf:custom_field_1': 'uid-1', first_name: 'Ann' } });
  });

  it('refuses a record without an address', () => {
    // Act
    const made = contactOf({ Email: ' ' }, 'Email', 'newsletterField');

    // Assess
    expect(made).toMatchObject({ error: { code: 'IDX_CONSTANTCONTACT_REJECTED' } });
  });
});
