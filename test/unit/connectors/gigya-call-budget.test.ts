import { describe, expect, it } from 'vitest';
import {
  CallBudget,
  cutPace,
  PACE_CUT,
  PACE_FLOOR,
  PACE_HALF_LIFE_MS,
  PACE_HOLD_MS,
  PACE_MARGIN,
  PACE_PROBE,
  PACE_PROBE_AFTER_MS,
  type PaceCut,
  pacedRate,
  paceFloor,
  REFUSAL_PAUSE_MS,
} from '../../../lib/connectors/gigya.ts';

/**
 * Calls paced by the budget's rule against a site that refuses more than `ceiling` calls in a sliding second, on
 * a virtual clock: slots one pace apart, each answered `latencyMs` later (several in flight), every refusal pausing
 * every call for `pauseMs` and cutting the pace as the budget does.
 */
function simulate(o: { ceiling: number; callsPerSecond: number; latencyMs: number; pauseMs: number; seconds: number }) {
  let cut: PaceCut | undefined;
  let next = 0;
  let pausedUntil = 0;
  const window: number[] = [];
  const inFlight: { answerAt: number; askedAt: number; refused: boolean }[] = [];
  const out = { calls: 0, refused: 0, cuts: 0, lastHalfAccepted: 0 };
  for (;;) {
    let start = Math.max(next, pausedUntil);
    // The answers that arrive before the next call starts: a refusal cuts (once for the calls paced before).
    while (inFlight[0] !== undefined && inFlight[0].answerAt <= start) {
      const answer = inFlight.shift() as (typeof inFlight)[number];
      if (!answer.refused) continue;
      const next = cutPace(o.callsPerSecond, cut, answer.askedAt, answer.answerAt);
      if (next) {
        cut = next;
        out.cuts++;
      }
      pausedUntil = Math.max(pausedUntil, answer.answerAt + o.pauseMs);
      start = Math.max(start, pausedUntil);
    }
    if (start >= o.seconds * 1000) return out;
    const arrival = start + o.latencyMs / 2;
    while (window.length && (window[0] as number) <= arrival - 1000) window.shift();
    const refused = window.length >= o.ceiling;
    if (!refused) window.push(arrival);
    out.calls++;
    if (refused) out.refused++;
    else if (start >= (o.seconds * 1000) / 2) out.lastHalfAccepted++;
    inFlight.push({ answerAt: start + o.latencyMs, askedAt: start, refused });
    next = start + 1000 / pacedRate(o.callsPerSecond, cut, start);
  }
}

describe('pacedRate', () => {
  it('starts calls a margin below the configured rate and never goes above it', () => {
    // Act
    const rate = pacedRate(20);
    const long = pacedRate(20, { at: 0, from: 10, to: 19.9 }, 3_600_000);

    // Assess
    expect(rate).toBeCloseTo(20 * (1 - PACE_MARGIN));
    expect(long).toBe(rate);
    expect(pacedRate(Number.POSITIVE_INFINITY, { at: 0, from: 1, to: 2 }, 5)).toBe(Number.POSITIVE_INFINITY);
  });

  it('holds at the cut, then halves the gap to the refused pace each quiet half-life, then probes past it', () => {
    // Prepare
    const cut = { at: 1_000, from: 9, to: 13 };
    const at = (ms: number) => pacedRate(20, cut, cut.at + ms);

    // Act
    const held = at(PACE_HOLD_MS);
    const oneHalfLife = at(PACE_HOLD_MS + PACE_HALF_LIFE_MS);
    const twoHalfLives = at(PACE_HOLD_MS + 2 * PACE_HALF_LIFE_MS);
    const beforeProbe = at(PACE_PROBE_AFTER_MS);
    const probing = at(PACE_PROBE_AFTER_MS + 2_000);

    // Assess
    expect(at(0)).toBe(9);
    expect(held).toBe(9);
    expect(oneHalfLife).toBeCloseTo(11);
    expect(twoHalfLives).toBeCloseTo(12);
    expect(beforeProbe).toBeLessThan(13);
    expect(probing - beforeProbe).toBeCloseTo(20 * PACE_PROBE * 2, 1);
    expect(probing).toBeGreaterThan(13);
  });
});

