/**
 * The CLI runs from an esbuild bundle of its sources, built on demand (bin/cli-bundle.js): a touched source
 * rebuilds it, an untouched one does not, a half-built folder is never used, and `import.meta.url` keeps naming
 * the source file. The staleness rule is tested on a small project of its own in a temporary folder.
 */
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  realpathSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  buildBundle,
  bundledEntry,
  cacheDirOf,
  FROM_SOURCES_ENV,
  freshBundle,
  inUse,
  markInUse,
  PROJECT_ROOT,
} from '../../../bin/cli-bundle.js';
import { ENV } from '../../../lib/core/env.ts';
import { runChild } from '../../support/child.ts';

const root = mkdtempSync(join(tmpdir(), 'idx-cli-bundle-'));
const cache = join(root, 'cache');
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Writes a file of the small project. */
function write(file: string, text: string): string {
  const path = join(root, file);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
  return path;
}

write('lib/where.ts', 'export const where: string = import.meta.url;\nexport const text = "import.meta.url";\n');
write('bin/idx.ts', "export { text, where } from '../lib/where.ts';\n");
write('lib/engine/lanes/worker-entry.ts', 'export const lane = 1;\n');
write('lib/local/service-thread-entry.ts', 'export const served = 1;\n');

describe('the CLI bundle', () => {
  it('is built once and reused while no source changes', async () => {
    // Prepare
    const first = await bundledEntry('idx', root, cache);

    // Act
    const second = await bundledEntry('idx', root, cache);

    // Assess
    expect(second).toBe(first);
    expect(freshBundle(root, cache)).toBe(join(first, '..'));
  });

  it('keeps import.meta.url naming the source file, and strings that spell it unchanged', async () => {
    // Prepare
    const entry = await bundledEntry('idx', root, cache);

    // Act
    const bundled = (await import(pathToFileURL(entry).href)) as { where: string; text: string };

    // Assess
    expect(bundled.where).toBe(pathToFileURL(join(root, 'lib/where.ts')).href);
    expect(bundled.text).toBe('import.meta.url');
  });

  it('is rebuilt when a source it was built from is touched', async () => {
    // Prepare
    const before = await bundledEntry('idx', root, cache);
    const later = new Date(Date.now() + 5_000);
    utimesSync(join(root, 'lib/where.ts'), later, later);

    // Act
    const stale = freshBundle(root, cache);
    const after = await bundledEntry('idx', root, cache);

    // Assess
    expect(stale).toBeUndefined();
    expect(after).not.toBe(before);
    expect(freshBundle(root, cache)).toBe(join(after, '..'));
  });

  it('is rebuilt when a source it was built from is gone', async () => {
    // Prepare
    const other = join(root, 'other-cache');
    await buildBundle(root, other);
    rmSync(join(root, 'lib/engine/lanes/worker-entry.ts'));

    // Act
    const stale = freshBundle(root, other);

    // Assess
    expect(stale).toBeUndefined();
    write('lib/engine/lanes/worker-entry.ts', 'export const lane = 2;\n');
  });

  it('never uses a half-built folder: one without its list of sources, or one not yet made current', async () => {
    // Prepare
    const half = join(root, 'half-cache');
    mkdirSync(join(half, 'build-half'), { recursive: true });
    writeFileSync(join(half, 'build-half', 'idx.mjs'), 'throw new Error("half-built");\n');
    writeFileSync(join(half, 'current.json'), JSON.stringify({ dir: 'build-half' }));
    const unpointed = join(root, 'unpointed-cache');
    mkdirSync(join(unpointed, 'build-done'), { recursive: true });
    writeFileSync(join(unpointed, 'build-done', 'sources.json'), '[]');

    // Act
    const fromHalf = freshBundle(root, half);
    const fromUnpointed = freshBundle(root, unpointed);
    const rebuilt = await bundledEntry('idx', root, half);

    // Assess
    expect(fromHalf).toBeUndefined();
    expect(fromUnpointed).toBeUndefined();
    expect(rebuilt).not.toContain('build-half');
    expect(((await import(pathToFileURL(rebuilt).href)) as { text: string }).text).toBe('import.meta.url');
  });

  it('built by several processes at once, is always a complete one', async () => {
    // Prepare
    const shared = join(root, 'shared-cache');

    // Act
    const dirs = await Promise.all([1, 2, 3].map(() => buildBundle(root, shared)));
    const current = freshBundle(root, shared);

    // Assess
    expect(new Set(dirs).size).toBe(3);
    expect(dirs.map((d) => realpathSync(d))).toContain(current && realpathSync(current));
    for (const dir of dirs)
      expect(readdirSync(dir).sort()).toEqual(expect.arrayContaining(['idx.mjs', 'sources.json']));
  });

  it('removes a build older than an hour that no live process runs from, and keeps one a live process runs from', async () => {
    // Prepare: two old builds, one marked by this (live) process, one by a process that has ended.
    const used = await buildBundle(root, cache);
    markInUse(used);
    const left = await buildBundle(root, cache);
    const ended = spawnSync(process.execPath, ['-e', '0']).pid as number;
    mkdirSync(join(left, 'in-use'), { recursive: true });
    writeFileSync(join(left, 'in-use', String(ended)), '');
    const hoursAgo = new Date(Date.now() - 2 * 60 * 60 * 1000);
    for (const dir of [used, left]) utimesSync(dir, hoursAgo, hoursAgo);

    // Act: the next build tidies the cache.
    const next = await buildBundle(root, cache);

    // Assess
    expect(inUse(used)).toBe(true);
    expect(existsSync(used)).toBe(true);
    expect(existsSync(left)).toBe(false);
    expect(existsSync(next)).toBe(true);
  });

  it('is bypassed for the TypeScript sources when the variable lib/core/env.ts names is 1', async () => {
    // Act
    const version = await runChild(process.execPath, [join(PROJECT_ROOT, 'bin/idx.js'), '--version'], {
      env: { ...process.env, [ENV.fromSources.name]: '1' },
      timeoutMs: 60_000,
    });

    // Assess
    expect(FROM_SOURCES_ENV).toBe(ENV.fromSources.name);
    expect(version.status, version.stderr).toBe(0);
    expect(version.stdout).toMatch(/^identity-sync \d/);
  });

  it("of this project answers --help through bin/idx.js and is then current for the project's sources", async () => {
    // Act
    const help = await runChild(process.execPath, [join(PROJECT_ROOT, 'bin/idx.js'), '--help'], {
      env: { ...process.env, [ENV.fromSources.name]: '' },
      timeoutMs: 60_000,
    });

    // Assess
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toContain('usage: idx <command>');
    expect(freshBundle(PROJECT_ROOT, cacheDirOf(PROJECT_ROOT))).toBeDefined();
  });
});
