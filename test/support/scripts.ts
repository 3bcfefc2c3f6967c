/**
 * Test-only scripts for exercising the engine and compiler without network sources: a generator reader, a
 * continuable reader, a failing step and a collecting sink.
 */

import type { ScriptRegistry } from '../../lib/core/registry.ts';
import { defineScript } from '../../lib/core/script.ts';
import { defaultRegistry } from '../../lib/scripts/index.ts';

/** Emits `count` records `{UID, profile: {email, firstName, lastName}, n}`. */
export const testGenerate = defineScript({
  type: 'test.generate',
  summary: 'Emits generated account records (tests only).',
  consumes: 'nothing',
  produces: 'records',
  continues: true,
  params: {
    count: { type: 'integer', default: 10, description: 'Records to emit.' },
    perInvocation: {
      type: 'integer',
      default: 0,
      description: 'Pause with a continuation after this many (0: never).',
    },
  },
  create(params, ctx) {
    return {
      async read(out) {
        let n = (ctx.continuation as { n?: number } | undefined)?.n ?? 0;
        let inThisCall = 0;
        while (n < params.count && out.remaining > 0) {
          out.emit({
            UID: `uid-${n}`,
            profile: { email: `user${n}@example.com`, firstName: `First${n}`, lastName: `Last${n}` },
            n,
          });
          n++;
          inThisCall++;
          if (n % 1000 === 0) await out.flush();
          if (params.perInvocation > 0 && inThisCall >= params.perInvocation && n < params.count)
            return { continuation: { n } };
        }
        return undefined;
      },
    };
  },
});

/** Rejects records whose `n` is divisible by `every`. */
export const testRejectEvery = defineScript({
  type: 'test.reject',
  summary: 'Rejects every n-th record (tests only).',
  consumes: 'records',
  produces: 'records',
  params: { every: { type: 'integer', default: 10, description: 'Reject records whose n is a multiple of this.' } },
  create(params) {
    return {
      records(batch, out) {
        for (const r of batch) {
          if (typeof r.n === 'number' && r.n % params.every === 0)
            out.reject(r, { code: 'TEST', message: `n=${r.n} rejected` });
          else out.emit(r);
        }
      },
    };
  },
});

/** Fails with a coded error (transient the first `transientTimes` invocations when set). */
let failures = 0;
export const testFail = defineScript({
  type: 'test.fail',
  summary: 'Fails (tests only).',
  consumes: 'records',
  produces: 'records',
  params: {
    transientTimes: {
      type: 'integer',
      default: 0,
      description: 'Fail transiently this many times, then pass records through.',
    },
  },
  create(params) {
    return {
      records(batch, out) {
        if (params.transientTimes > 0 && failures < params.transientTimes) {
          failures++;
          throw Object.assign(new Error('simulated drop'), { code: 'ECONNRESET' });
        }
        if (params.transientTimes === 0) throw new Error('simulated permanent failure');
        for (const r of batch) out.emit(r);
      },
    };
  },
});

/** A record writer that reports one record fewer delivered than it received (a target that lost one). */
export const testShortfall = defineScript({
  type: 'test.shortfall',
  summary: 'Delivers all records but one (tests only).',
  consumes: 'records',
  produces: 'nothing',
  delivers: 'records',
  params: {},
  create() {
    return {
      records(batch, out) {
        out.deliveredRecords(Math.max(0, batch.length - 1));
      },
    };
  },
});

/** The default registry plus the test scripts. */
export function testRegistry(): ScriptRegistry {
  return defaultRegistry()
    .clone()
    .register(testGenerate)
    .register(testRejectEvery)
    .register(testFail)
    .register(testShortfall);
}
