/** The HTTP layer the platform clients share, against a scripted server on loopback. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  cappedBody,
  fetchOrTransient,
  fetchRetrying,
  platformFailures,
  restCall,
  TransientError,
  unreachableError,
  withTransientRetry,
} from '../../../lib/connectors/http.ts';
import { IdxError } from '../../../lib/core/errors.ts';

/** One scripted answer: status, body and headers. */
interface Answer {
  readonly status: number;
  readonly body?: string;
  readonly headers?: Record<string, string>;
}

let server: Server;
let base = '';
/** The answers still to give, in order; the last one repeats. */
let script: Answer[] = [];
let calls = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    calls++;
    req.resume();
    const answer = (script.length > 1 ? script.shift() : script[0]) ?? { status: 200 };
    res.writeHead(answer.status, answer.headers ?? {});
    res.end(answer.body ?? '');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});
beforeEach(() => {
  calls = 0;
});

/** Fast retries, so a test waits milliseconds. */
const FAST = { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 } as const;

/** A port nothing listens on (a server started and stopped). */
async function closedPort(): Promise<string> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise((resolve) => s.close(resolve));
  return `http://127.0.0.1:${port}`;
}

const failures = platformFailures({
  platform: 'Mailchimp',
  base: 'http://mailchimp.test',
  where: 'GET /lists',
  authCode: 'IDX_MAILCHIMP_AUTH',
  authStatuses: [401],
  apiCode: 'IDX_MAILCHIMP_API',
  says: (text) => ({ message: text }),
});

describe('fetchRetrying', () => {
  it('tries again on 503 and 429, waits as long as Retry-After asks within the cap, and returns the answer that follows', async () => {
    // Prepare
    script = [{ status: 503 }, { status: 429, headers: { 'retry-after': '1' } }, { status: 200, body: 'ok' }];
    const waits: [string, number][] = [];

    // Act
    const { response } = await fetchRetrying(base, () => ({ method: 'GET' }), {
      ...FAST,
      onRetry: (what, _attempt, delay) => waits.push([what, delay]),
    });

    // Assess
    expect(await response.text()).toBe('ok');
    expect(calls).toBe(3);
    expect(waits.map(([what]) => what)).toEqual(['HTTP 503', 'HTTP 429']);
    expect(waits[1]?.[1]).toBe(FAST.maxDelayMs);
  });

  it('returns the last transient answer when the attempts run out', async () => {
    // Prepare
    script = [{ status: 502, body: 'bad gateway' }];

    // Act
    const { response } = await fetchRetrying(base, () => ({}), FAST);

    // Assess
    expect(response.status).toBe(502);
    expect(calls).toBe(FAST.attempts);
  });

  it("asks the platform's check about other refusals and hands back the body it read", async () => {
    // Prepare
    script = [
      { status: 403, body: 'REQUEST_LIMIT_EXCEEDED' },
      { status: 403, body: 'FORBIDDEN' },
    ];

    // Act
    const got = await fetchRetrying(base, () => ({}), {
      ...FAST,
      isTransient: async (status, body) => status === 403 && (await body()) === 'REQUEST_LIMIT_EXCEEDED',
    });

    // Assess
    expect(calls).toBe(2);
    expect(got.text).toBe('FORBIDDEN');
  });

  it("throws the platform's coded error when no attempt reaches the server", async () => {
    // Prepare
    const url = await closedPort();

    // Act
    const failure = await fetchRetrying(url, () => ({}), {
      ...FAST,
      unreachable: unreachableError('IDX_MAILCHIMP_API', 'Mailchimp', url),
    }).catch((e: unknown) => e);

    // Assess
    expect(failure).toBeInstanceOf(IdxError);
    expect((failure as IdxError).code).toBe('IDX_MAILCHIMP_API');
    expect((failure as IdxError).message).toContain(`Mailchimp at ${url} could not be reached`);
    expect((failure as IdxError).transient).toBe(true);
  });
});

describe('restCall', () => {
  it('parses the JSON of a 2xx answer after a 500', async () => {
    // Prepare
    script = [{ status: 500 }, { status: 200, body: '{"total":2}' }];

    // Act
    const got = await restCall({ method: 'GET', url: base, headers: {}, maxBytes: 100 }, FAST, failures);

    // Assess
    expect(got).toEqual({ status: 200, body: { total: 2 } });
  });

  it('refuses an answer larger than its bound with the platform error', async () => {
    // Prepare
    script = [{ status: 200, body: 'x'.repeat(200) }];

    // Act
    const failure = await restCall({ method: 'GET', url: base, headers: {}, maxBytes: 100 }, FAST, failures).catch(
      (e: unknown) => e,
    );

    // Assess
    expect((failure as IdxError).code).toBe('IDX_MAILCHIMP_API');
    expect((failure as IdxError).message).toContain('more than 100 bytes');
  });

  it('reports a 501 that stayed after the retries as a transient refusal, and a 401 with the auth code', async () => {
    // Prepare
    script = [{ status: 501, body: 'later' }];

    // Act
    const server5xx = await restCall({ method: 'GET', url: base, headers: {}, maxBytes: 100 }, FAST, failures).catch(
      (e: unknown) => e,
    );
    script = [{ status: 401, body: 'bad key' }];
    const auth = await restCall({ method: 'GET', url: base, headers: {}, maxBytes: 100 }, FAST, failures).catch(
      (e: unknown) => e,
    );

    // Assess
    expect(server5xx).toBeInstanceOf(IdxError);
    expect((server5xx as IdxError).code).toBe('IDX_MAILCHIMP_API');
    expect((server5xx as IdxError).transient).toBe(true);
    expect((auth as IdxError).code).toBe('IDX_MAILCHIMP_AUTH');
    expect((auth as IdxError).message).toBe('Mailchimp answered HTTP 401 to GET /lists: bad key');
  });
});

describe('cappedBody', () => {
  it('reads up to its bound and says the body was longer', async () => {
    // Prepare
    script = [{ status: 200, body: 'y'.repeat(70_000) }];

    // Act
    const got = await cappedBody(await fetch(base), 10);

    // Assess
    expect(got.truncated).toBe(true);
    expect(got.text.length).toBeLessThanOrEqual(10);
  });
});

describe('withTransientRetry', () => {
  it('runs the work again while the connection drops, then raises the coded error', async () => {
    // Prepare
    const url = await closedPort();
    let attempts = 0;

    // Act
    const failure = await withTransientRetry(
      async () => {
        attempts++;
        return fetchOrTransient(url, {}, 'Marketo');
      },
      { attempts: 3, baseDelayMs: 1, code: 'IDX_MARKETO_UNAVAILABLE', what: 'the Marketo API' },
    ).catch((e: unknown) => e);

    // Assess
    expect(attempts).toBe(3);
    expect(failure).toBeInstanceOf(IdxError);
    expect((failure as IdxError).code).toBe('IDX_MARKETO_UNAVAILABLE');
    expect((failure as IdxError).message).toContain('the connection to Marketo failed');
  });

  it('waits out the rate window a TransientError names before the next attempt', async () => {
    // Prepare
    let attempts = 0;

    // Act
    const got = await withTransientRetry(
      async () => {
        attempts++;
        if (attempts === 1) throw new TransientError('rate limited', 5);
        return 'done';
      },
      { attempts: 3, baseDelayMs: 1, code: 'IDX_MARKETO_UNAVAILABLE', what: 'the Marketo API' },
    );

    // Assess
    expect(got).toBe('done');
    expect(attempts).toBe(2);
  });
});
