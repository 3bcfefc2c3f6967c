/**
 * One set of embedded services per state folder, shared by every `idx` process that uses the folder. dynalite
 * keeps its tables in a LevelDB folder that only one process may open, and the Gigya emulator saves its accounts
 * over its own files, so a second process must not start its own: it uses the first one's instead.
 *
 * The first process takes `<dir>/services.lock` (created exclusively, holding its pid), starts the services and
 * publishes their endpoints in `<dir>/services.json`. Any other process finds them there and registers itself in
 * `<dir>/clients/` while it uses them. The owner keeps serving until no registered process is left, then stops
 * the services and removes the lock; a lock whose process is gone is taken over.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { IdxError } from '../core/errors.ts';
import type { RuntimeConfig } from '../core/services.ts';

/** What the owner publishes. */
export interface PublishedServices {
  readonly pid: number;
  readonly endpoints: RuntimeConfig['endpoints'];
  readonly info: Record<string, string>;
}

/** The claim of a process on a state folder's services. */
export type ServicesClaim =
  | {
      readonly kind: 'owner';
      /** Makes the started services visible to other processes. */
      publish(services: Omit<PublishedServices, 'pid'>): void;
      /** Waits until no other process uses the services (they stay published meanwhile). */
      retire(onWait?: (pids: readonly number[]) => void): Promise<void>;
      /** Gives the folder up, once the services are stopped. */
      release(): void;
    }
  | {
      readonly kind: 'client';
      readonly services: PublishedServices;
      /** Stops using the services. */
      detach(): void;
    };

/** Options of {@link claimServices}. */
export interface ClaimOptions {
  /** How long to wait for an owner that is still starting its services. @default 60 s */
  readonly timeoutMs?: number;
  /** Pause between two looks at the folder. @default 100 ms */
  readonly pollMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Whether a process is alive (a process of another user counts as alive). */
export function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function readPublished(path: string): PublishedServices | undefined {
  const text = readText(path);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as PublishedServices;
  } catch {
    return undefined;
  }
}

/** Writes a file so that a reader sees either nothing or all of it. */
function writeAtomically(path: string, text: string): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, text);
  renameSync(temporary, path);
}

/** The live processes registered as users of the services; files of ended processes are removed. */
function liveClients(folder: string): number[] {
  let names: string[] = [];
  try {
    names = readdirSync(folder);
  } catch {
    return [];
  }
  const pids: number[] = [];
  for (const name of names) {
    const pid = Number(name.split('-')[0]);
    if (alive(pid)) pids.push(pid);
    else rmSync(join(folder, name), { force: true });
  }
  return pids;
}

/**
 * Claims the services of a state folder: as their owner when no live process holds them (the caller starts and
 * publishes them), or as a client of the process that does. Fails with `IDX_LOCAL_BUSY` when the owner does not
 * publish its services in time.
 */
export async function claimServices(dir: string, options: ClaimOptions = {}): Promise<ServicesClaim> {
  mkdirSync(dir, { recursive: true });
  const lock = join(dir, 'services.lock');
  const published = join(dir, 'services.json');
  const clients = join(dir, 'clients');
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  for (;;) {
    try {
      writeFileSync(lock, String(process.pid), { flag: 'wx' });
      rmSync(published, { force: true });
      return ownerClaim(lock, published, clients);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = readText(lock);
    const pid = Number(holder);
    if (holder !== undefined && holder !== '' && !alive(pid)) {
      // The owner ended without giving the folder up (killed): take it over. The lock is removed only if it is
      // still the dead one's, so a process that took it over just now keeps it.
      if (readText(lock) === holder) rmSync(lock, { force: true });
      continue;
    }
    const services = readPublished(published);
    if (services && services.pid === pid) {
      mkdirSync(clients, { recursive: true });
      const mine = join(clients, `${process.pid}-${randomBytes(4).toString('hex')}`);
      writeFileSync(mine, '');
      // The owner withdraws services.json before it checks for clients: seeing it still there after registering
      // means the owner will see this client and keep serving.
      if (readPublished(published)?.pid === pid) {
        return { kind: 'client', services, detach: () => rmSync(mine, { force: true }) };
      }
      rmSync(mine, { force: true });
    }
    if (Date.now() > deadline) {
      throw new IdxError('IDX_LOCAL_BUSY', `the local services of ${dir} are held by process ${holder ?? '?'}`, {
        expected: 'the process holding them to publish them or end',
        received: `no services published within ${Math.round((options.timeoutMs ?? 60_000) / 1000)} s`,
      });
    }
    await sleep(options.pollMs ?? 100);
  }
}

function ownerClaim(lock: string, published: string, clients: string): ServicesClaim {
  let services: Omit<PublishedServices, 'pid'> | undefined;
  const publish = () => writeAtomically(published, JSON.stringify({ pid: process.pid, ...services }));
  return {
    kind: 'owner',
    publish(s) {
      services = s;
      publish();
    },
    async retire(onWait) {
      let told = false;
      for (;;) {
        rmSync(published, { force: true });
        const pids = liveClients(clients);
        if (pids.length === 0) return;
        // Still in use: publish again, so processes arriving meanwhile can join rather than wait.
        if (services) publish();
        if (!told) onWait?.(pids);
        told = true;
        await sleep(200);
      }
    },
    release() {
      rmSync(published, { force: true });
      if (readText(lock) === String(process.pid)) rmSync(lock, { force: true });
    },
  };
}
