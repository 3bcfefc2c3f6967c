/**
 * The project is Apache-2.0 and ships its production dependencies in the Lambda bundle: none of them may be under
 * a copyleft licence (GPL, LGPL, AGPL) or the SSPL. The production tree is read from package-lock.json (every
 * package not marked dev), each licence from the installed package's own package.json.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '../..');

/** Licences a production dependency must not be under (SPDX ids, any version, `-only`/`-or-later`). */
const COPYLEFT = /^(A?GPL|LGPL|SSPL)(-|$)/i;

interface LockEntry {
  readonly dev?: boolean;
  readonly devOptional?: boolean;
  readonly license?: string;
}

/**
 * Whether an SPDX expression can be used without a copyleft licence: `A OR B` when either can, `A AND B` when
 * both can (`WITH` exceptions keep the licence they qualify).
 */
function permissive(expression: string): boolean {
  const tokens = expression.match(/\(|\)|[^\s()]+/g) ?? [];
  let at = 0;
  const orExpr = (): boolean => {
    let ok = andExpr();
    while (tokens[at]?.toUpperCase() === 'OR') {
      at++;
      ok = andExpr() || ok;
    }
    return ok;
  };
  const andExpr = (): boolean => {
    let ok = factor();
    while (tokens[at]?.toUpperCase() === 'AND') {
      at++;
      ok = factor() && ok;
    }
    return ok;
  };
  const factor = (): boolean => {
    const token = tokens[at++] ?? '';
    if (token === '(') {
      const ok = orExpr();
      at++;
      return ok;
    }
    if (tokens[at]?.toUpperCase() === 'WITH') at += 2;
    return !COPYLEFT.test(token.replace(/\+$/, ''));
  };
  return orExpr();
}

/** The licence a package declares: `license`, the old `licenses` list, the lock file, or its licence text. */
function licenceOf(dir: string, entry: LockEntry): string | undefined {
  const manifest = join(dir, 'package.json');
  if (!existsSync(manifest)) return entry.license;
  const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as {
    license?: string | { type?: string };
    licenses?: { type?: string }[];
  };
  if (typeof pkg.license === 'string') return pkg.license;
  if (pkg.license?.type) return pkg.license.type;
  if (pkg.licenses?.length) return pkg.licenses.map((l) => l.type ?? 'UNKNOWN').join(' OR ');
  if (entry.license) return entry.license;
  // No field: the licence text or the readme's licence section says it.
  for (const file of readdirSync(dir).filter((f) => /^(licen[cs]e|copying|readme)/i.test(f))) {
    const text = readFileSync(join(dir, file), 'utf8');
    if (/GNU (LESSER |AFFERO )?GENERAL PUBLIC LICENSE|Server Side Public License/i.test(text)) return 'GPL-3.0';
    const named = /(?:^|\n)#+\s*Licen[cs]e\s*\n+\s*(?:\(The )?(MIT|ISC|Apache-2\.0|BSD-[23]-Clause)/i.exec(text);
    if (named) return named[1];
  }
  return undefined;
}

/** The production packages of the lock file with their licences. */
function productionLicences(): { path: string; licence: string | undefined }[] {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockEntry>;
  };
  return Object.entries(lock.packages)
    .filter(([path, entry]) => path !== '' && !entry.dev && !entry.devOptional)
    .map(([path, entry]) => ({ path, licence: licenceOf(join(ROOT, path), entry) }));
}

describe('production dependency licences', () => {
  it('reads dual, combined and copyleft SPDX expressions as a distributor must', () => {
    // Act / Assess
    expect(permissive('MIT')).toBe(true);
    expect(permissive('(MIT OR GPL-3.0-or-later)')).toBe(true);
    expect(permissive('LGPL-3.0')).toBe(false);
    expect(permissive('LGPL-3.0+')).toBe(false);
    expect(permissive('MIT AND AGPL-3.0-only')).toBe(false);
    expect(permissive('(GPL-2.0 WITH Classpath-exception-2.0 OR GPL-3.0)')).toBe(false);
    expect(permissive('SSPL-1.0')).toBe(false);
  });

  it('has no production dependency under a GPL, LGPL, AGPL or SSPL licence, nor one without a licence', () => {
    // Prepare
    const packages = productionLicences();

    // Act
    const copyleft = packages.filter((p) => p.licence !== undefined && !permissive(p.licence));
    const undeclared = packages.filter((p) => p.licence === undefined).map((p) => p.path);

    // Assess
    expect(packages.length).toBeGreaterThan(100);
    expect(copyleft).toEqual([]);
    expect(undeclared).toEqual([]);
  });

  it('does not depend on OpenPGP.js, whose LGPL-3.0 the PGP scripts replaced with their own code', () => {
    // Prepare
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, Record<string, string>>;

    // Act
    const names = productionLicences().map((p) => p.path);

    // Assess
    expect(Object.keys(pkg.dependencies ?? {})).not.toContain('openpgp');
    expect(names).not.toContain('node_modules/openpgp');
  });
});
