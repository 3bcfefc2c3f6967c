/**
 * The console's request checks on a real server on 127.0.0.1 over a backend that records what reached it: every
 * refused request answers a coded JSON error (or an HTML page with the code), never a stack trace, and nothing
 * refused reaches the backend.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConsoleBackend, JobFilter } from '../../../lib/console/backend.ts';
import { type ConsoleServer, type RequestHandler, startConsoleServer } from '../../../lib/console/server.ts';
import { IdxError } from '../../../lib/core/errors.ts';
import type { JobRecord } from '../../../lib/stores/jobs.ts';

/** What reached the backend, method by method. */
const calls: { method: string; args: unknown[] }[] = [];

const JOB: JobRecord = {
  id: 'job-1',
  dataflowId: 'flow',
  status: 'succeeded',
  createTime: '2026-01-01T00:00:00.000Z',
  updateTime: '2026-01-01T00:00:05.000Z',
  startTime: '2026-01-01T00:00:00.000Z',
  endTime: '2026-01-01T00:00:05.000Z',
  totalRecords: 3,
  processedRecords: 2,
  attemptNumber: 1,
  trace: ['<script>alert(1)</script>'],
  steps: {},
  test: true,
  fullExtract: false,
  logLevel: 'info',
};

/** A backend that records calls; `flow` is its only dataflow, `job-1` its only job, `boom` fails uncoded. */
const backend: ConsoleBackend = new Proxy({} as ConsoleBackend, {
  get(_, name: string) {
    if (name === 'editable') return true;
    if (name === 'close') return async () => undefined;
    return async (...args: unknown[]) => {
      calls.push({ method: name, args });
      if (args[0] === 'boom') throw new Error('secret detail /home/user/.idx at line 3');
      if (name === 'getJob') {
        if (args[0] !== 'job-1') throw new IdxError('IDX_JOB_NOT_FOUND', `no job ${String(args[0])}`);
        return JOB;
      }
      if (name === 'listJobs') {
        // Dataflow `paged` has older jobs than the page shows; a cursor `bad` is one no listing gave.
        const filter = args[0] as JobFilter;
        if (filter.cursor === 'bad') throw new IdxError('IDX_JOB_CURSOR_INVALID', 'the cursor is not one');
        return filter.dataflowId === 'paged' ? { jobs: [JOB], cursor: 'older-1' } : { jobs: [] };
      }
      if (name === 'listDataflows' || name === 'listTemplates') return [];
      if (name === 'startRun') return { jobId: 'job-2' };
      if (name === 'validateText') return { valid: true, problems: [] };
      return {};
    };
  },
});

let app: ConsoleServer;
const mounted: RequestHandler = async (req, res) => {
  if (!req.url?.startsWith('/idx.')) return false;
  res.end('mounted');
  return true;
};

beforeAll(async () => {
  app = await startConsoleServer({ backend, handlers: [mounted], log: () => undefined });
});
afterAll(() => app.close());

/** One raw request (no client normalises the path or adds headers behind the test's back). */
function send(
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: app.port, method, path, headers: options.headers ?? {} }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

const origin = () => `http://127.0.0.1:${app.port}`;
const json = (body: unknown) => ({
  headers: { origin: origin(), 'content-type': 'application/json' },
  body: JSON.stringify(body),
});
const codeOf = (body: string) => (JSON.parse(body) as { error: { code: string } }).error.code;

