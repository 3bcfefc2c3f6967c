/**
 * What a step reaches in AWS with its function's role: the contract between the scripts, which know what their
 * params make them touch, and the infrastructure, which grants exactly that when a dataflow is deployed. A
 * script that reaches something it does not declare works locally and fails with AccessDenied once deployed.
 *
 * Declarations are computed before any job runs (at `cdk synth`), from params with their defaults applied and
 * their `${...}` placeholders as written: a value that holds a placeholder is only partly known, and a resource
 * whose name is not known at all is declared {@link UnresolvedReach} so the deployment can say so.
 */

/**
 * Objects under one key prefix of a bucket. A move is a `remove` where the object was and a `write` where it
 * goes.
 */
export interface S3Reach {
  readonly kind: 's3';
  readonly bucket: string;
  /** The literal key prefix (see {@link literalPrefix}); access covers every key that starts with it. */
  readonly prefix: string;
  /** Get the objects and list the keys under the prefix. */
  readonly read: boolean;
  /** Put objects (multipart included). */
  readonly write: boolean;
  /** Delete objects. */
  readonly remove: boolean;
}

/** A secret the step reads, by its name without the deployment's prefix (`${secret:NAME}` reads `NAME`). */
export interface SecretReach {
  readonly kind: 'secret';
  readonly name: string;
}

/** A resource the step reaches whose name is only known when the job runs: nothing can be granted for it. */
export interface UnresolvedReach {
  readonly kind: 'unresolved';
  /** What kind of resource, as it appears in the deployment's warning id (`s3-bucket`). */
  readonly resource: string;
  /** The param that names it. */
  readonly param: string;
  /** Why it cannot be granted, e.g. "the bucket name is only known at run time". */
  readonly reason: string;
  /** What an operator can do instead. */
  readonly remedy: string;
}

/**
 * One thing a step reaches. Later kinds (DynamoDB tables, KMS keys) are added to this union; the code that
 * grants reaches switches over `kind` exhaustively, so a new kind cannot go ungranted unnoticed.
 */
export type Reach = S3Reach | SecretReach | UnresolvedReach;

/** What a declaration knows of the dataflow a step belongs to. */
export interface ReachContext {
  readonly dataflowId: string;
  /** The dataflow's `apiKey`, as written (`${apiKey}` renders it). */
  readonly apiKey?: string;
}

/**
 * How a script declares what it reaches. Every script is granted the secrets its params name with
 * `${secret:NAME}` (the engine resolves them before the script starts); a script declares the rest: what it
 * reaches itself, through the clients and secret resolver its context gives it. The UID map, the dataflow's
 * state items, the stage and the jobs table are reached through the engine's services and granted to every step.
 */
export interface ScriptReaches<P> {
  /** One line for the generated docs: what the script reaches and which params decide it. */
  readonly summary: string;
  /** What a step with these params reaches (defaults applied, placeholders as written). */
  readonly of: (params: P, dataflow: ReachContext) => readonly Reach[];
}

/**
 * The part of a key before its first `${...}` placeholder, without leading `/`: what is known before the job
 * runs.
 */
export function literalPrefix(key: string): string {
  const at = key.indexOf('${');
  return (at === -1 ? key : key.slice(0, at)).replace(/^\/+/, '');
}

/** Whether a value holds a placeholder, so that it is only known when the job runs. */
export function hasPlaceholder(value: string): boolean {
  return value.includes('${');
}
