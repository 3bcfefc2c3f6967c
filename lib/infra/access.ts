/**
 * What a dataflow's function must reach beyond the stage and the tables: what each of its steps reaches, as the
 * registry declares it for the step's params (lib/core/access.ts). The stack turns this into IAM statements, so
 * a function can reach nothing its dataflow does not name.
 */
import type { S3Reach, UnresolvedReach } from '../core/access.ts';
import type { ScriptRegistry } from '../core/registry.ts';
import type { Dataflow } from '../dataflow/types.ts';

/** One S3 location a step reaches with the execution role. */
export interface S3Access extends Omit<S3Reach, 'kind'> {
  readonly stepId: string;
}

/** A resource a step reaches that cannot be granted before the job runs. */
export interface UnresolvedAccess extends Omit<UnresolvedReach, 'kind'> {
  readonly stepId: string;
}

/** What a dataflow's function reaches, step by step, gathered into what its role is granted. */
export interface DataflowAccess {
  /** The secrets its steps read (names without the deployment's prefix), sorted and unique. */
  readonly secrets: string[];
  /** The S3 locations its steps reach with the execution role, in step order. */
  readonly s3: S3Access[];
  /** What its steps reach that no grant can name ahead of time; the deployment warns about each. */
  readonly unresolved: UnresolvedAccess[];
}

/** Asks the registry what each step of the dataflow reaches with its params, and gathers it by kind. */
export function dataflowAccess(dataflow: Dataflow, registry: ScriptRegistry): DataflowAccess {
  const secrets = new Set<string>();
  const s3: S3Access[] = [];
  const unresolved: UnresolvedAccess[] = [];
  const context = { dataflowId: dataflow.id, ...(dataflow.apiKey === undefined ? {} : { apiKey: dataflow.apiKey }) };
  for (const step of dataflow.steps) {
    for (const reach of registry.reach(step.type, step.params, context)) {
      switch (reach.kind) {
        case 'secret':
          secrets.add(reach.name);
          break;
        case 's3': {
          const { bucket, prefix, read, write, remove } = reach;
          s3.push({ stepId: step.id, bucket, prefix, read, write, remove });
          break;
        }
        case 'unresolved': {
          const { resource, param, reason, remedy } = reach;
          unresolved.push({ stepId: step.id, resource, param, reason, remedy });
          break;
        }
        default:
          unreachable(reach);
      }
    }
  }
  return { secrets: [...secrets].sort(), s3, unresolved };
}

/** A reach of a kind this module does not grant yet: adding a kind to `Reach` without a case fails to compile. */
function unreachable(reach: never): never {
  throw new Error(`no grant for the reach ${JSON.stringify(reach)}`);
}

/** The warning a deployment gives for what it cannot grant. */
export function unresolvedWarning(dataflowId: string, u: UnresolvedAccess): { id: string; message: string } {
  return {
    id: `identity-sync:${u.resource}-unresolved`,
    message: `dataflow "${dataflowId}", step "${u.stepId}": ${u.reason}, so its function is granted no access to it; ${u.remedy}`,
  };
}
