import { describe, expect, it } from 'vitest';
import { dataCenterOf } from '../../../../lib/connectors/mailchimp.ts';
import type { ScriptContext } from '../../../../lib/core/script.ts';
import { subscriberRecord } from '../../../../lib/scripts/datasource.read.campaignmonitor.ts';
import { memberOf, memberStatus } from '../../../../lib/scripts/datasource.write.mailchimp.ts';
import { mailchimpBaseUrl } from '../../../../lib/scripts/util/mailchimp-step.ts';

/** The part of a step's context the base URL depends on: local mode and its emulator. */
function contextOf(local: boolean): ScriptContext {
  return {
    stepId: 'mailchimp',
    services: { config: { local, endpoints: local ? { mailchimp: 'http://127.0.0.1:9/3.0' } : {} } },
  } as unknown as ScriptContext;
}
const params = (apiUrl: string) => ({ apiUrl, listId: 'l1', maxAttempts: 1 });

describe('mailchimpBaseUrl', () => {
  it('completes the published <dc> template with the data center the key ends with', () => {
    // Act
    const url = mailchimpBaseUrl(params('https://<dc>.api.mailchimp.com/3.0/'), 'abc-us14', contextOf(false));

    // Assess
    expect(url).toBe('https://us14.api.mailchimp.com/3.0/');
    expect(dataCenterOf('abc-US7')).toBe('us7');
  });

  it('points a template at the emulator in local mode and keeps an explicit URL', () => {
    // Act
    const local = mailchimpBaseUrl(params(''), 'abc-us1', contextOf(true));
    const explicit = mailchimpBaseUrl(params('https://us2.api.mailchimp.com/3.0/'), 'abc-us2', contextOf(true));

    // Assess
    expect(local).toBe('http://127.0.0.1:9/3.0');
    expect(explicit).toBe('https://us2.api.mailchimp.com/3.0/');
  });

  it('refuses a data center that is not the key’s, and a template with a key that names none', () => {
    // Act
    const wrong = () => mailchimpBaseUrl(params('https://us2.api.mailchimp.com/3.0/'), 'abc-us14', contextOf(false));
    const none = () => mailchimpBaseUrl(params('https://<dc>.api.mailchimp.com/3.0/'), 'abc', contextOf(false));

    // Assess
    expect(wrong).toThrow(
      expect.objectContaining({ code: 'IDX_PARAM_VALUE', expected: 'https://us14.api.mailchimp.com/3.0/' }),
    );
    expect(none).toThrow(expect.objectContaining({ code: 'IDX_PARAM_VALUE' }));
  });
});

describe('memberStatus', () => {
  it('reads booleans, their spellings and Mailchimp statuses, and rejects anything else', () => {
    // Act
    const statuses = [true, 'true', 1, 'yes', false, 'false', 0, undefined, null, '', 'Pending'].map(memberStatus);
    const other = memberStatus('maybe');

    // Assess
    expect(statuses).toEqual([
      'subscribed',
      'subscribed',
      'subscribed',
      'subscribed',
      'unsubscribed',
      'unsubscribed',
      'unsubscribed',
      'unsubscribed',
      'unsubscribed',
      'unsubscribed',
      'pending',
    ]);
    expect(other).toMatchObject({ code: 'IDX_MAILCHIMP_REJECTED' });
  });
});

describe('memberOf', () => {
  it('makes the other top-level fields merge fields, leaving out empty ones and engine fields', () => {
    // Act
    const member = memberOf(
      { EMAIL: ' a@example.com ', FNAME: 'Ann', LNAME: null, profile: {}, UID: 'u1', newsletterField: true, _x: 1 },
      'EMAIL',
      'newsletterField',
    );
    const noAddress = memberOf({ FNAME: 'Ann' }, 'EMAIL', 'newsletterField');

    // Assess
    expect(member).toEqual({
      email_address: 'a@example.com',
      status: 'subscribed',
      merge_fields: { FNAME: 'Ann', UID: 'u1' },
    });
    expect(noAddress).toMatchObject({ code: 'IDX_MAILCHIMP_REJECTED', message: 'the record has no address in EMAIL' });
  });
});

describe('subscriberRecord', () => {
  it('lifts custom fields to the top level without brackets and sets the target field to the state read', () => {
    // Act
    const record = subscriberRecord(
      {
        EmailAddress: 'a@example.com',
        Name: 'Ann',
        Date: '2026-01-02 03:04:05',
        CustomFields: [
          { Key: '[GigyaUID]', Value: 'u1' },
          { Key: '[Name]', Value: 'custom name' },
        ],
      },
      'unsubscribed',
      'data.subscribed',
    );

    // Assess
    expect(record).toEqual({
      EmailAddress: 'a@example.com',
      Name: 'Ann',
      Date: '2026-01-02 03:04:05',
      GigyaUID: 'u1',
      CustomFields: { Name: 'custom name' },
      data: { subscribed: 'unsubscribed' },
    });
  });
});
