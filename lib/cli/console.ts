/** `idx console [--port N]`: the web console on 127.0.0.1 over the local embedded services. */
import { parseArgs } from 'node:util';
import { startConsoleServer } from '../console/server.ts';
import { defaultExtras } from '../local/extras.ts';
import { localIdxApi } from './api.ts';
import { LocalConsoleBackend } from './console-backend.ts';
import { DATAFLOWS_DIR, EXIT, usage } from './dataflow-commands.ts';
import type { Flags } from './help.ts';
import { commandEnvironment, invocationBudget } from './run.ts';

/** Flags of `idx console`. */
export const CONSOLE_FLAGS = {
  port: { type: 'string', value: 'N', description: 'listen on port N of 127.0.0.1 (default: a free port)' },
  dir: { type: 'string', value: 'DIR', description: `the folder of dataflow files (default ${DATAFLOWS_DIR})` },
  'invocation-budget': {
    type: 'string',
    value: 'D',
    description: 'time budget of every step invocation of the runs it starts (1ms, 30s, 13m; default as deployed)',
  },
} as const satisfies Flags;

/** The port of `--port`: a whole number from 0 to 65535. */
export function portOf(text: string | undefined): number {
  if (text === undefined) return 0;
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65_535) throw usage('idx console [--port N] (N from 0 to 65535)');
  return port;
}

/** Serves the console until Ctrl-C or SIGTERM; runs it started end as killed. */
export async function consoleCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: CONSOLE_FLAGS });
  const port = portOf(values.port);
  const budget = invocationBudget(values);
  const env = await commandEnvironment({ extras: defaultExtras() });
  const closers: (() => Promise<unknown>)[] = [];
  try {
    const backend = new LocalConsoleBackend(env, {
      dir: values.dir ?? DATAFLOWS_DIR,
      ...(budget === undefined ? {} : { invocationBudgetMs: budget }),
    });
    // The IDX REST API answers on the same server, at /idx.<method>, as Gigya's IDX domain serves it.
    const idx = await localIdxApi(env, values.dir ?? DATAFLOWS_DIR);
    closers.push(() => idx.data.close(true));
    const server = await startConsoleServer({ backend, port, handlers: [idx.handler] });
    for (const line of Object.values(env.info)) process.stderr.write(`${line}\n`);
    process.stdout.write(`identity-sync console: ${server.url} (Ctrl-C stops it)\n`);
    process.stdout.write(`IDX API at ${server.url}idx.<method> (apiKey ${idx.credentials.apiKey})\n`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    process.stderr.write('stopping the console: runs it started end as killed\n');
    await server.close();
    return EXIT.ok;
  } finally {
    for (const close of closers) await close();
    await env.close();
  }
}
