/**
 * A worker thread that runs embedded stand-ins (S3, SFTP) beside the steps of `idx run` instead of on its main
 * thread. Why: in process, every byte a step stages or delivers crosses the main thread twice, once as the
 * client's and once as the server's, and the server's share of the buffers drives the main thread's garbage
 * collection too. Measured on the export of `npm run bench -- extract` (1,000,000 accounts, 2 cores): with the
 * servers in this thread, all that follows the reader took 5.9 to 6.5 s instead of 7.8 to 9.3 s, and the reader's
 * calls reached the site more evenly (a main thread busy serving S3 holds calls back, and calls that leave late reach
 * the site bunched, one too many for its second). README, "The service thread", has the figures and the memory it
 * costs.
 *
 * The thread holds one V8 heap of its own whatever it serves. Its module (bin/service-thread.js) calls
 * {@link serveServiceThread}; the main thread talks to it through {@link ServiceThread}.
 */
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { type MessagePort, Worker } from 'node:worker_threads';
import { IdxError } from '../core/errors.ts';
import { startSftpServer } from './sftp-server.ts';

/** The stand-ins a service thread can run: what each takes to start, and what it reports once listening. */
export interface ServiceKinds {
  /** s3rver serving `directory`; `resetOnClose` removes what it stored when it closes. */
  readonly s3: {
    readonly init: { readonly directory: string; readonly resetOnClose: boolean };
    readonly facts: { readonly port: number };
  };
  /** The embedded SFTP server (sftp-server.ts), without test faults: they are read in the thread that injects them. */
  readonly sftp: {
    readonly init: { readonly root: string; readonly hostKeyPath: string; readonly port?: number };
    readonly facts: { readonly host: string; readonly port: number; readonly hostKeyFingerprint: string };
  };
}

/** A kind of stand-in ({@link ServiceKinds}). */
export type ServiceKind = keyof ServiceKinds;

/** A message to the thread: start a service (its id is the request's), or close the service started as `id`. */
type ToThread =
  | { readonly op: 'start'; readonly id: number; readonly kind: ServiceKind; readonly init: unknown }
  | { readonly op: 'close'; readonly id: number };

/** The thread's answer to the request `id`. */
type FromThread =
  | { readonly id: number; readonly ok: true; readonly facts?: unknown }
  | { readonly id: number; readonly ok: false; readonly message: string };

/** A started service: its facts, and how to close it. */
interface Running<F> {
  readonly facts: F;
  close(): Promise<void>;
}

const STARTERS: {
  readonly [K in ServiceKind]: (init: ServiceKinds[K]['init']) => Promise<Running<ServiceKinds[K]['facts']>>;
} = {
  async s3({ directory, resetOnClose }) {
    // Loaded when started: its modules hold some 10 MB of heap, which a process serving S3 from its service thread
    // (or using another's) need not carry on its main thread.
    const { default: S3rver } = await import('s3rver');
    const s3rver = new S3rver({ port: 0, address: '127.0.0.1', directory, silent: true, resetOnClose });
    const address = (await s3rver.run()) as AddressInfo;
    return { facts: { port: address.port }, close: () => s3rver.close() };
  },
  async sftp(init) {
    const server = await startSftpServer(init);
    return {
      facts: { host: server.host, port: server.port, hostKeyFingerprint: server.hostKeyFingerprint },
      close: () => server.close(),
    };
  },
};

/** Starts a stand-in in this thread (the fallback when no service thread runs). */
export function startServiceHere<K extends ServiceKind>(
  kind: K,
  init: ServiceKinds[K]['init'],
): Promise<Running<ServiceKinds[K]['facts']>> {
  return (STARTERS[kind] as (i: ServiceKinds[K]['init']) => Promise<Running<ServiceKinds[K]['facts']>>)(init);
}

/** The thread's side: starts and closes services as the main thread asks, answering each request. */
export function serveServiceThread(port: MessagePort): void {
  const running = new Map<number, Running<unknown>>();
  port.on('message', async (message: ToThread) => {
    try {
      if (message.op === 'start') {
        const service = await startServiceHere(message.kind, message.init as never);
        running.set(message.id, service);
        port.postMessage({ id: message.id, ok: true, facts: service.facts } satisfies FromThread);
      } else {
        const service = running.get(message.id);
        running.delete(message.id);
        await service?.close();
        port.postMessage({ id: message.id, ok: true } satisfies FromThread);
      }
    } catch (error) {
      port.postMessage({ id: message.id, ok: false, message: (error as Error).message } satisfies FromThread);
    }
  });
}

/** The service thread's module next to the sources (bin/service-thread.js, which runs the CLI's bundle). */
export const SERVICE_THREAD_MODULE = fileURLToPath(new URL('../../bin/service-thread.js', import.meta.url));

