/**
 * What the local emulators of REST platforms (Salesforce, Marketing Cloud) share: an HTTP server on 127.0.0.1 on
 * a free port, request bodies, an error that becomes the platform's error answer, scripted faults on the next
 * calls of a route, and the stand-in that starts an emulator for the local environment.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RuntimeConfig } from '../core/services.ts';
import type { LocalExtra } from './environment.ts';

/** An answer other than success, with the body the platform sends with it. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(`HTTP ${status}`);
  }
}

/** A scripted answer to the next calls matching a method and path. */
export interface ScriptedFault {
  readonly method?: string;
  /** Matched against the emulator's path of the call. */
  readonly path: RegExp;
  readonly status: number;
  /** Sent as JSON. */
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  /** How many calls get it. @default 1 */
  times?: number;
}

/** Takes the fault scripted for this call, if any (and forgets it once its calls are used up). */
export function takeFault(faults: ScriptedFault[], method: string, path: string): ScriptedFault | undefined {
  const fault = faults.find((f) => (f.method ?? method) === method && f.path.test(path));
  if (!fault) return undefined;
  fault.times = (fault.times ?? 1) - 1;
  if (fault.times <= 0) faults.splice(faults.indexOf(fault), 1);
  return fault;
}

/** The whole body of a request. */
export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Sends a JSON answer. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

/** A server listening on 127.0.0.1. */
export interface LoopbackServer {
  readonly url: string;
  close(): Promise<void>;
}

/** Serves `handle` on 127.0.0.1 on a free port; a handler that throws answers 500. */
export async function serveLoopback(
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
): Promise<LoopbackServer> {
  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { message: (error as Error).message });
      else res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A local-environment stand-in that starts an emulator and publishes its origin as one endpoint. */
export function emulatorExtra(
  endpoint: keyof RuntimeConfig['endpoints'],
  start: () => Promise<{ readonly url: string; close(): Promise<void> }>,
  describe: (url: string) => string,
): LocalExtra {
  const extra: LocalExtra = async () => {
    const emu = await start();
    return { endpoints: { [endpoint]: emu.url }, close: () => emu.close(), info: { [endpoint]: describe(emu.url) } };
  };
  return Object.assign(extra, { provides: [endpoint] as const });
}
