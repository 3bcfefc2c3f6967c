/**
 * `npm run bench -- escapes`: every escape of lib/testing/escapes.ts against the former `node:vm` sandbox
 * (bin/bench/vm-sandbox.ts) and against record.evaluate's QuickJS sandbox, at validation and on one record,
 * each in a child process capped at 512 MB of heap (a memory bomb that kills it shows as `crashed`). The
 * test suite proves the QuickJS column (test/unit/scripts/sandbox-escapes.test.ts); this table shows that each
 * of those tests would fail against the former sandbox.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ESCAPES } from '../../lib/testing/escapes.ts';

const HERE = new URL('.', import.meta.url).pathname;

/** What one attempt came to. */
export interface Attempt {
  readonly escaped: boolean;
  readonly answer: string;
  readonly seconds: number;
}

function attempt(index: number, sandbox: 'vm' | 'quickjs', phase: 'validate' | 'run'): Attempt {
  const dir = mkdtempSync(join(tmpdir(), 'idx-escape-'));
  const marker = join(dir, 'escaped');
  const started = performance.now();
  try {
    const r = spawnSync(
      process.execPath,
      [
        '--max-old-space-size=512',
        '--import',
        'tsx',
        join(HERE, 'escapes-child.ts'),
        String(index),
        sandbox,
        phase,
        marker,
      ],
      { encoding: 'utf8', timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
    );
    const seconds = (performance.now() - started) / 1000;
    const line = r.stdout.trim().split('\n').pop() ?? '';
    if (r.status !== 0 || !line.startsWith('{')) {
      const why = r.signal
        ? `killed (${r.signal})`
        : /heap out of memory/i.test(r.stderr)
          ? 'heap out of memory'
          : `exit ${r.status}`;
      return { escaped: false, answer: `crashed: ${why}`, seconds };
    }
    const { escaped, answer } = JSON.parse(line) as { escaped: boolean; answer: string };
    return { escaped, answer, seconds };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const cell = (a: Attempt) =>
  `${a.escaped ? '**ESCAPED** ' : ''}${a.answer.replace(/\|/g, '/')} (${a.seconds.toFixed(1)} s)`;

/** Runs every attack against both sandboxes; prints a table. */
export async function run(): Promise<void> {
  const out = [
    '',
    '## record.evaluate escapes: the former node:vm sandbox vs QuickJS',
    '',
    '| escape | node:vm, validation | node:vm, one record | QuickJS, validation | QuickJS, one record |',
    '| --- | --- | --- | --- | --- |',
  ];
  for (const [i, attack] of ESCAPES.entries()) {
    const cells = [
      attempt(i, 'vm', 'validate'),
      attempt(i, 'vm', 'run'),
      attempt(i, 'quickjs', 'validate'),
      attempt(i, 'quickjs', 'run'),
    ].map(cell);
    out.push(`| ${attack.name} | ${cells.join(' | ')} |`);
    process.stdout.write(`${out.at(-1)}\n`);
  }
  out.push('', '(seconds include starting the child process; each child has a 512 MB heap cap)');
  process.stdout.write(`${out.slice(0, 5).join('\n')}\n${out.slice(5).join('\n')}\n`);
}
