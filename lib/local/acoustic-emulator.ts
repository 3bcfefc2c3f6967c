/**
 * The Acoustic Campaign emulator: an HTTP server on 127.0.0.1 answering the subset of Acoustic Campaign's XML API
 * (formerly IBM Silverpop Engage) that `datasource.read.silverpop` and `datasource.write.silverpop` use, over a
 * folder that plays the org's SFTP (`upload/` and `download/`; locally the embedded SFTP server serves it). Written
 * from Acoustic's public documentation (facts gathered in platforms.md §6; the documents are listed in
 * docs/acoustic.md). Where each behaviour comes from:
 *
 * - `POST /oauth/token` ("Getting started with OAuth"): form body `grant_type=refresh_token`, `client_id`,
 *   `client_secret`, `refresh_token`; answers `access_token`, `token_type: "bearer"`, `expires_in` 14400 (4 h).
 *   A wrong client or refresh token: 401 `{"error":"invalid_client"}` (the error body is not confirmed).
 * - `POST /XMLAPI` ("XML API overview"): the envelope `<Envelope><Body><Operation>`, tag names case-sensitive;
 *   success `<RESULT><SUCCESS>TRUE</SUCCESS>…`, failure HTTP 200 with `SUCCESS` false and a `Fault`
 *   (`FaultString`, `detail/error/errorid`; "FAQs" shows errorid 51 for malformed XML). An unknown or expired bearer
 *   token is answered 401 with a Fault here (the real status is not confirmed).
 * - `ImportList` ("ImportList"): `MAP_FILE` and `SOURCE_FILE` read from `upload/`; the map's `LIST_INFO`
 *   (`ACTION` ADD_ONLY | UPDATE_ONLY | ADD_AND_UPDATE, `LIST_ID`, `FILE_TYPE` 0 = CSV, `HASHEADERS`),
 *   `SYNC_FIELDS` (match columns; without them the database's key) and `MAPPING/COLUMN` (`INDEX`, `NAME`,
 *   `INCLUDE`). Answers `JOB_ID`. A column the database lacks, or an unknown list, ends the job in ERROR.
 * - `ExportList` ("Export from a database"): `LIST_ID`, `EXPORT_TYPE` ALL, `EXPORT_FORMAT` CSV, `DATE_START` /
 *   `DATE_END` (`MM/dd/yyyy HH:mm:ss`, bounding the last-modified date, both inclusive here; the time zone is
 *   taken as UTC, the org's zone is not confirmed), `EXPORT_COLUMNS/COLUMN`. Writes a CSV with a header row to
 *   `download/` and answers `JOB_ID` and `FILE_PATH`.
 * - `GetJobStatus` ("GetJobStatus"): `JOB_STATUS` WAITING, RUNNING, then COMPLETE or ERROR (advanced one step per
 *   poll here), `JOB_DESCRIPTION` and `PARAMETERS/PARAMETER{NAME,VALUE}`: for imports `SQL_ADDED`,
 *   `SQL_UPDATED`, `BAD_RECORDS`, `BAD_ADDRESSES`, `RESULTS_FILE_NAME` and `ERROR_FILE_NAME` (files in
 *   `download/`).
 * - Not confirmed, and decided here: the error file's layout (a CSV `LINE,REASON` naming each refused data row by
 *   its line in the source file, the header being line 1) and the reasons' wording; that an invalid EMAIL or an
 *   empty sync field refuses the row.
 *
 * Fault injection: scripted HTTP answers on the next calls of an operation (429, 5xx), tokens that expire, rows
 * refused with a given reason, the next job failing server-side, and latency on every call.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { xmlElement, xmlElements, xmlText } from '../connectors/acoustic.ts';
import { csvLine, csvRows } from '../scripts/util/csv-rows.ts';
import type { LocalExtra } from './environment.ts';

/** A database (list) of the emulated org. */
export interface EmulatedAcousticDatabase {
  readonly listId: string;
  readonly columns: readonly string[];
  /** The unique key columns. @default ['EMAIL'] */
  readonly key?: readonly string[];
}

/** A contact of an emulated database. */
export interface AcousticContact {
  readonly fields: Record<string, string>;
  lastModified: Date;
}

/** An OAuth application with its account-access refresh token. */
export interface AcousticApplication {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly refreshToken: string;
}

