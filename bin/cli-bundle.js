// The CLI and its lane worker run from an esbuild bundle of the TypeScript sources, built on demand, instead of
// through tsx's loader: the loader runs its hooks in a thread of its own with a V8 isolate of its own (about
// 37 MB of resident memory before any command runs) and compiles every module at each start. Plain JavaScript, so
// that it runs before anything can load TypeScript.
//
// Where: node_modules/.cache/identity-sync/cli-<hash of the project folder>/ (one cache per checkout, so two
// checkouts sharing one node_modules never take each other's bundle). Dependencies stay external: the bundle lives
// under node_modules, where Node resolves them as the sources do.
//
// Never a stale bundle: next to it, `sources.json` lists every file it was built from (esbuild's metafile inputs,
// plus this file and tsconfig.json) with its size and mtime; a start compares them (a few ms) and rebuilds on any
// difference or missing file.
//
// Never a half-written one: each build writes a folder of its own, `sources.json` last, then points `current.json`
// at it with an atomic rename; processes starting at once may each build, and each sees a complete bundle.
import { createHash } from 'node:crypto';
import {
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isMainThread } from 'node:worker_threads';

/** The project folder (the one holding bin/). */
export const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The bundle's entry points: output name → source file, relative to the project folder. */
export const ENTRIES = {
  idx: 'bin/idx.ts',
  'lane-worker': 'lib/engine/lanes/worker-entry.ts',
  'service-thread': 'lib/local/service-thread-entry.ts',
};

/** Set to 1 to run the CLI from the sources through tsx, as it ran before the bundle (lib/core/env.ts). */
export const FROM_SOURCES_ENV = 'IDX_FROM_SOURCES';

/** Build folders other than the current one are removed once older than this: a process just started may still be
 * about to import the one it read from `current.json`. A folder a live process runs from is kept whatever its age
 * (see {@link markInUse}): it loads chunks and starts lane workers from it long after its start. */
const OLD_BUILD_MS = 60 * 60 * 1000;

/** The folder of a build that holds one empty file per process running from it, named by its pid. */
const IN_USE = 'in-use';

/** After this long a build says on stderr what is happening (stdout is left to the command's output). */
const NOTICE_AFTER_MS = 1000;

/** The cache folder of a project's bundles. */
export function cacheDirOf(root = PROJECT_ROOT) {
  const id = createHash('sha256').update(resolve(root)).digest('hex').slice(0, 12);
  return join(root, 'node_modules', '.cache', 'identity-sync', `cli-${id}`);
}

/** Size and mtime of a file, or undefined when it is gone. */
function stamp(path) {
  try {
    const s = statSync(path);
    return { size: s.size, mtimeMs: s.mtimeMs };
  } catch {
    return undefined;
  }
}

/** The current build folder when it is complete and every file it was built from is unchanged, else undefined. */
export function freshBundle(root = PROJECT_ROOT, cacheDir = cacheDirOf(root)) {
  let dir;
  let sources;
  try {
    dir = join(cacheDir, JSON.parse(readFileSync(join(cacheDir, 'current.json'), 'utf8')).dir);
    sources = JSON.parse(readFileSync(join(dir, 'sources.json'), 'utf8'));
  } catch {
    return undefined;
  }
  for (const [file, size, mtimeMs] of sources) {
    const now = stamp(join(root, file));
    if (!now || now.size !== size || now.mtimeMs !== mtimeMs) return undefined;
  }
  return dir;
}

/**
 * esbuild plugin: `import.meta.url` in each TypeScript source becomes that source's own URL, so that paths made
 * from it (the lane worker, the console's static files, the shipped dataflows, package.json) stay where the
 * sources are rather than in the cache folder. esbuild's `define` replaces the expression only, never inside
 * strings or comments; the inline source map keeps stack traces on the source's lines.
 */
function sourceUrlPlugin(esbuild) {
  return {
    name: 'source-import-meta-url',
    setup(build) {
      build.onLoad({ filter: /\.ts$/ }, (args) => {
        const source = readFileSync(args.path, 'utf8');
        if (!source.includes('import.meta')) return undefined;
        const out = esbuild.transformSync(source, {
          loader: 'ts',
          format: 'esm',
          target: 'node20',
          sourcefile: args.path,
          sourcemap: 'inline',
          define: { 'import.meta.url': JSON.stringify(pathToFileURL(args.path).href) },
        });
        return { contents: out.code, loader: 'js' };
      });
    },
  };
}

/** Builds of this process under way: they share one esbuild service. */
let buildsRunning = 0;

