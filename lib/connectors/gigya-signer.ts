/**
 * Request signing for the Gigya REST API (apis.md §A.2, mode 3) and RSA bearer tokens (mode 4). The client signs
 * with these functions and the local emulator verifies with the very same ones, so a signature bug shows up as a
 * failing contract test rather than as a difference between the fake and the real service.
 */
import { createHmac, createSign, createVerify, type KeyObject, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Percent-encodes like OAuth 1.0 / the official SDKs: RFC 3986 unreserved characters stay, spaces become `%20`
 * and `~` is kept (encodeURIComponent already keeps it, but escapes nothing of `!'()*`).
 */
export function percentEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** `scheme://host[:port]/path` with a lower-cased host and no default port, as the base string wants it. */
export function normalizedUrl(url: string): string {
  const u = new URL(url);
  // URL already drops :443 for https and :80 for http.
  return `${u.protocol}//${u.host.toLowerCase()}${u.pathname}`;
}

/** The signature base string: `POST&enc(url)&enc(k1=v1&k2=v2…)` with keys sorted. */
export function signatureBaseString(httpMethod: string, url: string, params: Readonly<Record<string, string>>): string {
  const query = Object.keys(params)
    .filter((k) => k !== 'sig')
    .sort()
    .map((k) => `${percentEncode(k)}=${percentEncode(params[k] ?? '')}`)
    .join('&');
  return `${httpMethod.toUpperCase()}&${percentEncode(normalizedUrl(url))}&${percentEncode(query)}`;
}

/** base64(HMAC-SHA1(key = base64-decode(secret), text)). */
export function hmacSha1(secret: string, text: string): string {
  return createHmac('sha1', Buffer.from(secret, 'base64')).update(text, 'utf8').digest('base64');
}

/** A fresh nonce: unique per request (the server refuses a reused one with 403004). */
export function makeNonce(): string {
  return `${Date.now()}${randomBytes(8).toString('hex')}`;
}

/**
 * Adds `timestamp` (Unix seconds, as the official Python SDK sends; the community Node SDK sends milliseconds),
 * `nonce` and `sig` to the params of a POST to `url`. The secret itself is not sent.
 */
export function signParams(
  url: string,
  params: Readonly<Record<string, string>>,
  secret: string,
  now: number = Date.now(),
  nonce: string = makeNonce(),
): Record<string, string> {
  const withStamp: Record<string, string> = { ...params, timestamp: String(Math.floor(now / 1000)), nonce };
  return { ...withStamp, sig: hmacSha1(secret, signatureBaseString('POST', url, withStamp)) };
}

/** Checks a signed request's `sig` in constant time. */
export function verifySignature(url: string, params: Readonly<Record<string, string>>, secret: string): boolean {
  const given = params.sig;
  if (!given) return false;
  const expected = hmacSha1(secret, signatureBaseString('POST', url, params));
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

/**
 * An RS256 JWT for `Authorization: Bearer` (apis.md §A.2 mode 4): header `kid` = the user (application) key,
 * claims `iat` (seconds) and `jti` (the nonce).
 */
export function bearerToken(userKey: string, privateKey: KeyObject | string, now: number = Date.now()): string {
  const header = base64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: userKey }));
  const claims = base64url(JSON.stringify({ iat: Math.floor(now / 1000), jti: makeNonce() }));
  const signer = createSign('RSA-SHA256');
  signer.update(`${header}.${claims}`);
  return `${header}.${claims}.${base64url(signer.sign(privateKey))}`;
}

/** The decoded parts of a bearer token whose signature checks out against `publicKeyPem`; undefined otherwise. */
export function verifyBearerToken(
  token: string,
  publicKeyPem: string,
): { kid: string; iat: number; jti: string } | undefined {
  const [h, c, s] = token.split('.');
  if (!h || !c || !s) return undefined;
  const verifier = createVerify('RSA-SHA256');
  verifier.update(`${h}.${c}`);
  let ok = false;
  try {
    ok = verifier.verify(publicKeyPem, Buffer.from(s, 'base64url'));
  } catch {
    return undefined;
  }
  if (!ok) return undefined;
  try {
    const header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as { kid?: unknown };
    const claims = JSON.parse(Buffer.from(c, 'base64url').toString('utf8')) as { iat?: unknown; jti?: unknown };
    if (typeof header.kid !== 'string' || typeof claims.iat !== 'number' || typeof claims.jti !== 'string') {
      return undefined;
    }
    return { kid: header.kid, iat: claims.iat, jti: claims.jti };
  } catch {
    return undefined;
  }
}
