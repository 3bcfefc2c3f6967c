import { describe, expect, it } from 'vitest';
import { literalPrefix, type ReachContext } from '../../../lib/core/access.ts';
import { ScriptRegistry } from '../../../lib/core/registry.ts';
import { defineScript } from '../../../lib/core/script.ts';
import { secretReferences } from '../../../lib/core/secrets.ts';

/** A record script that tags each record and, deployed, keeps a copy of it in a bucket folder. */
const tagAndKeep = defineScript({
  type: 'record.tag.keep',
  summary: 'Tags each record and keeps a copy in a bucket folder.',
  consumes: 'records',
  produces: 'records',
  params: {
    tag: { type: 'string', required: true, description: 'The tag.' },
    bucket: { type: 'string', required: true, description: 'Where copies go.' },
    folder: { type: 'string', default: 'kept/', description: 'The key folder of the copies.' },
    labels: {
      type: 'array',
      default: [],
      items: { type: 'object', properties: { text: { type: 'string', description: 'Label.' } }, description: 'One.' },
      description: 'Labels.',
    },
  },
  reaches: {
    summary: 'S3: puts objects under folder of bucket; the secret tag-signing.',
    of: (params, dataflow) => [
      {
        kind: 's3',
        bucket: params.bucket,
        prefix: literalPrefix(params.folder),
        read: false,
        write: true,
        remove: false,
      },
      { kind: 'secret', name: `${dataflow.dataflowId}-signing` },
    ],
  },
  create: (params) => ({
    records(batch, out) {
      for (const r of batch) out.emit({ ...r, tag: params.tag });
    },
  }),
});

/** The same script, declaring nothing it reaches itself. */
const tagOnly = defineScript({ ...tagAndKeep, type: 'record.tag', reaches: undefined });

const dataflow: ReachContext = { dataflowId: 'flow' };

describe('ScriptRegistry.reach', () => {
  it('lists the secrets the params name, however deep, then what the script declares for its params with defaults', () => {
    // Prepare
    const registry = new ScriptRegistry().register(tagAndKeep);
    const params = {
      tag: 'x-${secret:tag-prefix}',
      bucket: 'archive',
      labels: [{ text: '${secret:label-a} and ${secret:label-b}' }],
    };

    // Act
    const reach = registry.reach('record.tag.keep', params, dataflow);

    // Assess
    expect(reach).toEqual([
      { kind: 'secret', name: 'tag-prefix' },
      { kind: 'secret', name: 'label-a' },
      { kind: 'secret', name: 'label-b' },
      { kind: 's3', bucket: 'archive', prefix: 'kept/', read: false, write: true, remove: false },
      { kind: 'secret', name: 'flow-signing' },
    ]);
  });

  it('lists only the secrets the params name for a script that declares nothing', () => {
    // Prepare
    const registry = new ScriptRegistry().register(tagOnly);

    // Act
    const reach = registry.reach('record.tag', { tag: '${secret:t}', bucket: 'archive', folder: 'a/${now}' }, dataflow);

    // Assess
    expect(reach).toEqual([{ kind: 'secret', name: 't' }]);
  });

  it('refuses a type it does not hold, with a coded error', () => {
    // Prepare
    const registry = new ScriptRegistry().register(tagOnly);

    // Act / Assess
    expect(() => registry.reach('record.unknown', {}, dataflow)).toThrow(
      expect.objectContaining({ code: 'IDX_STEP_TYPE_UNKNOWN' }),
    );
  });
});

describe('literalPrefix', () => {
  it('cuts a key before its first placeholder and drops leading slashes', () => {
    // Act / Assess
    expect(literalPrefix('/a/${now:yyyy}/b')).toBe('a/');
    expect(literalPrefix('plain/')).toBe('plain/');
    expect(literalPrefix('${jobId}/x')).toBe('');
  });
});

describe('secretReferences', () => {
  it('names the well-formed secret references of a text and skips other placeholders and bad names', () => {
    // Act / Assess
    expect(secretReferences('${secret:a}:${now}:${secret:b/c}:${secret:bad name}:${secret:}')).toEqual(['a', 'b/c']);
  });
});