describe('cutPace', () => {
  it('cuts to a fraction of the pace the refused call was sent at, down to a floor', () => {
    // Act
    const first = cutPace(20, undefined, 100, 200);
    const second = cutPace(20, first, 300, 400);
    let deep = second;
    for (let i = 0; i < 40; i++) deep = cutPace(20, deep, 500 + i, 500 + i);

    // Assess
    expect(first).toEqual({ at: 200, from: 20 * (1 - PACE_MARGIN) * PACE_CUT, to: 20 * (1 - PACE_MARGIN) });
    expect(second?.to).toBeCloseTo(first?.from as number);
    expect(second?.from).toBeCloseTo((first?.from as number) * PACE_CUT);
    expect(deep?.from).toBe(paceFloor(20));
    expect(paceFloor(20)).toBe(PACE_FLOOR);
    expect(paceFloor(200)).toBe(10);
    expect(paceFloor(0.5)).toBeCloseTo(0.5 * (1 - PACE_MARGIN));
  });

  it('makes no cut for a call that asked for its slot before the last cut', () => {
    // Prepare
    const last = cutPace(20, undefined, 100, 200) as PaceCut;

    // Act
    const inFlight = cutPace(20, last, 150, 260);
    const after = cutPace(20, last, 200, 900);

    // Assess
    expect(inFlight).toBeUndefined();
    expect(after?.at).toBe(900);
    expect(cutPace(Number.POSITIVE_INFINITY, undefined, 0, 0)).toBeUndefined();
  });

  it('settles a 20/s budget just under a site ceiling of 10/s, with few refusals that mostly come together', () => {
    // Act: 60 s, calls answered after 300 ms (six in flight at 20/s), each refusal pausing all as the client does.
    const run = simulate({ ceiling: 10, callsPerSecond: 20, latencyMs: 300, pauseMs: REFUSAL_PAUSE_MS, seconds: 60 });

    // Assess
    expect(run.refused).toBeLessThan(run.calls / 20);
    expect(run.cuts).toBeLessThan(run.refused);
    // The last 30 s run at more than 85 % of the ceiling: a cut to 3/4 and the climb back about every 10 s.
    expect(run.lastHalfAccepted / 30).toBeGreaterThan(8.5);
  });

  it('keeps a budget whose rate is the ceiling at its pace', () => {
    // Act
    const run = simulate({ ceiling: 20, callsPerSecond: 20, latencyMs: 300, pauseMs: REFUSAL_PAUSE_MS, seconds: 60 });

    // Assess
    expect(run.refused).toBe(0);
    expect(run.lastHalfAccepted / 30).toBeCloseTo(20 * (1 - PACE_MARGIN), 0);
  });

  it("passes more calls, with no more refusals, when a refusal pauses every call briefly than for a retry's backoff", () => {
    // Prepare: 20/s against the lower ceilings of apis.md §A.9, answered after 0.3 s and after 1 s; 750 ms is the
    // mean backoff of a first retry at the default base, which every caller once waited.
    const cases = [5, 10, 15].flatMap((ceiling) => [300, 1000].map((latencyMs) => ({ ceiling, latencyMs })));

    // Act
    const runs = cases.map((c) => {
      const o = { ...c, callsPerSecond: 20, seconds: 60 };
      return { ...c, brief: simulate({ ...o, pauseMs: REFUSAL_PAUSE_MS }), long: simulate({ ...o, pauseMs: 750 }) };
    });

    // Assess
    for (const { ceiling, latencyMs, brief, long } of runs) {
      const label = `${ceiling}/s, answered after ${latencyMs} ms`;
      expect(brief.calls - brief.refused, label).toBeGreaterThan(long.calls - long.refused);
      expect(brief.refused, label).toBeLessThanOrEqual(long.refused);
    }
  });
});

describe('CallBudget', () => {
  it('cuts once for the calls in flight when the site first refused, and again for a call paced after the cut', () => {
    // Prepare
    const budget = new CallBudget({ callsPerSecond: 20 });
    const asked = Date.now() - 100;

    // Act
    const before = budget.pace;
    for (let i = 0; i < 5; i++) budget.pause(0, asked);
    const once = budget.cuts;
    const afterOne = budget.pace;
    budget.pause(0, Date.now() + 1);
    budget.pause(0);

    // Assess
    expect(before).toBeCloseTo(20 * (1 - PACE_MARGIN));
    expect(once).toBe(1);
    expect(afterOne).toBeCloseTo(before * PACE_CUT);
    expect(budget.cuts).toBe(3);
    expect(budget.pace).toBeCloseTo(before * PACE_CUT ** 3);
  });

  it('holds a call that was already waiting for its slot when a pause began, and counts it as held', async () => {
    // Prepare: the first call starts at once, the second waits a pace for its slot.
    const budget = new CallBudget({ callsPerSecond: 20 });
    const first = await budget.acquire();
    const waiting = budget.acquire();

    // Act
    budget.pause(200, Date.now());
    const second = await waiting;

    // Assess
    expect(budget.held).toBe(1);
    expect(budget.cuts).toBe(1);
    first();
    second();
    expect(budget.active).toBe(0);
  });
});