/**
 * Heap limits of the thread: its servers stream what they store and serve, and their modules take some 15 MB of
 * heap, so a thread that grows past these leaks, and fails (its requests then fail with it) rather than taking the
 * process's memory. Tighter limits (16 MB old, 1 MB young) did not lower the peak RSS of `npm run bench -- pipeline`.
 */
const THREAD_HEAP = { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 3 } as const;

/**
 * The main thread's side of a service thread: starts services in it. The thread starts with the first service and
 * ends when the last one closes.
 */
export class ServiceThread {
  readonly #module: string;
  #worker: Worker | undefined;
  readonly #pending = new Map<number, { resolve: (facts: unknown) => void; reject: (error: Error) => void }>();
  #next = 0;
  #open = 0;
  /** Why the running thread ended, once it did. */
  #ended: Error | undefined;
  readonly #onEnded: ((error: IdxError) => void) | undefined;

  private constructor(module: string, onEnded?: (error: IdxError) => void) {
    this.#module = module;
    this.#onEnded = onEnded;
  }

  /** The id of the running thread (worker_threads' `threadId`); undefined while no service runs in it. */
  get threadId(): number | undefined {
    return this.#worker?.threadId;
  }

  /**
   * A service thread running `module`, or undefined when the module is not there (a bundle shipped without it).
   * `onEnded` hears of a thread that ends while its services run (out of memory, a crash): from then on every call
   * to them fails, and without it the user would see only refused connections.
   */
  static open(module: string = SERVICE_THREAD_MODULE, onEnded?: (error: IdxError) => void): ServiceThread | undefined {
    return existsSync(module) ? new ServiceThread(module, onEnded) : undefined;
  }

  /** Starts a service of `kind` in the thread; resolves once it listens. */
  async start<K extends ServiceKind>(
    kind: K,
    init: ServiceKinds[K]['init'],
  ): Promise<Running<ServiceKinds[K]['facts']>> {
    const id = this.#next++;
    this.#open++;
    let facts: ServiceKinds[K]['facts'];
    try {
      facts = (await this.#ask({ op: 'start', id, kind, init })) as ServiceKinds[K]['facts'];
    } catch (error) {
      await this.#closed();
      throw new IdxError(
        'IDX_LOCAL_SERVICE',
        `the embedded ${kind} server did not start: ${(error as Error).message}`,
        {
          expected: `the ${kind} server listening on 127.0.0.1 in the service thread`,
          received: (error as Error).message,
          details: { kind },
        },
      );
    }
    let closed = false;
    return {
      facts,
      close: async () => {
        if (closed) return;
        closed = true;
        try {
          // A thread that ended took its servers with it: nothing is left to close.
          if (!this.#ended) await this.#ask({ op: 'close', id });
        } finally {
          await this.#closed();
        }
      },
    };
  }

  /** The running thread, started when none runs. */
  #thread(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(this.#module, { resourceLimits: THREAD_HEAP });
    this.#worker = worker;
    this.#ended = undefined;
    // Idle, the thread must not keep the process alive (a command that fails without closing its environment
    // still exits); it holds the process only while a request waits for its answer.
    worker.unref();
    worker.on('message', (answer: FromThread) => {
      const waiting = this.#pending.get(answer.id);
      if (!waiting) return;
      this.#settled(answer.id);
      if (answer.ok) waiting.resolve(answer.facts);
      else waiting.reject(new Error(answer.message));
    });
    const end = (error: Error) => {
      if (this.#worker !== worker || this.#ended) return;
      this.#ended = error;
      if (this.#open > 0)
        this.#onEnded?.(
          new IdxError('IDX_LOCAL_SERVICE', `the embedded servers' thread ended: ${error.message}`, {
            expected: 'the service thread running until its services close',
            received: error.message,
            details: { services: this.#open },
          }),
        );
      for (const [id, waiting] of this.#pending) {
        this.#settled(id);
        waiting.reject(this.#ended);
      }
    };
    worker.on('error', end);
    worker.on('exit', (code) => end(new Error(`the service thread ended (exit code ${code})`)));
    return worker;
  }

  /** Sends a request and waits for its answer, holding the process meanwhile. */
  #ask(message: ToThread): Promise<unknown> {
    const worker = this.#thread();
    if (this.#ended) return Promise.reject(this.#ended);
    return new Promise((resolve, reject) => {
      if (this.#pending.size === 0) worker.ref();
      this.#pending.set(message.id, { resolve, reject });
      worker.postMessage(message);
    });
  }

  #settled(id: number): void {
    this.#pending.delete(id);
    if (this.#pending.size === 0) this.#worker?.unref();
  }

  /** One service fewer; the thread ends with the last. */
  async #closed(): Promise<void> {
    this.#open--;
    const worker = this.#worker;
    if (this.#open > 0 || !worker) return;
    this.#worker = undefined;
    await worker.terminate();
  }
}