describe('the console server', () => {
  it('starts a run for a POST from its own origin with a JSON body', async () => {
    // Act
    const res = await send('POST', '/api/dataflows/flow/run', json({ test: true, limit: 5 }));

    // Assess
    expect(res.status).toBe(202);
    expect(JSON.parse(res.body)).toEqual({ jobId: 'job-2' });
    expect(calls.at(-1)).toEqual({ method: 'startRun', args: ['flow', { test: true, limit: 5 }] });
  });

  it('refuses a state-changing request without the console’s Origin (CSRF)', async () => {
    // Prepare
    const before = calls.length;

    // Act
    const none = await send('POST', '/api/dataflows/flow/run', {
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    const other = await send('POST', '/api/dataflows/flow/run', {
      headers: { origin: 'http://evil.example', 'content-type': 'application/json' },
      body: '{}',
    });
    const crossSite = await send('POST', '/api/dataflows/flow/duplicate', {
      headers: { 'sec-fetch-site': 'cross-site', 'content-type': 'application/json' },
      body: '{}',
    });

    // Assess
    for (const res of [none, other, crossSite]) {
      expect(res.status).toBe(403);
      expect(codeOf(res.body)).toBe('IDX_HTTP_FORBIDDEN');
    }
    expect(calls.length).toBe(before);
  });

  it('refuses a request naming another host (DNS rebinding)', async () => {
    // Act
    const res = await send('GET', '/', { headers: { host: 'attacker.example' } });

    // Assess
    expect(res.status).toBe(403);
    expect(codeOf(res.body)).toBe('IDX_HTTP_FORBIDDEN');
  });

  it('refuses bodies that are not JSON, too large, not an object or of the wrong types', async () => {
    // Act
    const text = await send('POST', '/api/validate', {
      headers: { origin: origin(), 'content-type': 'text/plain' },
      body: '{}',
    });
    const large = await send('POST', '/api/validate', json({ text: 'x'.repeat(3 * 1024 * 1024) }));
    const chunked = await send('POST', '/api/validate', {
      headers: { origin: origin(), 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
      body: JSON.stringify({ text: 'y'.repeat(3 * 1024 * 1024) }),
    });
    const broken = await send('POST', '/api/validate', { ...json({}), body: '{"text":' });
    const array = await send('POST', '/api/validate', json([1]));
    const mistyped = await send('POST', '/api/validate', json({ text: 5 }));
    const badLimit = await send('POST', '/api/dataflows/flow/run', json({ limit: 0.5 }));

    // Assess
    expect([text.status, codeOf(text.body)]).toEqual([415, 'IDX_HTTP_CONTENT_TYPE']);
    expect([large.status, codeOf(large.body)]).toEqual([413, 'IDX_HTTP_BODY_TOO_LARGE']);
    expect([chunked.status, codeOf(chunked.body)]).toEqual([413, 'IDX_HTTP_BODY_TOO_LARGE']);
    expect([broken.status, codeOf(broken.body)]).toEqual([400, 'IDX_HTTP_BAD_REQUEST']);
    expect([array.status, codeOf(array.body)]).toEqual([400, 'IDX_HTTP_BAD_REQUEST']);
    expect(JSON.parse(mistyped.body).error).toMatchObject({
      code: 'IDX_HTTP_BAD_REQUEST',
      param: 'text',
      received: '5',
    });
    expect(JSON.parse(badLimit.body).error).toMatchObject({ code: 'IDX_HTTP_BAD_REQUEST', param: 'limit' });
  });

  it('refuses path traversal, bad percent-encoding and control characters in ids', async () => {
    // Act
    const dots = await send('GET', '/assets/../../etc/passwd');
    const encoded = await send('GET', '/jobs/%2e%2e/%2e%2e/etc');
    const backslash = await send('GET', '/jobs/..%5c..%5cwin.ini');
    const percent = await send('GET', '/api/jobs/%E0%A4%A');
    const control = await send('GET', '/api/jobs/a%0Ab');
    const long = await send('GET', `/api/jobs/${'a'.repeat(2000)}`);

    // Assess
    for (const res of [dots, encoded, backslash]) {
      expect(res.status).toBe(404);
      expect(res.body).not.toContain('root:');
    }
    for (const res of [percent, control, long])
      expect([res.status, codeOf(res.body)]).toEqual([400, 'IDX_HTTP_BAD_REQUEST']);
  });

  it('answers an unknown address with 404 and an unsupported method with 405 and Allow', async () => {
    // Act
    const missing = await send('GET', '/api/nothing');
    const method = await send('DELETE', '/api/jobs/job-1');

    // Assess
    expect([missing.status, codeOf(missing.body)]).toEqual([404, 'IDX_HTTP_NOT_FOUND']);
    expect([method.status, codeOf(method.body)]).toEqual([405, 'IDX_HTTP_METHOD']);
    expect(method.headers.allow).toBe('GET, POST');
  });

  it('answers a backend’s coded error with its status, and an uncoded one without its details', async () => {
    // Act
    const missing = await send('GET', '/api/jobs/job-9');
    const page = await send('GET', '/jobs/job-9');
    const crash = await send('GET', '/api/jobs/boom');

    // Assess
    expect([missing.status, codeOf(missing.body)]).toEqual([404, 'IDX_JOB_NOT_FOUND']);
    expect(page.status).toBe(404);
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.body).toContain('IDX_JOB_NOT_FOUND');
    expect(crash.status).toBe(500);
    expect(codeOf(crash.body)).toBe('IDX_INTERNAL');
    expect(crash.body).not.toContain('/home/user');
    expect(crash.body).not.toMatch(/at .*\.ts:\d+/);
  });

  it('escapes what it shows and sends a Content-Security-Policy with its pages', async () => {
    // Act
    const res = await send('GET', '/jobs/job-1');

    // Assess
    expect(res.status).toBe(200);
    expect(res.body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(res.body).not.toContain('<script>alert(1)');
    expect(res.headers['content-security-policy']).toContain("script-src 'self'");
    expect(res.headers['x-frame-options']).toBe('DENY');
  });

  it('tries mounted handlers before its own routes', async () => {
    // Act
    const res = await send('POST', '/idx.search', { body: 'query=SELECT' });

    // Assess
    expect([res.status, res.body]).toEqual([200, 'mounted']);
  });

  it('checks the Jobs filter before asking the backend', async () => {
    // Act
    const status = await send('GET', '/api/jobs?status=bogus');
    const time = await send('GET', '/api/jobs?from=yesterday');
    const good = await send('GET', '/api/jobs?dataflow=flow&status=failed&from=2026-01-01T00:00');

    // Assess
    expect(JSON.parse(status.body).error).toMatchObject({ code: 'IDX_HTTP_BAD_REQUEST', param: 'status' });
    expect(JSON.parse(time.body).error).toMatchObject({ code: 'IDX_HTTP_BAD_REQUEST', param: 'from' });
    expect(good.status).toBe(200);
    expect(calls.at(-1)).toEqual({
      method: 'listJobs',
      args: [{ dataflowId: 'flow', status: 'failed', from: '2026-01-01T00:00:00.000Z', limit: 200 }],
    });
  });

  it('links the Jobs page to the older jobs with the same filter, and hands the cursor on to the backend', async () => {
    // Act
    const first = await send('GET', '/jobs?dataflow=paged&status=succeeded');
    const older = await send('GET', '/jobs?dataflow=paged&status=succeeded&cursor=older-1');
    const api = await send('GET', '/api/jobs?dataflow=paged');
    const last = await send('GET', '/jobs?dataflow=flow');
    const bad = await send('GET', '/api/jobs?cursor=bad');

    // Assess
    expect(first.body).toContain(
      '<a href="/jobs?dataflow=paged&amp;status=succeeded&amp;cursor=older-1">Older jobs</a>',
    );
    expect(older.status).toBe(200);
    expect(calls.find((c) => c.method === 'listJobs' && (c.args[0] as JobFilter).cursor === 'older-1')?.args).toEqual([
      { dataflowId: 'paged', status: 'succeeded', limit: 200, cursor: 'older-1' },
    ]);
    expect([JSON.parse(api.body), api.headers['x-idx-older-cursor']]).toEqual([[JOB], 'older-1']);
    expect(last.body).not.toContain('Older jobs');
    expect([bad.status, codeOf(bad.body)]).toEqual([400, 'IDX_JOB_CURSOR_INVALID']);
  });

  it('accepts only ids a file can be named after for a new dataflow', async () => {
    // Act
    const res = await send(
      'POST',
      '/api/dataflows',
      json({ integration: 'eloqua', direction: 'outbound', id: '../x' }),
    );

    // Assess
    expect(JSON.parse(res.body).error).toMatchObject({ code: 'IDX_HTTP_BAD_REQUEST', param: 'id' });
    expect(calls.some((c) => c.method === 'createDataflow')).toBe(false);
  });
});

describe('the console server of a deployed backend', () => {
  it('says dataflows change through the repository and refuses to create or edit them', async () => {
    // Prepare
    const deployed = new Proxy(backend, { get: (t, name) => (name === 'editable' ? false : Reflect.get(t, name)) });
    const server = await startConsoleServer({ backend: deployed, log: () => undefined });
    const ask = (method: string, path: string, body?: unknown) =>
      fetch(`${server.url}${path.slice(1)}`, {
        method,
        ...(body === undefined
          ? {}
          : {
              headers: { origin: server.url.slice(0, -1), 'content-type': 'application/json' },
              body: JSON.stringify(body),
            }),
      });

    // Act
    const home = await (await ask('GET', '/')).text();
    const duplicate = await ask('POST', '/api/dataflows/flow/duplicate', {});
    const editor = await ask('GET', '/dataflows/flow/edit');
    await server.close();

    // Assess
    expect(home).toContain('cdk deploy');
    expect(home).not.toContain('href="/new"');
    expect(duplicate.status).toBe(404);
    expect(((await duplicate.json()) as { error: { code: string } }).error.code).toBe('IDX_HTTP_NOT_FOUND');
    expect(editor.status).toBe(404);
  });
});
