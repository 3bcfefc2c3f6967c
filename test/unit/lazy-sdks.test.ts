/**
 * SDKs that only some steps need are loaded when such a step runs, not with the script registry: every `idx run`
 * and every Lambda loads the registry, and the Azure SDK alone adds about 20 MB of resident memory (README,
 * "Memory of the CLI"). Checked on the sources: no module imports a value from such an SDK at its top; type-only
 * imports are erased, and `await import(…)` loads it on first use.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '../..');

/**
 * Packages loaded on first use only: the Azure SDK, and s3rver, whose modules hold some 10 MB of heap that a process
 * serving S3 from its service thread (lib/local/service-thread.ts) must not carry on its main thread.
 */
const LAZY: readonly string[] = ['@azure/storage-blob', 's3rver'];

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sources(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

/** `file: package` for each static import of a value from a lazy package. */
function eagerImports(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest);
  const found: string[] = [];
  for (const statement of source.statements) {
    if (!ts.isImportDeclaration(statement) || !ts.isStringLiteral(statement.moduleSpecifier)) continue;
    const from = statement.moduleSpecifier.text;
    if (!LAZY.includes(from)) continue;
    const clause = statement.importClause;
    const typeOnly =
      clause !== undefined &&
      (clause.isTypeOnly ||
        (clause.name === undefined &&
          clause.namedBindings !== undefined &&
          ts.isNamedImports(clause.namedBindings) &&
          clause.namedBindings.elements.every((e) => e.isTypeOnly)));
    if (!typeOnly) found.push(`${relative(ROOT, file)}: ${from}`);
  }
  return found;
}

describe('SDKs loaded on first use', () => {
  it('are imported by no module of lib/ at its top, except as types', () => {
    // Prepare
    const files = sources(join(ROOT, 'lib'));

    // Act
    const eager = files.flatMap(eagerImports);

    // Assess
    expect(files.length).toBeGreaterThan(100);
    expect(eager).toEqual([]);
  });
});
