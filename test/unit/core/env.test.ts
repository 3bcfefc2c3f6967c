import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ENV } from '../../../lib/core/env.ts';

const ROOT = join(__dirname, '../../..');

/** Sources that spell IDX_ names which are not the runtime's variables. */
// The console's table of HTTP statuses is keyed by error codes, as the catalogue is.
const NOT_VARIABLES = [
  join('lib', 'core', 'error-codes.ts'),
  join('lib', 'console', 'http.ts'),
  join('bin', 'bench') + '/',
];

/** Every TypeScript and JavaScript source of the runtime, as [path, text]. */
function sources(): [string, string][] {
  const out: [string, string][] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, e.name);
      if (e.isDirectory()) walk(path);
      else if (/\.(ts|js)$/.test(e.name)) out.push([relative(ROOT, path), readFileSync(path, 'utf8')]);
    }
  };
  for (const dir of ['bin', 'lambdas', 'lib']) walk(join(ROOT, dir));
  return out;
}

describe('ENV', () => {
  it('names every variable once, each with IDX_ in front and a meaning', () => {
    // Act
    const vars = Object.values(ENV);

    // Assess
    expect(new Set(vars.map((v) => v.name)).size).toBe(vars.length);
    expect(vars.filter((v) => !/^IDX_[A-Z0-9_]*$/.test(v.name) || v.meaning.trim() === '')).toEqual([]);
  });

  it('is where the sources take the names of the variables they read or set', () => {
    // Prepare: a read such as env.IDX_… or env['IDX_…'], need('IDX_…'), or a key IDX_…: in a Lambda environment
    const spelled = /\benv\s*(?:\.|\[\s*['"`])IDX_|\bneed\(\s*['"`]IDX_|^\s*IDX_[A-Z_]+\s*:/m;

    // Act
    const offenders = sources()
      // The error-code catalogue's keys are codes, not variables; the benchmarks' own variables (IDX_BENCH_ALSO_AT …) are
      // documented with the benchmarks and read nowhere else.
      .filter(([path]) => !NOT_VARIABLES.some((p) => path === p || path.startsWith(p)))
      .filter(([path, text]) => path !== join('lib', 'core', 'env.ts') && spelled.test(text))
      .map(([path]) => path);

    // Assess
    expect(offenders).toEqual([]);
  });
});
