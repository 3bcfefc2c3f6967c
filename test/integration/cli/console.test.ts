import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LOCAL_GIGYA_CREDENTIALS } from '../../../lib/scripts/util/gigya-step.ts';
import { postForm } from '../../support/idx-api.ts';

const home = mkdtempSync(join(tmpdir(), 'idx-console-cli-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));

describe('idx console', () => {
  it('prints its 127.0.0.1 URL, answers pages, their static files and the IDX REST API there, and stops cleanly on SIGINT', async () => {
    // Prepare
    const child = spawn(process.execPath, ['bin/idx.js', 'console', '--port', '0'], {
      env: { ...process.env, NO_COLOR: '1', IDX_HOME: home },
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));

    // Act
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (c: Buffer) => {
        stdout += c.toString();
        const m = /console: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(stdout);
        if (m?.[1]) resolve(m[1]);
      });
      child.on('close', () => reject(new Error(`idx console ended: ${stderr}`)));
    });
    const page = await fetch(url);
    const html = await page.text();
    // A static file, read from lib/console/static beside the sources whether the CLI runs bundled or not.
    const css = await fetch(`${url}assets/console.css`);
    const cssText = await css.text();
    const search = await postForm(`${url}idx.search`, { ...LOCAL_GIGYA_CREDENTIALS, query: 'SELECT id FROM dataflow' });
    const refused = await postForm(`${url}idx.search`, { query: 'SELECT id FROM dataflow' });
    child.kill('SIGINT');
    const code = await exited;

    // Assess
    expect(page.status).toBe(200);
    expect(html).toContain('data-dataflow="eloqua-outbound"');
    expect(css.status).toBe(200);
    expect(cssText).toBe(readFileSync('lib/console/static/console.css', 'utf8'));
    expect(search.errorCode, JSON.stringify(search)).toBe(0);
    expect((search.result as { id: string }[]).map((r) => r.id)).toContain('eloqua-outbound');
    expect(refused.errorCode).not.toBe(0);
    expect(stdout).toContain(`IDX API at ${url}idx.<method>`);
    expect(code, stderr).toBe(0);
    expect(stderr).toContain('stopping the console');
  });
});