/** Options of {@link startAcousticEmulator}. */
export interface AcousticEmulatorOptions {
  /** The folder served as the org's SFTP root (`upload/`, `download/` are created in it). */
  readonly root: string;
  readonly applications?: readonly AcousticApplication[];
  readonly databases?: readonly EmulatedAcousticDatabase[];
  /** Milliseconds added to every answer. @default 0 */
  readonly latencyMs?: number;
}

/** A scripted answer to the next calls of an operation (`token` for the token endpoint). */
export interface AcousticFault {
  readonly operation: string;
  readonly status: number;
  readonly body?: string;
  /** @default 1 */
  times?: number;
}

/** A data job the emulator ran. */
export interface AcousticJob {
  readonly id: string;
  readonly kind: 'import' | 'export';
  /** Polls answered so far. */
  polls: number;
  readonly final: 'COMPLETE' | 'ERROR';
  readonly description: string;
  readonly parameters: Record<string, string>;
  /** Data rows in the source file (imports) or written (exports). */
  readonly rows: number;
}

/** A running emulator. */
export interface AcousticEmulator {
  readonly url: string;
  /** A database's contacts, keyed by their key column values joined with `|`. */
  contacts(listId: string): ReadonlyMap<string, AcousticContact>;
  /** Adds or replaces a contact (by the database key), last modified at `lastModified` (default now). */
  insert(listId: string, fields: Record<string, string>, lastModified?: Date): void;
  /** Empties every database and forgets jobs. */
  clear(): void;
  /** Operations received, in order (`token` for the token endpoint). */
  readonly calls: string[];
  readonly jobs: AcousticJob[];
  fault(fault: AcousticFault): void;
  /** Every token issued so far stops working. */
  expireTokens(): void;
  /** A row whose key column values joined with `|` are this is refused with this reason. */
  refuseRow(key: string, reason: string): void;
  /** The next data job ends in ERROR with this description. */
  failNextJob(description: string): void;
  close(): Promise<void>;
}

/** The application of the local emulator (a local stand-in, not a secret). */
export const LOCAL_ACOUSTIC: AcousticApplication = {
  clientId: 'idx-local-acoustic-app',
  clientSecret: 'idx-local-acoustic-secret',
  refreshToken: 'idx-local-acoustic-refresh-token',
};

/** The database the local emulator starts with: the columns of the public Silverpop dataflows. */
export const LOCAL_ACOUSTIC_DATABASES: readonly EmulatedAcousticDatabase[] = [
  { listId: '1000', columns: ['EMAIL', 'GigyaUid', 'Subscribed'], key: ['EMAIL'] },
];

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** `MM/dd/yyyy HH:mm:ss` as a UTC instant. */
function parseAcousticDate(text: string): Date | undefined {
  const m = /^(\d{2})\/(\d{2})\/(\d{4}) (\d{2}):(\d{2}):(\d{2})$/.exec(text.trim());
  if (!m) return undefined;
  return new Date(Date.UTC(Number(m[3]), Number(m[1]) - 1, Number(m[2]), Number(m[4]), Number(m[5]), Number(m[6])));
}

const ok = (inner: string) => `<Envelope><Body><RESULT><SUCCESS>TRUE</SUCCESS>${inner}</RESULT></Body></Envelope>`;
const fault = (message: string, errorId: number) =>
  `<Envelope><Body><RESULT><SUCCESS>false</SUCCESS></RESULT><Fault><Request/><FaultCode/><FaultString>${xmlText(message)}</FaultString><detail><error><errorid>${errorId}</errorid><module/><class>SP.API</class><method/></error></detail></Fault></Body></Envelope>`;

