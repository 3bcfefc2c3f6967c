import { describe, expect, it } from 'vitest';
import { checkRelativeName, joinRemote, normalizeRoot, parentOf } from '../../../lib/connectors/remote-path.ts';

describe('normalizeRoot', () => {
  it.each([
    ['', '.'],
    ['.', '.'],
    ['/', '/'],
    ['/in/', '/in'],
    ['in//daily/./', 'in/daily'],
    ['  /outbound  ', '/outbound'],
  ])('normalizes %j to %j', (root, expected) => {
    // Act / Assess
    expect(normalizeRoot(root)).toBe(expected);
  });

  it.each([['../x'], ['/in/../etc'], ['in\\out'], ['in\u0000']])(
    'refuses %j with a coded error naming the param',
    (root) => {
      // Act / Assess
      expect(() => normalizeRoot(root, { param: 'remotePath' })).toThrow(
        expect.objectContaining({ code: 'IDX_REMOTE_PATH_UNSAFE', location: { param: 'remotePath' } }),
      );
    },
  );
});

describe('joinRemote', () => {
  it.each([
    ['.', 'a.csv', 'a.csv'],
    ['/', 'a.csv', '/a.csv'],
    ['/in', 'success/a.json', '/in/success/a.json'],
    ['in', 'a b.csv', 'in/a b.csv'],
  ])('joins %j and %j into %j', (root, name, expected) => {
    // Act / Assess
    expect(joinRemote(root, name)).toBe(expected);
  });

  it.each([
    ['../a.csv'],
    ['a/../../b.csv'],
    ['/etc/passwd'],
    ['C:/x.csv'],
    ['a\\b.csv'],
    ['a//b.csv'],
    ['./a.csv'],
    ['a.csv\n'],
    [''],
  ])('refuses the name %j', (name) => {
    // Act / Assess
    expect(() => joinRemote('/in', name)).toThrow(expect.objectContaining({ code: 'IDX_REMOTE_PATH_UNSAFE' }));
  });

  it('refuses a folder in a name where a plain name is expected', () => {
    // Act / Assess
    expect(() => checkRelativeName('a/b.csv', { allowFolders: false })).toThrow(
      expect.objectContaining({ code: 'IDX_REMOTE_PATH_UNSAFE' }),
    );
  });
});

describe('parentOf', () => {
  it('gives the folder of a path, "/" for a top-level absolute path, nothing for a bare name', () => {
    // Act / Assess
    expect([parentOf('in/a/b.csv'), parentOf('/a.csv'), parentOf('a.csv')]).toEqual(['in/a', '/', undefined]);
  });
});
