/**
 * The calls-per-second budget that the partitions of a Gigya read in a Map state share when they run in
 * concurrent Lambdas: each call takes its slot from the state table (lib/stores/call-budget.ts) and waits for it,
 * and a 403048 pauses every partition through the same item and cuts the pace of all of them (the job's last cut
 * is in the item, and each slot hands it to its taker, who paces by it as `pacedRate` says). Used only by a
 * partition of a Map state whose runtime keeps budgets in the table (deployed); one process running every
 * partition shares an in-memory budget instead, which follows the same rule.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { cutPace, type PaceCut, pacedRate, type SharedBudget } from '../../connectors/gigya.ts';
import type { Logger } from '../../core/logger.ts';
import type { ScriptContext } from '../../core/script.ts';
import { type BudgetKey, CallBudgetStore } from '../../stores/call-budget.ts';

/** A {@link SharedBudget} whose slots, pauses and pace are in the dataflow state table. */
export class TableCallBudget implements SharedBudget {
  readonly #store: CallBudgetStore;
  readonly #key: BudgetKey & { readonly jobId: string };
  readonly #callsPerSecond: number;
  /** The job's last cut of the pace as the table last said, or this budget's own since then. */
  #cut: PaceCut | undefined;
  readonly #log: Logger;

  constructor(
    store: CallBudgetStore,
    key: BudgetKey & { readonly jobId: string },
    callsPerSecond: number,
    log: Logger,
  ) {
    this.#store = store;
    this.#key = key;
    this.#callsPerSecond = callsPerSecond;
    this.#log = log;
  }

  /** The job's last cut of the pace that this budget knows of. */
  get cut(): PaceCut | undefined {
    return this.#cut;
  }

  async acquire(signal?: AbortSignal, onHeld?: () => void): Promise<() => void> {
    const known = this.#cut;
    const interval = 1000 / pacedRate(this.#callsPerSecond, known);
    const slot = await this.#store.take(this.#key, interval);
    this.#learn(slot.cut);
    if (this.#cut !== known) {
      // The slot handed a cut this budget had not seen: it spaced the next slot at the old pace, so it adds the
      // difference, and the takers after it start at the new one.
      const extra = 1000 / pacedRate(this.#callsPerSecond, this.#cut, slot.start) - interval;
      if (extra > 0) await this.#store.stretch(this.#key, extra);
    }
    if (slot.held) onHeld?.();
    const wait = slot.start - Date.now();
    if (wait > 0) await sleep(wait, undefined, signal ? { signal } : {});
    // A slot is a start time, not a place: nothing to give back.
    return () => undefined;
  }

  pause(ms: number, askedAt?: number): void {
    const now = Date.now();
    const asked = askedAt ?? now;
    const before = this.#cut;
    // This Lambda paces by its own cut at once; the table's write decides it for every taker of the job. A call
    // that asked before a cut this Lambda knows of makes none (the pause still holds everyone).
    const local = cutPace(this.#callsPerSecond, before, asked, now);
    if (local) this.#cut = local;
    // The caller retries after its own backoff anyway; the pause is what holds the other partitions back.
    this.#store
      .pause(this.#key, now + ms)
      .then(async () => {
        if (!local) return;
        const cut = await this.#store.cut(this.#key, before, (last) => cutPace(this.#callsPerSecond, last, asked, now));
        // The table's cut is the job's: it replaces this Lambda's own guess, unless a newer one came meanwhile.
        if (this.#cut === local) this.#cut = cut;
        else this.#learn(cut);
      })
      .catch((error: unknown) => {
        this.#log.warn(`the shared call budget was not paused: ${(error as Error).message}`);
      });
  }

  /** Takes a cut of the job's pace that is newer than the one this budget knows of. */
  #learn(cut: PaceCut | undefined): void {
    if (cut !== undefined && (this.#cut === undefined || cut.at > this.#cut.at)) this.#cut = cut;
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
