import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  bearerToken,
  hmacSha1,
  normalizedUrl,
  percentEncode,
  signatureBaseString,
  signParams,
  verifyBearerToken,
  verifySignature,
} from '../../../lib/connectors/gigya-signer.ts';

const SECRET = Buffer.from('a test secret').toString('base64');

describe('the Gigya signer', () => {
  it('builds the base string from the method, the normalized URL and the sorted, encoded params', () => {
    // Prepare
    const params = {
      userKey: 'UK',
      apiKey: '3_key',
      query: 'SELECT * FROM accounts WHERE a = "b c"',
      nonce: 'n~1',
      timestamp: '1700000000',
    };

    // Act
    const base = signatureBaseString('post', 'https://Accounts.US1.Gigya.com:443/accounts.search', params);

    // Assess
    expect(base).toBe(
      'POST&https%3A%2F%2Faccounts.us1.gigya.com%2Faccounts.search&' +
        'apiKey%3D3_key%26nonce%3Dn~1%26query%3DSELECT%2520%252A%2520FROM%2520accounts%2520WHERE%2520a%2520%253D%2520%2522b%2520c%2522' +
        '%26timestamp%3D1700000000%26userKey%3DUK',
    );
  });

  it('encodes spaces as %20, keeps ~ and escapes the characters encodeURIComponent leaves', () => {
    // Act / Assess
    expect(percentEncode("a b~c!'()*")).toBe('a%20b~c%21%27%28%29%2A');
    expect(normalizedUrl('http://127.0.0.1:8080/ds.store?x=1')).toBe('http://127.0.0.1:8080/ds.store');
  });

  it('signs with HMAC-SHA1 keyed by the base64-decoded secret', () => {
    // Act
    const sig = hmacSha1(SECRET, 'text');

    // Assess: the known value of HMAC-SHA1("a test secret", "text").
    expect(sig).toBe('9J0nurvDamVqwrBDxuHlNReW1RQ=');
  });

  it('accepts its own signature and refuses a tampered parameter or another secret', () => {
    // Prepare
    const url = 'http://127.0.0.1:1234/accounts.setAccountInfo';
    const signed = signParams(
      url,
      { apiKey: 'k', UID: 'u1', profile: '{"a":1}' },
      SECRET,
      1_700_000_000_000,
      'nonce-1',
    );

    // Act / Assess
    expect(signed.timestamp).toBe('1700000000');
    expect(signed.secret).toBeUndefined();
    expect(verifySignature(url, signed, SECRET)).toBe(true);
    expect(verifySignature(url, { ...signed, UID: 'u2' }, SECRET)).toBe(false);
    expect(verifySignature(url, signed, Buffer.from('other').toString('base64'))).toBe(false);
  });

  it('makes RS256 bearer tokens whose kid is the user key and refuses them under another key', () => {
    // Prepare
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

    // Act
    const token = bearerToken('UK', pem, 1_700_000_000_000);

    // Assess
    expect(verifyBearerToken(token, pair.publicKey.export({ type: 'spki', format: 'pem' }).toString())).toMatchObject({
      kid: 'UK',
      iat: 1_700_000_000,
    });
    expect(
      verifyBearerToken(token, other.publicKey.export({ type: 'spki', format: 'pem' }).toString()),
    ).toBeUndefined();
  });
});
