import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { signParams } from '../../../lib/connectors/gigya-signer.ts';
import type { IdxData } from '../../../lib/idx-api/data.ts';
import { MAX_REQUEST_BYTES } from '../../../lib/idx-api/handler.ts';
import { MAX_QUERY_LENGTH, MAX_SEARCH_LIMIT } from '../../../lib/idx-api/search.ts';
import { LOCAL_GIGYA_CREDENTIALS } from '../../../lib/scripts/util/gigya-step.ts';
import { JobStore } from '../../../lib/stores/jobs.ts';
import { type Answer, postForm, serveApi, useIdxApi } from '../../support/idx-api.ts';
import { runningJobRecord } from '../../support/jobs.ts';

const api = useIdxApi(['eloqua-outbound.json', 'sample-s3-csv.json']);

/** Searches and expects success. */
async function search(query: string, extra: Record<string, string> = {}): Promise<Answer> {
  const answer = await api.call('idx.search', { query, ...extra });
  expect(answer, JSON.stringify(answer)).toMatchObject({ errorCode: 0, statusCode: 200 });
  return answer;
}

/** Polls `idx.search` until the scheduling's job has ended (the API starts runs in the background). */
async function jobOf(schedulingId: string): Promise<Record<string, unknown>> {
  for (;;) {
    const answer = await search(`select * from idx_job_status where schedulingId='${schedulingId}'`);
    const job = (answer.result as Record<string, unknown>[])[0];
    if (job && job.status !== 'running') return job;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('the IDX REST API', () => {
  it('answers SELECT * FROM dataflow with every dataflow as IdentitySync does, in the Gigya envelope', async () => {
    // Act
    const answer = await search('SELECT * FROM dataflow');

    // Assess
    expect(answer).toMatchObject({ apiVersion: 2, statusReason: 'OK', resultCount: 2, totalCount: 2 });
    expect(answer.callId).toMatch(/^[0-9a-f]{32}$/);
    expect(new Date(String(answer.time)).toISOString()).toBe(answer.time);
    const rows = answer.result as Record<string, unknown>[];
    expect(rows.map((r) => r.id).sort()).toEqual(['eloqua-outbound', 'sample-s3-csv']);
    const outbound = rows.find((r) => r.id === 'eloqua-outbound') as Record<string, unknown>;
    expect(outbound).toMatchObject({ status: 'published', version: 1, description: expect.stringContaining('dsv') });
    expect((outbound.steps as unknown[]).length).toBeGreaterThan(3);
    // Schedulings are objects of their own in IdentitySync: the scheduling table has them.
    expect(outbound).not.toHaveProperty('schedules');
  });

  it('answers SELECT * FROM scheduling WHERE dataflowId with the schedules of that dataflow', async () => {
    // Act
    const answer = await search("SELECT * FROM scheduling WHERE dataflowId='eloqua-outbound'");

    // Assess
    expect(answer.result).toEqual([
      expect.objectContaining({
        id: 'nightly',
        dataflowId: 'eloqua-outbound',
        frequencyType: 'day',
        frequencyInterval: 1,
        enabled: true,
      }),
    ]);
  });

  it('runs a once scheduling with limit 10 at once on the embedded services, and its job answers the queries', async () => {
    // Prepare
    const data = {
      name: 'run test',
      dataflowId: 'eloqua-outbound',
      frequencyType: 'once',
      fullExtract: true,
      limit: 10,
    };

    // Act
    const created = await api.call('idx.createScheduling', { data: JSON.stringify(data) });
    const job = await jobOf(String(created.id));
    const latest = await search(
      "SELECT * FROM idx_job_status WHERE dataflowId='eloqua-outbound' ORDER BY updateTime DESC LIMIT 5",
    );
    const scheduling = await api.call('idx.getScheduling', { id: String(created.id) });

    // Assess
    expect(created).toMatchObject({ errorCode: 0, id: expect.stringMatching(/^[0-9a-f]{32}$/) });
    expect(job).toMatchObject({
      id: created.jobId,
      dataflowId: 'eloqua-outbound',
      schedulingId: created.id,
      status: 'succeeded',
      totalRecords: 10,
      processedRecords: 10,
      limit: 10,
      fullExtract: true,
      attemptNumber: 1,
    });
    const steps = job.steps as Record<string, { recordsIn: number; files?: unknown[] }>;
    expect(steps.dsv?.recordsIn).toBe(10);
    expect(steps.sftp?.files).toHaveLength(1);
    expect((latest.result as { id: string }[])[0]?.id).toBe(created.jobId);
    expect(scheduling).toMatchObject({
      errorCode: 0,
      id: created.id,
      dataflowId: 'eloqua-outbound',
      frequencyType: 'once',
      limit: 10,
      jobId: created.jobId,
      schedulingStatus: 'ready',
    });
  });

  it('adds a recurring scheduling to the dataflow file, and refuses an invalid one or an unknown dataflow', async () => {
    // Prepare
    const hourly = {
      dataflowId: 'sample-s3-csv',
      name: 'every six hours',
      frequencyType: 'hour',
      frequencyInterval: 6,
      nextJobStartTime: '2026-01-01 00:00:00',
      id: 'Will be generated upon creation',
    };

    // Act
    const created = await api.call('idx.createScheduling', { data: JSON.stringify(hourly) });
    const listed = await search("SELECT id, name FROM scheduling WHERE dataflowId='sample-s3-csv'");
    const file = JSON.parse(readFileSync(join(api.dir, 'sample-s3-csv.json'), 'utf8')) as { schedules: unknown[] };
    const yearly = await api.call('idx.createScheduling', {
      data: JSON.stringify({ ...hourly, name: 'yearly', frequencyType: 'year' }),
    });
    const unknown = await api.call('idx.createScheduling', {
      data: JSON.stringify({ dataflowId: 'nope', frequencyType: 'once' }),
    });
    const missing = await api.call('idx.createScheduling', { data: JSON.stringify({ frequencyType: 'once' }) });
    const notJson = await api.call('idx.createScheduling', { data: '{"dataflowId":' });

    // Assess
    expect(created).toMatchObject({ errorCode: 0, id: expect.stringMatching(/^[0-9a-f]{32}$/) });
    expect(created).not.toHaveProperty('jobId');
    expect(listed.result).toEqual(expect.arrayContaining([{ id: created.id, name: 'every six hours' }]));
    expect(file.schedules).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ id: created.id, frequencyType: 'hour', frequencyInterval: 6 }),
      ]),
    );
    expect(yearly).toMatchObject({
      errorCode: 400009,
      validationErrors: [expect.objectContaining({ fieldName: '$.schedules[0].frequencyType' })],
    });
    expect(unknown).toMatchObject({ errorCode: 404000 });
    expect(missing).toMatchObject({ errorCode: 400002 });
    expect(notJson).toMatchObject({ errorCode: 400006 });
  });

  it('pages with openCursor and cursorId: LIMIT rows a page, every row once, and a retried cursor repeats its page', async () => {
    // Prepare
    const jobs = new JobStore(api.env.services.dynamo, api.env.config.tables.jobs);
    const ids = Array.from({ length: 7 }, (_, i) => `paged-${i}`);
    for (const id of ids) await jobs.create(runningJobRecord(id, 'paged'));
    const query = "SELECT id, status FROM idx_job_status WHERE dataflowId='paged' ORDER BY id LIMIT 3";

    // Act
    const first = await search(query, { openCursor: 'true' });
    const second = await api.call('idx.search', { cursorId: String(first.nextCursorId) });
    const again = await api.call('idx.search', { cursorId: String(first.nextCursorId) });
    const third = await api.call('idx.search', { cursorId: String(second.nextCursorId) });

    // Assess
    const page = (a: Answer) => (a.result as { id: string }[]).map((r) => r.id);
    expect([first, second, third].map((a) => a.resultCount)).toEqual([3, 3, 1]);
    expect([...page(first), ...page(second), ...page(third)]).toEqual(ids);
    expect(first.totalCount).toBe(7);
    expect(third).not.toHaveProperty('nextCursorId');
    expect(page(again)).toEqual(page(second));
    expect((first.result as Record<string, unknown>[])[0]).toEqual({ id: 'paged-0', status: 'running' });
  });

  it('takes its parameters as a JSON body or a query string as well as a form', async () => {
    // Prepare
    const params = { ...LOCAL_GIGYA_CREDENTIALS, query: 'SELECT count(*) FROM dataflow' };

    // Act
    const json = (await (
      await fetch(`${api.url}/idx.search`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(params),
      })
    ).json()) as Answer;
    const get = (await (await fetch(`${api.url}/idx.search?${new URLSearchParams(params)}`)).json()) as Answer;

    // Assess
    for (const answer of [json, get]) expect(answer).toMatchObject({ errorCode: 0, result: [{ 'count(*)': 2 }] });
  });

  it.each([
    ['no apiKey', { apiKey: '' }, 400002],
    ['an apiKey of another site', { apiKey: '3_other' }, 400093],
    ['an unknown userKey', { userKey: 'nobody' }, 403005],
    ['a wrong secret', { secret: 'd3Jvbmc=' }, 403003],
    ['a userKey without its secret', { secret: '' }, 403007],
    ['no userKey', { userKey: '', secret: '' }, 403007],
  ])('refuses %s with Gigya error %i and no stack trace', async (_what, override, code) => {
    // Act
    const answer = await api.call('idx.search', { query: 'SELECT * FROM dataflow', ...override });

    // Assess
    expect(answer).toMatchObject({ errorCode: code, statusCode: Math.floor(code / 1000) });
    expect(answer).not.toHaveProperty('result');
    expect(JSON.stringify(answer)).not.toMatch(/\bat .*\.ts|Error:/);
  });

  it('accepts a signed request (over http or https) and refuses a replayed, a stale, a wrongly signed one or an overlong nonce', async () => {
    // Prepare
    const url = `${api.url}/idx.search`;
    const base = { apiKey: LOCAL_GIGYA_CREDENTIALS.apiKey, userKey: LOCAL_GIGYA_CREDENTIALS.userKey };
    const query = { query: 'SELECT count(*) FROM scheduling' };

    const signed = signParams(url, { ...base, ...query }, LOCAL_GIGYA_CREDENTIALS.secret);
    const viaTls = signParams(url.replace('http:', 'https:'), { ...base, ...query }, LOCAL_GIGYA_CREDENTIALS.secret);

    // Act
    const good = await postForm(url, signed);
    const replayed = await postForm(url, signed);
    const proxied = await postForm(url, viaTls);
    const bad = await postForm(url, signParams(url, { ...base, ...query }, 'b3RoZXIgc2VjcmV0'));
    const stale = await postForm(
      url,
      signParams(url, { ...base, ...query }, LOCAL_GIGYA_CREDENTIALS.secret, Date.now() - 10 * 60_000),
    );
    const longNonce = await postForm(
      url,
      signParams(url, { ...base, ...query }, LOCAL_GIGYA_CREDENTIALS.secret, Date.now(), 'n'.repeat(257)),
    );

    // Assess
    expect(good).toMatchObject({ errorCode: 0 });
    expect(replayed).toMatchObject({ errorCode: 403004 });
    expect(proxied).toMatchObject({ errorCode: 0 });
    expect(bad).toMatchObject({ errorCode: 403003 });
    expect(stale).toMatchObject({ errorCode: 403002 });
    expect(longNonce).toMatchObject({ errorCode: 400006 });
  });

  it('answers with the HTTP status of the error when asked with httpStatusCodes=true', async () => {
    // Act
    const res = await fetch(`${api.url}/idx.search`, {
      method: 'POST',
      body: new URLSearchParams({ ...LOCAL_GIGYA_CREDENTIALS, query: 'SELECT', httpStatusCodes: 'true' }),
    });

    // Assess
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ errorCode: 400006 });
  });

  it.each([
    ['an empty query', '', 400002],
    ['a lone SELECT', 'SELECT', 400006],
    ['an unknown table', 'SELECT * FROM accounts', 400006],
    ['an unterminated string', "SELECT * FROM dataflow WHERE id='abc", 400006],
    ['clauses out of order', 'SELECT * FROM dataflow LIMIT 5 WHERE id = 1', 400006],
    ['SQL injection', "SELECT * FROM dataflow WHERE id='x'; DROP TABLE dataflow; --", 400006],
    ['nesting 100 deep', `SELECT * FROM dataflow WHERE ${'('.repeat(100)}id='x'${')'.repeat(100)}`, 400006],
    ['NOT 100 times', `SELECT * FROM dataflow WHERE ${'NOT '.repeat(100)}id='x'`, 400006],
    ['a query over the length limit', `SELECT * FROM dataflow WHERE id='${'a'.repeat(MAX_QUERY_LENGTH)}'`, 400006],
    ['a backtracking regex', "SELECT * FROM dataflow WHERE id = regex('(a+)+$')", 400006],
    ['LIMIT over the cap', `SELECT * FROM dataflow LIMIT ${MAX_SEARCH_LIMIT + 1}`, 400006],
    ['LIMIT 0', 'SELECT * FROM dataflow LIMIT 0', 400006],
    ['a negative LIMIT', 'SELECT * FROM dataflow LIMIT -1', 400006],
    ['a NUL byte', "SELECT * FROM dataflow WHERE id='\u0000'\u0000", 400006],
    ['START with a cursor', 'SELECT * FROM dataflow START 1 LIMIT 1', 400006, { openCursor: 'true' }],
    ['a query with a cursorId', 'SELECT * FROM dataflow', 400006, { cursorId: 'abc' }],
    ['an unknown cursorId', undefined, 400006, { cursorId: 'not-a-cursor' }],
    ['openCursor that is no boolean', 'SELECT * FROM dataflow', 400006, { openCursor: 'yes' }],
  ])('answers %s with Gigya error %i', async (_what, query, code, extra: Record<string, string> = {}) => {
    // Act
    const answer = await api.call('idx.search', { ...(query === undefined ? {} : { query }), ...extra });

    // Assess
    expect(answer, JSON.stringify(answer)).toMatchObject({ errorCode: code, errorDetails: expect.any(String) });
  });

  it('answers every query of a generated hostile corpus with a result or 400006, never a server error', async () => {
    // Prepare
    const pieces = [
      'SELECT',
      '*',
      'FROM',
      'dataflow',
      'WHERE',
      'id',
      '=',
      "'x'",
      '"y"',
      '(',
      ')',
      'AND',
      'OR',
      'NOT',
      '<',
      '>',
      '!=',
      'ORDER',
      'BY',
      'DESC',
      'LIMIT',
      '5',
      '-1',
      ',',
      'constructor',
      '__proto__',
      'IS',
      'NULL',
      'IN',
      "'",
      '\\',
      'count(*)',
      '1e999',
      'START',
    ];
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    const queries = Array.from({ length: 200 }, (_, i) => {
      const words = Array.from({ length: 1 + (random() % 14) }, () => pieces[random() % pieces.length]);
      return i % 2 ? ['SELECT', '*', 'FROM', 'dataflow', ...words].join(' ') : words.join(' ');
    });

    // Act
    const codes = new Set<number>();
    for (const query of queries) codes.add((await api.call('idx.search', { query })).errorCode);

    // Assess
    expect(
      [...codes].every((c) => c === 0 || c === 400006),
      [...codes].join(),
    ).toBe(true);
  });

  it('answers a body over 2 MB with 413001 and a JSON body that is no object with 400001', async () => {
    // Act
    const big = await postForm(`${api.url}/idx.search`, { query: 'x'.repeat(MAX_REQUEST_BYTES + 1) });
    const array = (await (
      await fetch(`${api.url}/idx.search`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '[1, 2]',
      })
    ).json()) as Answer;

    // Assess
    expect(big).toMatchObject({ errorCode: 413001 });
    expect(array).toMatchObject({ errorCode: 400001 });
  });

  it('answers a dataflow nested 100,000 levels deep with 400009, not a server error', async () => {
    // Prepare
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    const data = `{"name":"deep","steps":[{"id":"a","type":"field.remove","params":{"fields":${deep}}}]}`;
    const before = readdirSync(api.dir).sort();

    // Act
    const answer = await api.call('idx.createDataflow', { data });

    // Assess
    expect(answer).toMatchObject({ errorCode: 400009 });
    expect(readdirSync(api.dir).sort()).toEqual(before);
  });

  it('answers an unknown method with 404000, and leaves paths outside /idx.* to the server', async () => {
    // Act
    const unknown = await api.call('idx.runEverything');
    const other = await fetch(`${api.url}/console`);

    // Assess
    expect(unknown).toMatchObject({ errorCode: 404000 });
    expect(other.status).toBe(404);
  });

  it('creates, changes and deletes dataflow files locally, validating them and never running their code', async () => {
    // Prepare
    const source = readFileSync(join('dataflows', 'sample-s3-csv.json'), 'utf8');
    const { id: _id, schedules: _s, ...dataflow } = JSON.parse(source) as Record<string, unknown>;
    const script = Buffer.from('function process(r) { globalThis.__idxApiRan = true; return r; }').toString('base64');
    const evaluating = {
      name: 'evaluates',
      steps: [
        { id: 'read', type: 'datasource.read.gigya.account', params: { select: 'UID' }, next: ['eval'] },
        { id: 'eval', type: 'record.evaluate', params: { script }, next: ['json'] },
        { id: 'json', type: 'file.format.json', params: { fileName: 'x.json' }, next: [] },
      ],
    };

    // Act
    const created = await api.call('idx.createDataflow', { data: JSON.stringify({ ...dataflow, name: 'copy' }) });
    const id = String(created.id);
    const got = await api.call('idx.getDataflow', { id });
    const { errorCode: _c, callId: _i, time: _t, statusCode: _sc, statusReason: _sr, apiVersion: _v, ...stored } = got;
    const unchanged = await api.call('idx.setDataflow', { data: JSON.stringify(stored) });
    const changed = await api.call('idx.setDataflow', { data: JSON.stringify({ ...stored, description: 'new' }) });
    const invalid = await api.call('idx.createDataflow', {
      data: JSON.stringify({ name: 'bad', steps: [{ id: 'a', type: 'no.such.type', next: [] }] }),
    });
    const evaluated = await api.call('idx.createDataflow', { data: JSON.stringify(evaluating) });
    const traversal = await api.call('idx.createDataflow', { data: JSON.stringify({ ...dataflow, id: '../x' }) });
    const deleted = await api.call('idx.deleteDataflow', { id });
    const gone = await api.call('idx.getDataflow', { id });

    // Assess
    expect(created).toMatchObject({ errorCode: 0, id: expect.stringMatching(/^[0-9a-f]{32}$/) });
    expect(got).toMatchObject({ errorCode: 0, id, name: 'copy', version: 1, status: 'published' });
    expect(unchanged).toMatchObject({ errorCode: 403200, errorMessage: 'Redundant Operation' });
    expect(changed).toMatchObject({ errorCode: 0, version: 2 });
    expect(invalid).toMatchObject({
      errorCode: 400009,
      validationErrors: [expect.objectContaining({ code: 'IDX_STEP_TYPE_UNKNOWN', fieldName: '$.steps[0].type' })],
    });
    expect(evaluated).toMatchObject({ errorCode: 0 });
    expect((globalThis as { __idxApiRan?: boolean }).__idxApiRan).toBeUndefined();
    expect(traversal).toMatchObject({ errorCode: 400006 });
    expect(deleted).toMatchObject({ errorCode: 0 });
    expect(gone).toMatchObject({ errorCode: 404000 });
    expect(existsSync(join(api.dir, `${id}.json`))).toBe(false);
  });

  it('answers the methods that change dataflows with 403007 where dataflows change through cdk deploy', async () => {
    // Prepare
    const deployed: IdxData = {
      dataflows: async () => [],
      schedulings: async () => [],
      jobs: async () => [],
      createScheduling: async () => ({ id: 'x', dataflowId: 'y' }),
    };
    const { server, url } = await serveApi(deployed);

    // Act
    const answers = await Promise.all(
      ['idx.createDataflow', 'idx.setDataflow', 'idx.deleteDataflow'].map((m) =>
        postForm(`${url}/${m}`, { ...LOCAL_GIGYA_CREDENTIALS, data: '{"id":"x"}', id: 'x' }),
      ),
    );
    await new Promise<void>((r) => server.close(() => r()));

    // Assess
    for (const a of answers)
      expect(a).toMatchObject({ errorCode: 403007, errorDetails: expect.stringContaining('cdk deploy') });
  });
});
