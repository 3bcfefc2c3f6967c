/**
 * The script registry: every script type by name. The engine, the validator, the compiler, the CLI, the
 * deployment's grants and the JSON Schema generator all read from one registry, so what runs is what is documented
 * and granted.
 */
import type { Reach, ReachContext } from './access.ts';
import { IdxError } from './errors.ts';
import { applyDefaults, type ParamsSchema, stringLeaves } from './params.ts';
import type { AnyScriptDefinition, ScriptDefinition } from './script.ts';
import { secretReferences } from './secrets.ts';

/** A set of script definitions keyed by type. */
export class ScriptRegistry {
  readonly #scripts = new Map<string, AnyScriptDefinition>();

  constructor(definitions: readonly ScriptDefinition<ParamsSchema>[] = []) {
    for (const d of definitions) this.register(d);
  }

  /** Adds a definition; a type registered twice is a programming error. */
  register<S extends ParamsSchema>(definition: ScriptDefinition<S>): this {
    if (this.#scripts.has(definition.type)) {
      throw new IdxError('IDX_REGISTRY_DUPLICATE', `script type "${definition.type}" is registered twice`);
    }
    this.#scripts.set(definition.type, definition as unknown as AnyScriptDefinition);
    return this;
  }

  /** The definition of a type, or undefined. */
  get(type: string): AnyScriptDefinition | undefined {
    return this.#scripts.get(type);
  }

  /** The definition of a type; throws a coded error when the type is not registered. */
  require(type: string): AnyScriptDefinition {
    const d = this.#scripts.get(type);
    if (!d) throw new IdxError('IDX_STEP_TYPE_UNKNOWN', `script type "${type}" is not registered`, { received: type });
    return d;
  }

  /**
   * What a step of this type reaches in AWS with these params as written in the dataflow: the secrets any of its
   * params name with `${secret:NAME}`, then what its script declares (see lib/core/access.ts). Known before
   * the job runs, so the deployment can grant exactly that.
   */
  reach(type: string, params: Readonly<Record<string, unknown>>, dataflow: ReachContext): Reach[] {
    const definition = this.require(type);
    const values = applyDefaults(definition.params, params);
    const named: Reach[] = [];
    for (const leaf of stringLeaves(definition.params, values)) {
      for (const name of secretReferences(leaf.value)) named.push({ kind: 'secret', name });
    }
    return [...named, ...(definition.reaches?.of(values as never, dataflow) ?? [])];
  }

  has(type: string): boolean {
    return this.#scripts.has(type);
  }

  /** Every definition, sorted by type. */
  list(): AnyScriptDefinition[] {
    return [...this.#scripts.values()].sort((a, b) => a.type.localeCompare(b.type));
  }

  /** An independent copy, so a test can add or replace scripts without touching the default registry. */
  clone(): ScriptRegistry {
    return new ScriptRegistry(this.list());
  }

  /** A copy where `definition` replaces the script of the same type. */
  with<S extends ParamsSchema>(definition: ScriptDefinition<S>): ScriptRegistry {
    const copy = new ScriptRegistry(this.list().filter((d) => d.type !== definition.type));
    return copy.register(definition);
  }
}
