import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { validateText } from '../../../lib/dataflow/validate.ts';
import { defaultRegistry } from '../../../lib/scripts/index.ts';
import { recordEvaluate } from '../../../lib/scripts/record.evaluate.ts';
import { LOG_DATA_MOST, LOG_MESSAGE_MOST, Sandbox } from '../../../lib/scripts/util/sandbox.ts';
import { runScript } from '../../../lib/testing/harness.ts';
import { fixtureFiles } from '../../support/dataflows.ts';

const b64 = (source: string) => Buffer.from(source).toString('base64');
const run = (source: string, records: Record<string, unknown>[], extra: Record<string, unknown> = {}) =>
  runScript(recordEvaluate, { script: b64(source), ECMAScriptVersion: '12', ...extra }, { records });

/** Every record.evaluate step of the public fixtures. */
const fixtureSteps = fixtureFiles().flatMap((file) => {
  const flow = JSON.parse(readFileSync(file, 'utf8')) as {
    steps: { id: string; type: string; params: Record<string, unknown> }[];
  };
  return flow.steps
    .filter((s) => s.type === 'record.evaluate')
    .map((s) => [`${basename(file)} › ${s.id}`, s.params] as const);
});

describe('record.evaluate', () => {
  it('finds the record.evaluate steps of the public dataflows', () => {
    // Assess
    expect(fixtureSteps.length).toBe(21);
  });

  it.each(fixtureSteps)('compiles and loads the published script %s', (_name, params) => {
    // Act
    const problems = recordEvaluate.check!(params as never);

    // Assess
    expect(problems).toEqual([]);
  });

  it('rebuilds nested records from dotted CSV headers with the toolkit script', async () => {
    // Prepare
    const params = fixtureSteps.find(([name]) => name.includes('03. Transform to CDC Structure'))![1];
    const records = [
      {
        'profile.firstName': 'Test 1',
        'profile.education.0.degree': 'Graduation',
        'profile.education.0.fieldOfStudy': 'Science',
        UID: 'u1',
      },
    ];

    // Act
    const out = await runScript(recordEvaluate, params, { records });

    // Assess
    expect(out.records).toEqual([
      { profile: { firstName: 'Test 1', education: [{ degree: 'Graduation', fieldOfStudy: 'Science' }] }, UID: 'u1' },
    ]);
    expect(out.trace.some((l) => l.includes('INFO [record.evaluate] Transformed Payload {"data":{"profile"'))).toBe(
      true,
    );
  });

  it('drops records the toolkit router returns null for, counting them', async () => {
    // Prepare
    const params = fixtureSteps.find(([name]) => name.includes('06. If UID Is Not Present'))![1];

    // Act
    const out = await runScript(recordEvaluate, params, { records: [{ uid: 'x' }, { uid: '  ' }, {}] });

    // Assess
    expect(out.records).toEqual([{ uid: '  ' }, {}]);
    expect(out.counters).toMatchObject({ recordsIn: 3, recordsOut: 2, recordsDropped: 1 });
  });

  it('sends error.accept records, thrown errors and wrong results to the error path with the reason', async () => {
    // Prepare
    const source = `function process(record, ctx, logger, next, error) {
      if (record.i === 1) { error.accept({ i: 1, reason: 'no email' }, record); return null; }
      if (record.i === 2) throw new Error('boom');
      if (record.i === 3) return 'text';
      if (record.i === 4) return undefined;
      if (record.i === 5) { error.accept(null, record, 'custom message'); return record; }
      return { ...record, ok: record?.i === 0 };
    }`;

    // Act
    const out = await run(source, [{ i: 0 }, { i: 1 }, { i: 2 }, { i: 3 }, { i: 4 }, { i: 5 }]);

    // Assess
    expect(out.records).toEqual([{ i: 0, ok: true }]);
    expect(
      out.rejected.map((r) => [
        r.i,
        r.reason,
        (r._errorDetails as { code: string; message: string }).code,
        (r._errorDetails as { message: string }).message,
      ]),
    ).toEqual([
      [1, 'no email', 'IDX_SCRIPT_REJECTED', 'rejected by the script'],
      [2, undefined, 'IDX_SCRIPT_ERROR', 'Error: boom'],
      [3, undefined, 'IDX_SCRIPT_RESULT', 'process() returned a string, not a record or null'],
      [
        4,
        undefined,
        'IDX_SCRIPT_RESULT',
        'process() returned nothing: return the record to pass it on, or null to drop it',
      ],
      [5, undefined, 'IDX_SCRIPT_REJECTED', 'custom message'],
    ]);
  });

  it('shares variables between records and calls once more with null when notifyLastRecord is set', async () => {
    // Prepare
    const source = `function process(record, ctx) {
      if (record === null) return { total: ctx.getSharedVariable('n'), job: ctx.jobId };
      ctx.setSharedVariable('n', (ctx.getSharedVariable('n') || 0) + record.n);
      return record;
    }`;

    // Act
    const out = await run(source, [{ n: 1 }, { n: 2 }, { n: 3 }], { notifyLastRecord: true });

    // Assess
    expect(out.records).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }, { total: 6, job: 'job-test' }]);
  });

  it('stops a record that runs too long and goes on with the next one', async () => {
    // Prepare
    const source = 'function process(record) { if (record.spin) { for (;;) {} } return record; }';

    // Act
    const out = await run(source, [{ a: 1 }, { spin: true }, { a: 2 }], { timeoutMs: 50 });

    // Assess
    expect(out.records).toEqual([{ a: 1 }, { a: 2 }]);
    expect(out.rejected).toEqual([
      {
        spin: true,
        _errorDetails: {
          code: 'IDX_SCRIPT_TIMEOUT',
          message: 'process() ran longer than 50 ms on this record and was stopped',
          stepId: 'record.evaluate',
        },
      },
    ]);
  });

  it('starts its sandbox however slowly time passes, the time limit being the script’s alone', async () => {
    // Prepare: a clock that moves a second each time it is read, as a process starved of CPU sees time pass. The
    // sandbox's own bootstrap used to run under twice the script's limit, and failed the step as the script's fault.
    const real = Date.now.bind(Date);
    let moved = 0;
    const clock = vi.spyOn(Date, 'now').mockImplementation(() => {
      moved += 1000;
      return real() + moved;
    });
    let opened: Sandbox | undefined;
    try {
      // Act
      opened = await Sandbox.open('function process(record) { return record; }', {
        filename: 'script',
        timeoutMs: 10,
        memoryBytes: 16 * 1024 * 1024,
        info: {},
        log: () => undefined,
      });
    } finally {
      clock.mockRestore();
      opened?.dispose();
    }

    // Assess
    expect(opened).toBeInstanceOf(Sandbox);
    expect(moved).toBeGreaterThan(0);
  });

  it.each([
    ['the host Function through this', 'return this.constructor.constructor("return process")();'],
    ['the host Function through ctx', 'return ctx.constructor.constructor("return process")();'],
    ['the host Function through logger', 'return logger.info.constructor("return process")();'],
    ['eval', 'return eval("process");'],
    ['require', 'return require("node:fs");'],
    [
      'the host process object',
      'return { type: typeof globalThis.process === "function" ? "own" : typeof globalThis.process, pid: globalThis.process.pid };',
    ],
    [
      'timers and Buffer',
      'return { t: typeof setTimeout, b: typeof Buffer, q: typeof queueMicrotask === "function" ? "q" : "none", r: typeof require };',
    ],
  ])('keeps the script from reaching %s', async (_what, body) => {
    // Prepare
    const source = `function process(record, ctx, logger) { ${body} }`;

    // Act
    const out = await run(source, [{ i: 1 }]);

    // Assess
    const leaked = out.records.filter(
      (r) =>
        r.pid !== undefined ||
        typeof r === 'function' ||
        r.t === 'function' ||
        r.b === 'function' ||
        r.r === 'function',
    );
    expect(leaked).toEqual([]);
    expect(out.records.length + out.rejected.length).toBe(1);
    for (const r of out.rejected) expect((r._errorDetails as { code: string }).code).toBe('IDX_SCRIPT_ERROR');
  });

  it('answers import() inside the sandbox with an error of its own, whose constructors make no code', async () => {
    // Prepare
    const source = `function process(r, ctx) {
      if (r === null) return { seen: ctx.getSharedVariable('seen') };
      import(/* hidden */ "node:fs").catch(function (e) {
        var made;
        try { made = e.constructor.constructor("return process")(); } catch (x) { made = String(x); }
        ctx.setSharedVariable('seen', String(e) + ' / ' + made);
      });
      return r;
    }`;

    // Act
    const out = await run(source, [{ i: 1 }], { notifyLastRecord: true });

    // Assess
    expect(out.records).toEqual([
      { i: 1 },
      {
        seen:
          "ReferenceError: could not load module 'node:fs' / EvalError: code generation from strings is not " +
          'available in record.evaluate scripts',
      },
    ]);
  });

  it('cuts a huge log message and huge log data to a bounded size before they reach the trace', async () => {
    // Prepare
    const source = `function process(r, ctx, logger) {
      logger.info('m'.repeat(1000000), { blob: 'd'.repeat(1000000) });
      return r;
    }`;

    // Act
    const out = await run(source, [{ i: 1 }]);

    // Assess
    const line = out.trace.find((l) => l.includes('mmmm')) ?? '';
    expect(line).toContain(`… (${1_000_000 - LOG_MESSAGE_MOST} more characters)`);
    expect(line.length).toBeLessThan(LOG_MESSAGE_MOST + LOG_DATA_MOST + 1000);
    expect(out.records).toEqual([{ i: 1 }]);
  });

  it('ignores a promise the script leaves rejected instead of crashing the process', async () => {
    // Prepare
    const source =
      'async function fail() { throw new Error("late"); } function process(r) { fail(); Promise.reject(new Error("x")); return r; }';

    // Act
    const out = await run(source, [{ i: 1 }]);
    await new Promise((resolve) => setTimeout(resolve, 20));

    // Assess
    expect(out.records).toEqual([{ i: 1 }]);
  });

  it('reports a script that does not compile as a validation error naming the step and the line', () => {
    // Prepare
    const dataflow = {
      id: 'df',
      name: 'df',
      steps: [
        { id: 'in', type: 'file.parse.dsv', params: {}, next: ['04. loginIds'] },
        {
          id: '04. loginIds',
          type: 'record.evaluate',
          params: { script: b64('function process(record) {\n  return record;\n'), ECMAScriptVersion: '12' },
        },
      ],
    };

    // Act
    const { problems } = validateText(JSON.stringify(dataflow), defaultRegistry());

    // Assess
    expect(problems).toContainEqual(
      expect.objectContaining({
        code: 'IDX_SCRIPT_INVALID',
        stepId: '04. loginIds',
        path: '$.steps[1].params.script',
        message: expect.stringContaining('the script does not compile: Unexpected token (line 3)'),
      }),
    );
  });

  it('reports a script without a process function, and text that is not base64', () => {
    // Act
    const missing = recordEvaluate.check!({ script: b64('function handle(r) { return r; }') } as never);
    const garbage = recordEvaluate.check!({ script: 'not base64!' } as never);

    // Assess
    expect(missing.map((p) => p.message)).toEqual([
      'the script defines no function process(record, ctx, logger, next, error)',
    ]);
    expect(garbage.map((p) => p.message)).toEqual(['the script is not base64 text']);
  });
});
