/**
 * The calls-per-second budget that the partitions of a Gigya read in a Map state share when they run in
 * concurrent Lambdas: each call takes its slot from the state table (lib/stores/call-budget.ts) and waits for it,
 * and a 403048 pauses every partition through the same item and slows the pace of all of them by a step (counted
 * in the item for the job). Used only by a partition of a Map state whose runtime keeps budgets in the table
 * (deployed); one process running every partition shares an in-memory budget instead.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { pacedRate, type SharedBudget } from '../../connectors/gigya.ts';
import type { Logger } from '../../core/logger.ts';
import type { ScriptContext } from '../../core/script.ts';
import { type BudgetKey, CallBudgetStore } from '../../stores/call-budget.ts';

/** A {@link SharedBudget} whose slots and pauses are in the dataflow state table. */
export class TableCallBudget implements SharedBudget {
  readonly #store: CallBudgetStore;
  readonly #key: BudgetKey;
  readonly #callsPerSecond: number;
  /** The job's pauses as the table last said, and this budget's own since then: the pace slows by a step each. */
  #slowdowns = 0;
  readonly #log: Logger;

  constructor(store: CallBudgetStore, key: BudgetKey, callsPerSecond: number, log: Logger) {
    this.#store = store;
    this.#key = key;
    this.#callsPerSecond = callsPerSecond;
    this.#log = log;
  }

  async acquire(signal?: AbortSignal, onHeld?: () => void): Promise<() => void> {
    const slot = await this.#store.take(this.#key, 1000 / pacedRate(this.#callsPerSecond, this.#slowdowns));
    if (slot.slowdowns !== undefined && slot.slowdowns > this.#slowdowns) this.#slowdowns = slot.slowdowns;
    if (slot.held) onHeld?.();
    const wait = slot.start - Date.now();
    if (wait > 0) await sleep(wait, undefined, signal ? { signal } : {});
    // A slot is a start time, not a place: nothing to give back.
    return () => undefined;
  }

  pause(ms: number): void {
    this.#slowdowns++;
    // The caller retries after its own backoff anyway; the pause is what holds the other partitions back.
    this.#store.pause(this.#key, Date.now() + ms).catch((error: unknown) => {
      this.#log.warn(`the shared call budget was not paused: ${(error as Error).message}`);
    });
  }
}

/**
 * The table budget of a job's calls to one site (`target` and `apiKey`: the site, named in the item's key by a
 * hash, so no key appears in the table), or undefined when this step shares the in-process one.
 */
export function tableBudgetFor(
  ctx: ScriptContext,
  site: { readonly target: string; readonly apiKey: string },
  callsPerSecond: number,
): TableCallBudget | undefined {
  const { config } = ctx.services;
  const mode = config.gigyaBudget ?? (config.local ? 'process' : 'table');
  if (ctx.partition === undefined || mode !== 'table') return undefined;
  const name = createHash('sha256').update(`${site.target}|${site.apiKey}`).digest('hex').slice(0, 24);
  return new TableCallBudget(
    new CallBudgetStore(ctx.services.dynamo, config.tables.state),
    { dataflowId: ctx.job.dataflowId, name, jobId: ctx.job.id },
    callsPerSecond,
    ctx.log,
  );
}
