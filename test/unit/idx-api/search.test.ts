import { describe, expect, it } from 'vitest';
import { jobFilterOf, parseIdxQuery } from '../../../lib/idx-api/search.ts';

const where = (clause: string) => parseIdxQuery(`SELECT * FROM idx_job_status WHERE ${clause}`).where;

describe('the job filter of an idx.search query', () => {
  it.each([
    ["dataflowId='a'", { dataflowId: 'a' }],
    ["status = 'failed' AND dataflowId = 'a'", { dataflowId: 'a' }],
    ["(dataflowId = 'a' AND status = 'failed') AND updateTime > '2026-01-01'", { dataflowId: 'a' }],
  ])('keeps to one dataflow for %s', (clause, filter) => {
    // Act / Assess
    expect(jobFilterOf(where(clause))).toEqual(filter);
  });

  it.each([
    "dataflowId = 'a' OR dataflowId = 'b'",
    "NOT dataflowId = 'a'",
    "dataflowId != 'a'",
    'dataflowId = 1',
    "schedulingId = 'a'",
  ])('reads every job for %s', (clause) => {
    // Act / Assess
    expect(jobFilterOf(where(clause))).toEqual({});
  });

  it('reads every job without a WHERE', () => {
    // Act / Assess
    expect(jobFilterOf(parseIdxQuery('SELECT * FROM idx_job_status').where)).toEqual({});
  });
});
