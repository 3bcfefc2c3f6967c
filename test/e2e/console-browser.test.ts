/**
 * The web console in real headless Chromium on the embedded services: an operator sees the shipped dataflows,
 * runs a test of eloqua-outbound and watches it succeed with per-step counters, opens a rejected record of an
 * inbound run, duplicates a dataflow, and creates one from a template, fixing a validation error in the editor.
 * The screenshots the README shows are taken here: into docs/console/ with `IDX_UPDATE_SCREENSHOTS=1`, otherwise
 * into a temporary folder, so that a test run leaves the committed images (which differ in every run: job ids,
 * times) as they are.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SHIPPED_SCHEMA } from '../../lib/cli/console-backend.ts';
import { launchChromium, startTestConsole } from '../support/console.ts';
import { useEloquaWorld } from '../support/eloqua.ts';

const UPDATE_SCREENSHOTS = process.env.IDX_UPDATE_SCREENSHOTS === '1';
const SCREENSHOTS = UPDATE_SCREENSHOTS
  ? new URL('../../docs/console/', import.meta.url).pathname
  : mkdtempSync(join(tmpdir(), 'idx-console-shots-'));
const world = useEloquaWorld(30);
let app: Awaited<ReturnType<typeof startTestConsole>>;
let browser: Awaited<ReturnType<typeof launchChromium>>;
let page: Page;

beforeAll(async () => {
  app = await startTestConsole(world.env);
  browser = await launchChromium();
  page = await browser.context.newPage();
  mkdirSync(SCREENSHOTS, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
  if (!UPDATE_SCREENSHOTS) rmSync(SCREENSHOTS, { recursive: true, force: true });
});

/** What an element shows (its text content; a missing element fails the wait). */
const text = async (locator: Locator) => (await locator.textContent()) ?? '';

const shot = (name: string) => page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });

/** Presses Run Test on a dataflow's page and waits on the job page (which refreshes itself) for its end. */
async function runTest(dataflowId: string): Promise<string> {
  await page.goto(`${app.server.url}dataflows/${dataflowId}`);
  await page.getByRole('button', { name: 'Run Test' }).click();
  await page.waitForURL(/\/jobs\/local-/);
  await page.locator('.facts .status-succeeded, .facts .status-failed').waitFor({ timeout: 30_000 });
  return decodeURIComponent(new URL(page.url()).pathname.split('/')[2] ?? '');
}

