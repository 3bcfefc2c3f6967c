/**
 * Turns a step's params as written into what the script receives: defaults applied, `${...}` placeholders
 * rendered for this job, `${secret:NAME}` references resolved (and registered for redaction).
 */

import { IdxError } from '../core/errors.ts';
import { applyDefaults, ownSpec, type ParamSpec, type ParamsSchema } from '../core/params.ts';
import type { JobContext } from '../core/script.ts';
import type { SecretResolver } from '../core/secrets.ts';
import { CREDENTIAL_PARAMS } from '../dataflow/catalog.ts';
import { renderPlaceholders, secretNames } from '../dataflow/placeholders.ts';
import { MASKED_SECRET } from '../dataflow/validate.ts';
import type { ChainStep } from './chain.ts';

/** Resolves params for one step invocation. */
export async function resolveParams(
  schema: ParamsSchema,
  raw: Readonly<Record<string, unknown>>,
  job: JobContext,
  secrets: SecretResolver,
  stepId: string,
): Promise<Record<string, unknown>> {
  const values = {
    now: new Date(job.startTime),
    jobId: job.id,
    dataflowId: job.dataflowId,
    ...(job.apiKey === undefined ? {} : { apiKey: job.apiKey }),
  };
  const visit = async (spec: ParamSpec | undefined, value: unknown, name: string, path: string): Promise<unknown> => {
    if (typeof value === 'string') {
      if (value === MASKED_SECRET && (spec?.type === 'string' && spec.secret ? true : CREDENTIAL_PARAMS.has(name))) {
        throw new IdxError(
          'IDX_SECRET_MASKED',
          `credential "${path}" holds the console mask "********", not a secret`,
          {
            stepId,
            param: path,
            expected: '${secret:NAME}',
            received: '"********"',
          },
        );
      }
      if (spec?.type === 'string' && spec.verbatim) return value;
      let out = renderPlaceholders(value, values, spec?.type === 'string' ? spec.timeFormat : undefined);
      for (const secret of secretNames(out)) {
        const resolved = await secrets.resolve(secret).catch((error: unknown) => {
          if (error instanceof IdxError) {
            throw new IdxError(error.code, error.message, {
              stepId,
              param: path,
              ...(error.expected === undefined ? {} : { expected: error.expected }),
              ...(error.received === undefined ? {} : { received: error.received }),
              transient: error.transient,
            });
          }
          throw error;
        });
        out = out.split(`\${secret:${secret}}`).join(resolved);
      }
      return out;
    }
    if (Array.isArray(value)) {
      const items = spec?.type === 'array' ? spec.items : undefined;
      return Promise.all(value.map((v, i) => visit(items, v, name, `${path}[${i}]`)));
    }
    if (value && typeof value === 'object') {
      const props = spec?.type === 'object' ? spec.properties : {};
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = await visit(ownSpec(props, k), v, k, `${path}.${k}`);
      return out;
    }
    return value;
  };
  const withDefaults = applyDefaults(schema, raw as Record<string, unknown>);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(withDefaults)) out[k] = await visit(ownSpec(schema, k), v, k, k);
  return out;
}

/** The params of each member of a chain as one job resolves them (see buildChain). */
export function paramsResolver(
  job: JobContext,
  secrets: SecretResolver,
): (step: ChainStep) => Promise<Record<string, unknown>> {
  return (step) => resolveParams(step.definition.params, step.params, job, secrets, step.id);
}
