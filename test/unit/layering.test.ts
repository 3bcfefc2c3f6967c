/**
 * The layering of the sources, checked on the import graph (every relative import, type-only ones included):
 *
 *   bin, lambdas, cli, testing → deployed → idx-api → local, infra, console → compiler, engine → scripts, dataflow → connectors, stores → core
 *
 * A folder imports only from layers below its own, never from a sibling of its layer except where named below,
 * never from outside the sources (test/), and folders never import each other in a cycle.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '../..');

/** The layers, top first. `types` holds ambient declarations of third-party modules, read by every layer. */
const LAYERS: readonly (readonly string[])[] = [
  // testing: the harness tests and benchmarks run scripts with; nothing in the runtime imports it.
  ['bin', 'lambdas', 'cli', 'testing'],
  // deployed: the console and the IDX API over a deployed stack (the console function's wiring, AWS errors).
  ['deployed'],
  // idx-api: the IDX REST API, served by the CLI (and the console) over the local environment.
  ['idx-api'],
  // console: the web console's server and pages, over a backend interface (lib/cli has the local one).
  ['local', 'infra', 'console'],
  ['compiler', 'engine'],
  ['scripts', 'dataflow'],
  ['connectors', 'stores'],
  ['core', 'types'],
];

/** Imports allowed between two folders of one layer. */
const SIDEWAYS: ReadonlySet<string> = new Set([
  // The entry points: the idx launcher starts the CLI.
  'bin → cli',
  // The benchmarks run scripts through the test harness, as the tests do.
  'bin → testing',
  // The dataflow model sits beside the scripts: a script renders placeholders and lists the catalogue with it.
  'scripts → dataflow',
  // The console shows a schedule's next run as the deployed schedule computes it.
  'console → infra',
]);

/**
 * Files of core that are the contracts between scripts, the engine and the state machine; a connector is a
 * protocol client, which takes plain options and a logger, and knows none of them.
 */
const SCRIPT_CONTRACTS = ['script.ts', 'params.ts', 'registry.ts', 'events.ts', 'refs.ts', 'keys.ts'].map((f) =>
  join('lib', 'core', f),
);

/**
 * Imports that break a rule and are known, each with why it is still there. Keep it tiny: an entry that no longer
 * matches an import fails the test, so it goes when its import goes.
 */
const ALLOWED: readonly { readonly from: string; readonly to: string; readonly why: string }[] = [];

/** One relative import: importing file and imported file, both relative to the repository. */
interface Import {
  readonly from: string;
  readonly to: string;
}

/** The folder a file belongs to: `lib/<folder>/…`, or the top folder (`bin`, `lambdas`, `test`). */
function folderOf(path: string): string {
  const parts = path.split(sep);
  return (parts[0] === 'lib' ? parts[1] : parts[0]) ?? '';
}

function layerOf(folder: string): number {
  return LAYERS.findIndex((layer) => layer.includes(folder));
}

/** Every relative import of the runtime's sources (bin, lambdas, lib). */
function importGraph(): Import[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      const path = join(dir, e.name);
      if (e.isDirectory()) walk(path);
      else if (/\.(ts|js|mjs)$/.test(e.name)) files.push(path);
    }
  };
  for (const dir of ['bin', 'lambdas', 'lib']) walk(dir);
  return files.flatMap((from) =>
    ts
      .preProcessFile(readFileSync(join(ROOT, from), 'utf8'), true, true)
      .importedFiles.filter((f) => f.fileName.startsWith('.'))
      .map((f) => ({ from, to: relative(ROOT, resolve(ROOT, dirname(from), f.fileName)) })),
  );
}

/** What is wrong with one import, or undefined when it keeps the rules. */
function ruleBroken({ from, to }: Import): string | undefined {
  const a = folderOf(from);
  const b = folderOf(to);
  if (a === 'connectors' && SCRIPT_CONTRACTS.includes(to)) return 'connectors know no script contract';
  if (a === b) return undefined;
  const [la, lb] = [layerOf(a), layerOf(b)];
  if (la < 0) return `${a} has no layer`;
  if (lb < 0) return `${b} is not part of the layered sources`;
  if (lb > la) return undefined;
  if (lb === la && SIDEWAYS.has(`${a} → ${b}`)) return undefined;
  return lb === la ? `${a} and ${b} are one layer` : `${b} is above ${a}`;
}

/** The folder pairs on an import cycle: strongly connected components of the folder graph with more than one folder. */
function folderCycles(imports: readonly Import[]): string[][] {
  const edges = new Map<string, Set<string>>();
  for (const { from, to } of imports) {
    const [a, b] = [folderOf(from), folderOf(to)];
    if (a !== b) edges.set(a, (edges.get(a) ?? new Set()).add(b));
  }
  const reach = (start: string): Set<string> => {
    const seen = new Set<string>();
    const stack = [start];
    for (let f = stack.pop(); f !== undefined; f = stack.pop())
      for (const next of edges.get(f) ?? [])
        if (!seen.has(next)) {
          seen.add(next);
          stack.push(next);
        }
    return seen;
  };
  const cycles = new Map<string, string[]>();
  for (const folder of edges.keys()) {
    const component = [...reach(folder)].filter((other) => reach(other).has(folder)).sort();
    if (component.length > 1) cycles.set(component.join(), component);
  }
  return [...cycles.values()];
}

describe('the layering', () => {
  const imports = importGraph();
  const known = (i: Import) => ALLOWED.some((a) => a.from === i.from && a.to === i.to);

  it('reads the import graph of every layer', () => {
    // Act
    const folders = new Set(imports.map((i) => folderOf(i.from)));

    // Assess
    expect([...folders].sort()).toEqual(
      expect.arrayContaining(['bin', 'cli', 'compiler', 'connectors', 'dataflow', 'engine', 'infra', 'lambdas']),
    );
    expect(imports.length).toBeGreaterThan(300);
  });

  it('has every import point down the layers, or sideways where allowed', () => {
    // Act
    const broken = imports
      .filter((i) => !known(i))
      .flatMap((i) => {
        const rule = ruleBroken(i);
        return rule ? [`${i.from} → ${i.to}: ${rule}`] : [];
      });

    // Assess
    expect(broken).toEqual([]);
  });

  it('has no import cycle between folders', () => {
    // Act
    const cycles = folderCycles(imports.filter((i) => !known(i)));

    // Assess
    expect(cycles).toEqual([]);
  });

  it('keeps the compiler off the engine, scripts off local, infra and engine, connectors off the step layers', () => {
    // Prepare
    const never: Record<string, readonly string[]> = {
      compiler: ['engine'],
      scripts: ['local', 'infra', 'engine'],
      connectors: ['scripts', 'engine', 'stores', 'dataflow'],
      core: LAYERS.flat().filter((f) => f !== 'core'),
    };

    // Act
    const broken = imports
      .filter((i) => never[folderOf(i.from)]?.includes(folderOf(i.to)))
      .map((i) => `${i.from} → ${i.to}`);

    // Assess
    expect(broken).toEqual([]);
  });

  it('allows only exceptions that an import still needs', () => {
    // Act
    const stale = ALLOWED.filter((a) => !imports.some((i) => i.from === a.from && i.to === a.to));

    // Assess
    expect(stale).toEqual([]);
  });
});