/** Starts the emulator on 127.0.0.1 on a free port. */
export async function startAcousticEmulator(options: AcousticEmulatorOptions): Promise<AcousticEmulator> {
  const applications = options.applications ?? [LOCAL_ACOUSTIC];
  const databases = new Map((options.databases ?? LOCAL_ACOUSTIC_DATABASES).map((d) => [d.listId, d]));
  const contacts = new Map<string, Map<string, AcousticContact>>([...databases.keys()].map((k) => [k, new Map()]));
  const tokens = new Set<string>();
  const faults: AcousticFault[] = [];
  const calls: string[] = [];
  const jobs: AcousticJob[] = [];
  const refusals = new Map<string, string>();
  let failNext: string | undefined;
  let nextJob = 108_500;
  await mkdir(join(options.root, 'upload'), { recursive: true });
  await mkdir(join(options.root, 'download'), { recursive: true });

  const keyOf = (db: EmulatedAcousticDatabase, fields: Record<string, string>, match = db.key ?? ['EMAIL']) =>
    match.map((k) => (k === 'EMAIL' ? (fields[k] ?? '').toLowerCase() : (fields[k] ?? ''))).join('|');

  const addJob = (job: Omit<AcousticJob, 'id' | 'polls' | 'final' | 'description'> & { description: string }) => {
    const failed = failNext;
    failNext = undefined;
    const j: AcousticJob = {
      id: String(nextJob++),
      polls: 0,
      ...job,
      final: failed === undefined ? 'COMPLETE' : 'ERROR',
      description: failed ?? job.description,
    };
    jobs.push(j);
    return j;
  };

  const importList = async (body: string): Promise<string> => {
    const mapFile = xmlElement(body, 'MAP_FILE') ?? '';
    const sourceFile = xmlElement(body, 'SOURCE_FILE') ?? '';
    if (!mapFile || !sourceFile || /[\\/]/.test(mapFile + sourceFile))
      return fault('MAP_FILE and SOURCE_FILE must name files in the upload folder.', 51);
    let map: string;
    try {
      map = await readFile(join(options.root, 'upload', mapFile), 'utf8');
    } catch {
      return fault(`Map file ${mapFile} not found in the upload folder.`, 130);
    }
    const listId = xmlElement(map, 'LIST_ID') ?? '';
    const action = xmlElement(map, 'ACTION') ?? 'ADD_AND_UPDATE';
    const hasHeaders = (xmlElement(map, 'HASHEADERS') ?? 'true').toLowerCase() === 'true';
    const db = databases.get(listId);
    const mapping = xmlElements(map, 'COLUMN')
      .map((c) => ({
        index: Number(xmlElement(c, 'INDEX')),
        name: xmlElement(c, 'NAME') ?? '',
        include: (xmlElement(c, 'INCLUDE') ?? 'true').toLowerCase() === 'true',
      }))
      .filter((c) => c.include);
    const syncFields = xmlElements(xmlElement(map, 'SYNC_FIELDS') ?? '', 'NAME');
    const unknown = db ? mapping.find((c) => !db.columns.includes(c.name)) : undefined;
    const parameters: Record<string, string> = { LIST_ID: listId };
    if (!db || unknown) {
      const job = addJob({
        kind: 'import',
        rows: 0,
        parameters,
        description: db ? `Column ${unknown?.name} does not exist in database ${listId}.` : `List ${listId} not found.`,
      });
      return ok(`<JOB_ID>${job.id}</JOB_ID>`);
    }
    const table = contacts.get(listId) as Map<string, AcousticContact>;
    const refused: string[] = ['LINE,REASON'];
    let added = 0;
    let updated = 0;
    let badAddresses = 0;
    let rows = 0;
    const failing = failNext !== undefined;
    for await (const row of csvRows(createReadStream(join(options.root, 'upload', sourceFile)), sourceFile)) {
      if (hasHeaders && row.line === 1) continue;
      rows++;
      if (row.problem) {
        refused.push(csvLine([String(row.line), row.problem.message]));
        continue;
      }
      const fields: Record<string, string> = {};
      for (const c of mapping) fields[c.name] = row.cells[c.index - 1] ?? '';
      const match = syncFields.length ? syncFields : (db.key ?? ['EMAIL']);
      const emptySync = match.find((k) => (fields[k] ?? '') === '');
      const email = fields.EMAIL;
      const key = keyOf(db, fields, match);
      const reason =
        email !== undefined && email !== '' && !EMAIL.test(email)
          ? `Invalid email address: ${email}`
          : emptySync
            ? `Sync field ${emptySync} is empty.`
            : refusals.get(key);
      if (reason) {
        if (reason.startsWith('Invalid email')) badAddresses++;
        refused.push(csvLine([String(row.line), reason]));
        continue;
      }
      if (failing) continue;
      const found = [...table.entries()].find(([, c]) => keyOf(db, c.fields, match) === key);
      if (found && action === 'ADD_ONLY') continue;
      if (!found && action === 'UPDATE_ONLY') continue;
      const contact: AcousticContact = found
        ? { fields: { ...found[1].fields, ...fields }, lastModified: new Date() }
        : { fields, lastModified: new Date() };
      if (found) {
        table.delete(found[0]);
        updated++;
      } else added++;
      table.set(keyOf(db, contact.fields), contact);
    }
    const resultsFile = `${sourceFile}.res`;
    const errorFile = `${sourceFile}.err`;
    Object.assign(parameters, {
      SQL_ADDED: String(added),
      SQL_UPDATED: String(updated),
      BAD_RECORDS: String(refused.length - 1),
      BAD_ADDRESSES: String(badAddresses),
      TOTAL_ROWS: String(rows),
      RESULTS_FILE_NAME: resultsFile,
      ERROR_FILE_NAME: errorFile,
    });
    await writeFile(
      join(options.root, 'download', resultsFile),
      `Rows: ${rows}\nAdded: ${added}\nUpdated: ${updated}\nRefused: ${refused.length - 1}\n`,
    );
    await writeFile(join(options.root, 'download', errorFile), `${refused.join('\r\n')}\r\n`);
    const job = addJob({ kind: 'import', rows, parameters, description: `Import of ${sourceFile} into ${listId}` });
    return ok(`<JOB_ID>${job.id}</JOB_ID>`);
  };

  const exportList = async (body: string): Promise<string> => {
    const listId = xmlElement(body, 'LIST_ID') ?? '';
    const db = databases.get(listId);
    if (!db) return fault(`List ${listId} not found.`, 122);
    const columns = xmlElements(xmlElement(body, 'EXPORT_COLUMNS') ?? '', 'COLUMN');
    const missing = columns.find((c) => !db.columns.includes(c));
    if (missing) return fault(`Column ${missing} does not exist in database ${listId}.`, 128);
    const dates = ['DATE_START', 'DATE_END'].map((t) => {
      const text = xmlElement(body, t);
      return { text, date: text === undefined ? undefined : parseAcousticDate(text) };
    });
    const bad = dates.find((d) => d.text !== undefined && d.date === undefined);
    if (bad) return fault(`Invalid date ${bad.text}: expected MM/dd/yyyy HH:mm:ss.`, 51);
    const [start, end] = dates.map((d) => d.date?.getTime());
    const wanted = columns.length ? columns : db.columns;
    const lines = [csvLine(wanted)];
    for (const c of (contacts.get(listId) as Map<string, AcousticContact>).values()) {
      const at = Math.floor(c.lastModified.getTime() / 1000) * 1000;
      if ((start !== undefined && at < start) || (end !== undefined && at > end)) continue;
      lines.push(csvLine(wanted.map((w) => c.fields[w] ?? '')));
    }
    const file = `${listId} - ${randomBytes(4).toString('hex')}.CSV`;
    await writeFile(join(options.root, 'download', file), `${lines.join('\r\n')}\r\n`);
    const job = addJob({
      kind: 'export',
      rows: lines.length - 1,
      parameters: { LIST_ID: listId },
      description: `Export of ${listId}`,
    });
    return ok(`<JOB_ID>${job.id}</JOB_ID><FILE_PATH>${xmlText(file)}</FILE_PATH>`);
  };

  const jobStatus = (body: string): string => {
    const job = jobs.find((j) => j.id === xmlElement(body, 'JOB_ID'));
    if (!job) return fault(`Job ${xmlElement(body, 'JOB_ID') ?? ''} not found.`, 123);
    job.polls++;
    const status = job.polls === 1 ? 'WAITING' : job.polls === 2 ? 'RUNNING' : job.final;
    const parameters = Object.entries(job.parameters)
      .map(([n, v]) => `<PARAMETER><NAME>${n}</NAME><VALUE>${xmlText(v)}</VALUE></PARAMETER>`)
      .join('');
    return ok(
      `<JOB_ID>${job.id}</JOB_ID><JOB_STATUS>${status}</JOB_STATUS><JOB_DESCRIPTION>${xmlText(job.description)}</JOB_DESCRIPTION><PARAMETERS>${parameters}</PARAMETERS>`,
    );
  };

  const handle = async (
    req: IncomingMessage,
    path: string,
    body: string,
  ): Promise<{ status: number; body: string }> => {
    if (path === '/oauth/token' && req.method === 'POST') {
      const form = new URLSearchParams(body);
      const app = applications.find(
        (a) =>
          a.clientId === form.get('client_id') &&
          a.clientSecret === form.get('client_secret') &&
          a.refreshToken === form.get('refresh_token'),
      );
      if (form.get('grant_type') !== 'refresh_token' || !app)
        return { status: 401, body: JSON.stringify({ error: 'invalid_client', error_description: 'Bad credentials' }) };
      const token = randomBytes(24).toString('base64url');
      tokens.add(token);
      return {
        status: 200,
        body: JSON.stringify({
          access_token: token,
          token_type: 'bearer',
          refresh_token: app.refreshToken,
          expires_in: 14_400,
        }),
      };
    }
    if (path !== '/XMLAPI' || req.method !== 'POST') return { status: 404, body: 'Not found' };
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!bearer || !tokens.has(bearer)) return { status: 401, body: fault('Invalid or expired access token.', 140) };
    const operation = ['ImportList', 'ExportList', 'GetJobStatus'].find((op) => xmlElement(body, op) !== undefined);
    if (!xmlElement(body, 'Envelope') || !operation) return { status: 200, body: fault('Invalid XML Request', 51) };
    const request = xmlElement(body, operation) ?? '';
    if (operation === 'ImportList') return { status: 200, body: await importList(request) };
    if (operation === 'ExportList') return { status: 200, body: await exportList(request) };
    return { status: 200, body: jobStatus(request) };
  };

  const operationOf = (path: string, body: string) =>
    path === '/oauth/token' ? 'token' : (/<Body>\s*<([A-Za-z]+)/.exec(body)?.[1] ?? 'unknown');

  const send = (res: ServerResponse, status: number, body: string, type: string) => {
    res.writeHead(status, { 'content-type': type });
    res.end(body);
  };

  const server = createServer((req, res) => {
    void (async () => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const body = Buffer.concat(chunks).toString('utf8');
      if (options.latencyMs) await new Promise((r) => setTimeout(r, options.latencyMs));
      const operation = operationOf(path, body);
      calls.push(operation);
      const type = path === '/oauth/token' ? 'application/json' : 'text/xml;charset=utf-8';
      const scripted = faults.find((f) => f.operation === operation);
      if (scripted) {
        scripted.times = (scripted.times ?? 1) - 1;
        if (scripted.times <= 0) faults.splice(faults.indexOf(scripted), 1);
        return send(res, scripted.status, scripted.body ?? fault('Service unavailable', 500), type);
      }
      try {
        const answer = await handle(req, path, body);
        return send(res, answer.status, answer.body, type);
      } catch (error) {
        return send(res, 500, fault((error as Error).message, 500), type);
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    contacts: (listId) => contacts.get(listId) ?? new Map(),
    insert: (listId, fields, lastModified = new Date()) => {
      const db = databases.get(listId);
      if (!db) throw new Error(`no database ${listId}`);
      (contacts.get(listId) as Map<string, AcousticContact>).set(keyOf(db, fields), { fields, lastModified });
    },
    clear: () => {
      for (const t of contacts.values()) t.clear();
      jobs.length = 0;
      calls.length = 0;
      refusals.clear();
    },
    calls,
    jobs,
    fault: (f) => {
      faults.push({ ...f, times: f.times ?? 1 });
    },
    expireTokens: () => tokens.clear(),
    refuseRow: (key, reason) => {
      refusals.set(key, reason);
    },
    failNextJob: (description) => {
      failNext = description;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * The emulator as a stand-in of the local environment, over the embedded SFTP server's folder (`<dir>/sftp/`,
 * whose `upload/` and `download/` play the org's SFTP). Silverpop steps whose `apiUrl` is empty in local mode use
 * it, with the application {@link LOCAL_ACOUSTIC} and the databases {@link LOCAL_ACOUSTIC_DATABASES}.
 */
export function acousticExtra(options: Omit<AcousticEmulatorOptions, 'root'> = {}): LocalExtra {
  const start: LocalExtra = async ({ dir }) => {
    const emu = await startAcousticEmulator({ ...options, root: join(dir, 'sftp') });
    return {
      endpoints: { acoustic: emu.url },
      close: () => emu.close(),
      info: { acoustic: `${emu.url} (Acoustic Campaign emulator, application ${LOCAL_ACOUSTIC.clientId})` },
    };
  };
  return Object.assign(start, { provides: ['acoustic'] as const });
}
