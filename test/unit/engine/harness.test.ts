import { describe, expect, it } from 'vitest';
import { defineScript } from '../../../lib/core/script.ts';
import { runScript } from '../../../lib/testing/harness.ts';

/** A file step that reads each file twice (to sniff it, then to read it), counting its bytes into a record. */
const readsTwice = (readsOnce: boolean) =>
  defineScript({
    type: 'test.reads.twice',
    summary: 'Reads every file twice.',
    consumes: 'files',
    produces: 'records',
    readsOnce,
    params: {},
    create: () => ({
      async file(file, out) {
        let bytes = 0;
        for (let pass = 0; pass < 2; pass++) for await (const chunk of file.open()) bytes += (chunk as Buffer).length;
        out.emit({ name: file.name, bytes });
      },
    }),
  });

describe('runScript', () => {
  it('hands a script that promises to read each file once files that can be opened only once', async () => {
    // Prepare
    const files = [{ name: 'a.txt', content: 'abc' }];

    // Act
    const promised = runScript(readsTwice(true), {}, { files });
    const free = await runScript(readsTwice(false), {}, { files });

    // Assess
    await expect(promised).rejects.toMatchObject({
      code: 'IDX_SCRIPT_CONTRACT',
      message: 'file a.txt is streamed from the step before and can be read once',
    });
    expect(free.records).toEqual([{ name: 'a.txt', bytes: 6 }]);
  });
});