/** Builds the bundle into a new folder, points `current.json` at it; returns the folder. */
export async function buildBundle(root = PROJECT_ROOT, cacheDir = cacheDirOf(root)) {
  const esbuild = await import('esbuild');
  mkdirSync(cacheDir, { recursive: true });
  const name = `build-${Date.now().toString(36)}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  // Node loads the bundle from its real path: the source map's relative paths must start there, not at a
  // symlinked node_modules, or mapped stacks would name another checkout's files.
  const dir = join(realpathSync(cacheDir), name);
  const notice = setTimeout(() => process.stderr.write('idx: building the CLI from its sources…\n'), NOTICE_AFTER_MS);
  notice.unref();
  buildsRunning++;
  const started = Date.now();
  try {
    const result = await esbuild.build({
      absWorkingDir: root,
      entryPoints: Object.fromEntries(Object.entries(ENTRIES).map(([out, file]) => [out, join(root, file)])),
      outdir: dir,
      outExtension: { '.js': '.mjs' },
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      // A linked map: `NODE_OPTIONS=--enable-source-maps` maps stack traces to the sources (README).
      sourcemap: 'linked',
      sourcesContent: false,
      metafile: true,
      logLevel: 'error',
      plugins: [sourceUrlPlugin(esbuild)],
    });
    const finished = Date.now();
    const files = [
      ...Object.keys(result.metafile.inputs).map((f) => relative(root, resolve(root, f))),
      relative(root, fileURLToPath(import.meta.url)),
      'tsconfig.json',
    ];
    // A file changed while esbuild ran may be in the bundle as it was before: recorded as unknown, so that the
    // next start rebuilds.
    const sources = [...new Set(files)].sort().flatMap((f) => {
      const s = stamp(join(root, f));
      if (!s) return [];
      return [s.mtimeMs >= started && s.mtimeMs <= finished ? [f, -1, -1] : [f, s.size, s.mtimeMs]];
    });
    writeFileSync(join(dir, 'sources.json'), `${JSON.stringify(sources)}\n`);
    const pointer = join(cacheDir, `current.json.${name}`);
    writeFileSync(pointer, `${JSON.stringify({ dir: name })}\n`);
    renameSync(pointer, join(cacheDir, 'current.json'));
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  } finally {
    clearTimeout(notice);
    // The esbuild service is a child process shared by the builds of this process: stopping it once the last one
    // ends lets the command's process exit when its work is done (stopping it earlier would strand the others).
    if (--buildsRunning === 0) await esbuild.stop?.();
  }
  removeOldBuilds(cacheDir, name);
  return dir;
}

/** Whether a process with this pid runs (one of another user answers EPERM: it runs too). */
function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error?.code === 'EPERM';
  }
}

/** Whether a live process runs from a build folder. */
export function inUse(dir) {
  let pids;
  try {
    pids = readdirSync(join(dir, IN_USE));
  } catch {
    return false;
  }
  return pids.some((name) => /^\d+$/.test(name) && Number(name) !== 0 && alive(Number(name)));
}

/**
 * Marks a build folder as used by this process until it exits, so that no other process removes it while this one
 * may still load from it. Only the main thread marks: a lane worker's exit must not unmark its process.
 */
export function markInUse(dir) {
  if (!isMainThread) return;
  const marker = join(dir, IN_USE, String(process.pid));
  try {
    mkdirSync(join(dir, IN_USE), { recursive: true });
    writeFileSync(marker, '');
  } catch {
    // A read-only cache: no other process can remove the folder either.
    return;
  }
  process.once('exit', () => rmSync(marker, { force: true }));
}

/**
 * Removes build folders (and pointer files left by a crash) other than `keep` that are older than an hour and that
 * no live process runs from.
 */
function removeOldBuilds(cacheDir, keep) {
  for (const entry of readdirSync(cacheDir)) {
    if (!entry.startsWith('build-') && !entry.startsWith('current.json.')) continue;
    if (entry === keep) continue;
    const path = join(cacheDir, entry);
    const s = stamp(path);
    if (s && Date.now() - s.mtimeMs > OLD_BUILD_MS && !inUse(path)) rmSync(path, { recursive: true, force: true });
  }
}

/** The path of an entry's bundled module, built first when missing or stale. */
export async function bundledEntry(entry, root = PROJECT_ROOT, cacheDir = cacheDirOf(root)) {
  const dir = freshBundle(root, cacheDir) ?? (await buildBundle(root, cacheDir));
  markInUse(dir);
  return join(dir, `${entry}.mjs`);
}

/**
 * Runs an entry: from the bundle, or from the sources through tsx when `IDX_FROM_SOURCES=1` or when the bundle
 * cannot be built (a read-only node_modules, an install without esbuild), which one line on stderr says.
 */
export async function runEntry(entry) {
  let bundled;
  if (process.env[FROM_SOURCES_ENV] !== '1') {
    try {
      bundled = await bundledEntry(entry);
    } catch (error) {
      const reason = error instanceof Error ? error.message.split('\n', 1)[0] : String(error);
      process.stderr.write(`idx: cannot build the CLI bundle (${reason}); running from the sources\n`);
    }
  }
  if (bundled) {
    await import(pathToFileURL(bundled).href);
    return;
  }
  const { register } = await import('tsx/esm/api');
  register();
  await import(pathToFileURL(join(PROJECT_ROOT, ENTRIES[entry])).href);
}
