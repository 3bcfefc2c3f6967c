import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLING } from '../../../lib/infra/bundling.ts';
import { copyRe2Wasm } from '../../../lib/infra/lane-worker-build.ts';
import { type LocalEnvironment, startLocalEnvironment } from '../../../lib/local/environment.ts';
import { lambdaNode, lambdaNodeMajor } from '../../support/lambda-node.ts';

const ROOT = new URL('../../..', import.meta.url).pathname;

/** The records of staged NDJSON parts (gzip or not), read back from the local S3. */
async function readStaged(env: LocalEnvironment, parts: readonly { key: string }[]): Promise<unknown[]> {
  const records: unknown[] = [];
  for (const { key } of parts) {
    const got = await env.services.s3.send(new GetObjectCommand({ Bucket: env.config.stageBucket, Key: key }));
    const bytes = Buffer.from(
      await (got.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
    );
    const text = (bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes).toString('utf8');
    for (const line of text.split('\n')) if (line.trim()) records.push(JSON.parse(line));
  }
  return records;
}

/** Runs the bundle on the Lambda runtime's Node.js with its events; resolves with what it printed. */
function invoke(bundle: string, config: unknown, events: unknown[]): Promise<{ code: number | null; out: string }> {
  return new Promise((done) => {
    const child = spawn(lambdaNode(), [bundle, JSON.stringify(config), ...events.map((e) => JSON.stringify(e))], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    child.on('close', (code) => done({ code, out }));
  });
}

describe('record.evaluate in the bundled step function', () => {
  let dir: string;
  let env: LocalEnvironment;
  let bundle: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'idx-bundled-'));
    env = await startLocalEnvironment({ dir: join(dir, 'state'), ephemeral: true });
    // The Lambda bundling options of lib/infra/bundling.ts, as CDK hands them to esbuild.
    await build({
      entryPoints: { index: join(ROOT, 'test', 'support', 'bundled-step-entry.ts') },
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: BUNDLING.target,
      minify: BUNDLING.minify,
      banner: { js: BUNDLING.banner ?? '' },
      external: [...(BUNDLING.externalModules ?? [])],
      outdir: join(dir, 'bundle'),
      outExtension: { '.js': '.mjs' },
      logLevel: 'error',
    });
    bundle = join(dir, 'bundle', 'index.mjs');
    // As the step function's bundling does after esbuild (lib/infra/lane-worker-build.ts).
    copyRe2Wasm(join(dir, 'bundle'));
  }, 240_000);

  afterAll(async () => {
    await env?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`runs a script in QuickJS on Node.js ${lambdaNodeMajor()}, with the WebAssembly engine inside the bundle`, async () => {
    // Prepare
    const script = `function process(record) {
      if (record === null) return { made: 'in the sandbox', host: typeof require + '/' + typeof setTimeout };
      return record;
    }`;
    const start = {
      action: 'start',
      dataflow: { id: 'bundled', name: 'bundled', schedules: [] },
      input: {},
      execution: { Name: 'job-bundled', StartTime: new Date().toISOString() },
    };
    const step = {
      action: 'step',
      step: {
        id: 'evaluate',
        type: 'record.evaluate',
        key: 's0',
        params: { script: Buffer.from(script).toString('base64'), notifyLastRecord: true },
      },
      inputs: {},
    };

    // Act
    const r = await invoke(bundle, env.config, [start, step]);

    // Assess
    expect(r.code, r.out).toBe(0);
    const { node, job, result } = JSON.parse(r.out.trim().split('\n').pop() ?? '{}');
    expect(node.startsWith(`v${lambdaNodeMajor()}.`)).toBe(true);
    expect(result).toMatchObject({
      stepId: 'evaluate',
      counters: { recordsOut: 1 },
      out: { kind: 'records', count: 1 },
    });
    const staged = await readStaged(env, (result as { out: { parts: { key: string }[] } }).out.parts);
    expect(staged).toEqual([{ made: 'in the sandbox', host: 'undefined/undefined' }]);
    expect(job.id).toBe('job-bundled');
    // QuickJS is inside the bundle: beside it only the RE2 module the bundling copies for dataflow regexes.
    expect(readdirSync(join(dir, 'bundle')).sort()).toEqual(['index.mjs', 're2.wasm']);
    expect(statSync(bundle).size).toBeLessThan(5 * 1024 * 1024);
  }, 240_000);
});
