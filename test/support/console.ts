/**
 * The web console for tests: a copy of the shipped dataflows in a folder of the test's own (the console writes
 * there when it duplicates, creates and saves), the local backend over a started environment, the server on
 * 127.0.0.1, and real headless Chromium (Debian's /usr/bin/chromium) driven by playwright-core.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';
import { LocalConsoleBackend, type LocalConsoleBackendOptions } from '../../lib/cli/console-backend.ts';
import { type ConsoleServer, type RequestHandler, startConsoleServer } from '../../lib/console/server.ts';
import type { LocalEnvironment } from '../../lib/local/environment.ts';

/** The shipped dataflows folder of the project. */
export const PROJECT_DATAFLOWS = new URL('../../dataflows/', import.meta.url).pathname;

/** A folder holding a copy of the shipped dataflows. */
export function dataflowsCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'idx-console-dataflows-'));
  for (const f of readdirSync(PROJECT_DATAFLOWS).filter((n) => n.endsWith('.json')))
    copyFileSync(join(PROJECT_DATAFLOWS, f), join(dir, f));
  return dir;
}

/** A console over a local environment, on a copy of the shipped dataflows. */
export async function startTestConsole(
  env: LocalEnvironment,
  options: Omit<LocalConsoleBackendOptions, 'dir'> & { handlers?: RequestHandler[] } = {},
): Promise<{ server: ConsoleServer; backend: LocalConsoleBackend; dir: string; close(): Promise<void> }> {
  const dir = dataflowsCopy();
  const { handlers, ...rest } = options;
  const backend = new LocalConsoleBackend(env, { dir, ...rest });
  const server = await startConsoleServer({ backend, ...(handlers ? { handlers } : {}), log: () => undefined });
  return {
    server,
    backend,
    dir,
    async close() {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The Chromium the browser tests drive. */
export const CHROMIUM = '/usr/bin/chromium';

/** Headless Chromium with a fresh profile, no network beyond what the page asks for. */
export async function launchChromium(): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), 'idx-chromium-'));
  mkdirSync(profile, { recursive: true });
  // launchPersistentContext is how playwright passes a fresh --user-data-dir.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1400, height: 900 },
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
