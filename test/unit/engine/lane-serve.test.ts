import { MessageChannel } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import type { StepCounters } from '../../../lib/core/refs.ts';
import { type AnyScriptDefinition, defineScript, type JobContext } from '../../../lib/core/script.ts';
import type { LaneMessage, MainMessage, TaskOutput } from '../../../lib/engine/lanes/protocol.ts';
import { serveLane } from '../../../lib/engine/lanes/worker.ts';
import { testJob } from '../../../lib/testing/harness.ts';

const JOB: JobContext = testJob({ id: 'job-1', dataflowId: 'lane-serve' });

/**
 * A chunk whose first record says `hold` waits for {@link release}: at its end, as a chunk waits for its gzip
 * members, or in its records.
 */
function holdingScript(at: 'records' | 'end' = 'end'): {
  definition: AnyScriptDefinition;
  release: () => void;
  started: number[];
} {
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  const started: number[] = [];
  const definition = defineScript({
    type: 'test.hold',
    summary: 'Emits its records; a chunk that starts with a record saying `hold` waits at its end.',
    consumes: 'records',
    produces: 'records',
    params: {},
    lanes: { records: true },
    create: () => {
      let holds = false;
      return {
        async records(batch, out) {
          started.push(Number(batch[0]?.n));
          holds ||= batch[0]?.hold === true;
          if (holds && at === 'records') await held;
          for (const record of batch) out.emit(record);
        },
        // The wait comes after the records, where a chunk waits for its gzip members.
        async end() {
          if (holds && at === 'end') await held;
        },
      };
    },
  }) as unknown as AnyScriptDefinition;
  return { definition, release: () => release(), started };
}

/** A chunk of NDJSON records for the lane, in a buffer of its own. */
function task(index: number, lines: readonly object[]): MainMessage {
  const data = new Uint8Array(Buffer.from(lines.map((l) => `${JSON.stringify(l)}\n`).join('')));
  return { kind: 'task', index, data, streamed: false, firstLine: 1 + index * 10 };
}

/**
 * A lane served on a MessageChannel with `definition` as its one step: what it posts, in order, and a promise of
 * its `finished` message.
 */
function servedLane(definition: AnyScriptDefinition): {
  post: (m: MainMessage) => void;
  messages: LaneMessage[];
  finished: Promise<StepCounters[]>;
  close: () => void;
} {
  const { port1, port2 } = new MessageChannel();
  const messages: LaneMessage[] = [];
  const finished = new Promise<StepCounters[]>((resolve) => {
    port1.on('message', (m: LaneMessage) => {
      messages.push(m);
      if (m.kind === 'finished') resolve(m.counters);
    });
  });
  serveLane(port2, { steps: [{ id: 'hold', type: 'test.hold', params: {} }], job: JOB }, () => definition);
  return { post: (m) => port1.postMessage(m), messages, finished, close: () => port1.close() };
}

/** The outputs among a lane's messages. */
const outputsOf = (messages: readonly LaneMessage[]) =>
  messages.flatMap((m) => (m.kind === 'output' ? [m as TaskOutput] : []));

describe('serveLane', () => {
  it('runs the next chunk while one waits, and posts each output under its own index', async () => {
    // Prepare
    const { definition, release, started } = holdingScript();
    const lane = servedLane(definition);

    // Act
    lane.post(task(0, [{ n: 0, hold: true }, { n: 1 }]));
    lane.post(task(1, [{ n: 2 }, { n: 3 }]));
    lane.post({ kind: 'finish' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const beforeRelease = outputsOf(lane.messages).map((o) => o.index);
    release();
    const finished = await lane.finished;
    lane.close();
    const outputs = outputsOf(lane.messages);

    // Assess
    expect(started).toEqual([0, 2]);
    expect(beforeRelease).toEqual([1]);
    expect(outputs.map((o) => o.index)).toEqual([1, 0]);
    expect(outputs.map((o) => Buffer.from(o.records ?? new Uint8Array()).toString())).toEqual([
      '{"n":2}\n{"n":3}\n',
      '{"n":0,"hold":true}\n{"n":1}\n',
    ]);
    expect(finished[0]?.recordsIn).toBe(4);
    expect(finished[0]?.recordsOut).toBe(4);
  });

  it('finishes only after every chunk it was given is done', async () => {
    // Prepare
    const { definition, release } = holdingScript();
    const lane = servedLane(definition);

    // Act
    for (let i = 0; i < 4; i++) lane.post(task(i, [{ n: i * 2, hold: i === 0 }]));
    lane.post({ kind: 'finish' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const beforeRelease = lane.messages.map((m) => m.kind);
    release();
    await lane.finished;
    lane.close();
    const kinds = lane.messages.map((m) => m.kind);

    // Assess
    expect(beforeRelease).toEqual(['output', 'output', 'output']);
    expect(kinds).toEqual(['output', 'output', 'output', 'output', 'finished']);
  });

  it("starts a chunk's records only once the chunk before is through its own", async () => {
    // Prepare
    const { definition, release, started } = holdingScript('records');
    const lane = servedLane(definition);

    // Act
    lane.post(task(0, [{ n: 0, hold: true }]));
    lane.post(task(1, [{ n: 2 }]));
    lane.post({ kind: 'finish' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const beforeRelease = [...started];
    release();
    await lane.finished;
    lane.close();
    const outputs = outputsOf(lane.messages).map((o) => o.index);

    // Assess
    expect(beforeRelease).toEqual([0]);
    expect(started).toEqual([0, 2]);
    expect(outputs).toEqual([0, 1]);
  });
});