describe('the web console in Chromium', () => {
  it('lists the shipped dataflows with their outline, schedules and validation', async () => {
    // Act
    await page.goto(app.server.url);

    // Assess
    const rows = page.locator('table.dataflows tbody tr');
    expect(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-dataflow')))).toEqual([
      'eloqua-bulk-inbound',
      'eloqua-bulk-outbound',
      'eloqua-inbound',
      'eloqua-outbound',
      'sample-s3-csv',
    ]);
    const outbound = page.locator('tr[data-dataflow="eloqua-outbound"]');
    expect(await text(outbound.locator('.outline'))).toBe('account > rename > remember UIDs > remove > dsv > sftp');
    expect(await text(outbound)).toContain('nightly: every 1 day');
    expect(await outbound.locator('.badge.on', { hasText: 'valid' }).count()).toBe(1);
  });

  it('runs a test of eloqua-outbound and shows the job succeeded with per-step counters', async () => {
    // Act
    const jobId = await runTest('eloqua-outbound');

    // Assess
    expect(await text(page.locator('.facts .status'))).toBe('succeeded');
    const counters = async (step: string) =>
      (await page.locator(`tr[data-step="${step}"] td.n`).allTextContents()).slice(0, 3).map(Number);
    expect(await counters('account')).toEqual([0, 10, 0]);
    expect(await counters('rename')).toEqual([10, 10, 0]);
    expect(await counters('remember UIDs')).toEqual([10, 10, 0]);
    expect(await text(page.locator('tr[data-step="sftp"] .file'))).toMatch(/gigya_to_eloqua_.*\.csv \(\d/);
    expect(await text(page.locator('pre.trace'))).toContain('job started (test run, 10 records)');
    await shot('job');
    await page.goto(app.server.url);
    expect(
      await page.locator('tr[data-dataflow="eloqua-outbound"] a', { hasText: /^\d{4}-/ }).getAttribute('href'),
    ).toBe(`/jobs/${jobId}`);
  });

  it('opens a rejected record of an inbound test run and downloads them all', async () => {
    // Prepare: an Eloqua export with a contact nobody knows and a malformed row.
    const [exported] = [...world.csvs('to-eloqua').values()];
    const known = exported?.[0] as Record<string, string>;
    mkdirSync(join(world.root, 'from-eloqua'), { recursive: true });
    writeFileSync(
      join(world.root, 'from-eloqua', 'eloqua_export_1.csv'),
      [
        'C_EmailAddress,C_Gigya_UID1,C_FirstName,C_LastName,isSubscribed',
        `${known.C_EmailAddress},${known.C_Gigya_UID1},A,B,true`,
        'stranger@example.com,,S,One,true',
        'broken@example.com,uid-of-broken,B,Smith, Jr,true',
        '',
      ].join('\r\n'),
    );

    // Act
    const jobId = await runTest('eloqua-inbound');
    await page.locator('tr[data-step="dsv"] a', { hasText: 'view' }).click();
    await page.locator('details.record summary').first().click();

    // Assess
    const record = page.locator('details.record[open] pre');
    expect(JSON.parse(await text(record))).toMatchObject({ _errorDetails: { code: expect.any(String) } });
    expect(await page.locator('details.record').count()).toBe(1);
    await shot('rejected');
    const download = await page.request.get(`${app.server.url}jobs/${jobId}/rejected/dsv/download`);
    expect(download.headers()['content-type']).toContain('application/x-ndjson');
    expect((await download.text()).trim().split('\n')).toHaveLength(1);
  });

  it('runs now with fullExtract and a limit, runs dry, and disables and enables a schedule', async () => {
    // Act
    await page.goto(`${app.server.url}dataflows/eloqua-outbound`);
    await page.locator('form.run input[name="fullExtract"]').check();
    await page.locator('form.run input[name="limit"]').fill('3');
    await page.getByRole('button', { name: 'Run now' }).click();
    await page.waitForURL(/\/jobs\/local-/);
    await page.locator('.facts .status-succeeded').waitFor({ timeout: 30_000 });
    const limited = await text(page.locator('.facts'));
    await page.goto(`${app.server.url}dataflows/eloqua-outbound`);
    await page.getByRole('button', { name: 'Dry run' }).click();
    await page.waitForURL(/\/jobs\/local-/);
    await page.locator('.facts .status-succeeded').waitFor({ timeout: 30_000 });
    const dry = await text(page.locator('.facts'));
    const wouldWrite = await text(page.locator('tr[data-step="sftp"]'));
    await page.goto(`${app.server.url}dataflows/eloqua-outbound`);
    await page.getByRole('button', { name: 'Disable' }).click();
    await page.getByRole('button', { name: 'Enable' }).waitFor();
    const disabled = await text(page.locator('tr[data-schedule="nightly"] .badge'));
    await page.getByRole('button', { name: 'Enable' }).click();
    await page.getByRole('button', { name: 'Disable' }).waitFor();

    // Assess
    expect(limited).toContain('limit 3, full extract');
    expect(limited).toContain('3 in, 3 out, 0 rejected');
    expect(dry).toContain('dry run');
    expect(wouldWrite).toMatch(/would write .*gigya_to_eloqua_/);
    expect(disabled).toBe('disabled');
    expect(await text(page.locator('tr[data-schedule="nightly"] .badge'))).toBe('enabled');
  });

  it('shows the graph with its error edges, the masked params and the JSON of a dataflow', async () => {
    // Act
    await page.goto(`${app.server.url}dataflows/eloqua-inbound`);

    // Assess
    expect(await page.locator('svg.graph g.node').count()).toBe(10);
    expect(await page.locator('svg.graph path.edge-error').count()).toBe(4);
    expect(await text(page.locator('.step[data-step="sftp"] .params'))).toContain('from-eloqua');
    expect(await text(page.locator('pre.json'))).toContain('"id": "eloqua-inbound"');
    await shot('dataflow');
  });

  it('duplicates a dataflow with its schedules disabled', async () => {
    // Act
    await page.goto(`${app.server.url}dataflows/eloqua-outbound`);
    await page.getByRole('button', { name: 'Duplicate' }).click();
    await page.waitForURL(/\/dataflows\/eloqua-outbound-copy$/);

    // Assess
    expect(await text(page.locator('h1'))).toMatch(/\(copy\)$/);
    expect(await text(page.locator('tr[data-schedule="nightly"] .badge'))).toBe('disabled');
    expect(existsSync(join(app.dir, 'eloqua-outbound-copy.json'))).toBe(true);
  });

  it('creates a dataflow from a template and saves it once the editor shows its validation error fixed', async () => {
    // Prepare
    await page.goto(`${app.server.url}new`);
    await page.locator('select[name="template"]').selectOption('eloqua|outbound');
    await page.locator('input[name="id"]').fill('nightly-export');
    await page.locator('input[name="name"]').fill('Nightly export');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.waitForURL(/\/dataflows\/nightly-export\/edit$/);
    await page.locator('#validity.valid').waitFor();
    const original = await page.locator('textarea[name="text"]').inputValue();

    // Act: a typo in a step type, seen by the live validation; then the fix, and Save.
    await page.locator('textarea[name="text"]').fill(original.replace('"field.rename"', '"field.renam"'));
    await page.locator('#validity.invalid').waitFor();
    const problem = await text(page.locator('#problems li.problem-error').first());
    await shot('editor');
    await page.locator('textarea[name="text"]').fill(original);
    await page.locator('#validity.valid').waitFor();
    await page.getByRole('button', { name: 'Save' }).click();
    await page.waitForURL(/\/dataflows\/nightly-export$/);

    // Assess
    expect(problem).toContain('field.renam');
    const saved = JSON.parse(readFileSync(join(app.dir, 'nightly-export.json'), 'utf8'));
    expect(saved).toMatchObject({ id: 'nightly-export', name: 'Nightly export' });
    expect(resolve(app.dir, saved.$schema)).toBe(SHIPPED_SCHEMA);
    expect(await text(page.locator('h1'))).toBe('Nightly export');
  });

  it('filters the jobs by dataflow and status', async () => {
    // Act
    await page.goto(`${app.server.url}jobs?dataflow=eloqua-outbound`);
    const outbound = await page.locator('table.jobs tbody tr').count();
    await shot('jobs');
    await page.goto(`${app.server.url}jobs?status=failed`);

    // Assess
    expect(outbound).toBe(3);
    expect(await page.locator('table.jobs').count()).toBe(0);
    await page.goto(app.server.url);
    await shot('dataflows');
  });
});
