/**
 * The Marketo emulator: an HTTP server on 127.0.0.1 answering the subset of Adobe Marketo Engage's identity and
 * Bulk Lead Import APIs that `datasource.write.marketo` uses, written from Marketo's public documentation (facts
 * gathered in platforms.md §4; the documents are listed in docs/marketo.md). Where each behaviour comes from:
 *
 * - `GET|POST /identity/oauth/token` ("Authentication"): `grant_type=client_credentials`, `client_id`,
 *   `client_secret` as query params; answers `access_token`, `token_type: "bearer"`, `expires_in` 3599, `scope`.
 *   Bad credentials: HTTP 401 (the body here is not confirmed).
 * - API calls need `Authorization: Bearer`; an unknown token is HTTP 200 `success: false` code 601, an expired
 *   one 602 ("Error Codes").
 * - `POST /bulk/v1/leads.json` ("Bulk Lead Import"): multipart `file`, `format` (csv only here), `lookupField`
 *   (default `email`); a file over 10 MB is 413; answers `result[{batchId, importId, status: "Queued"}]`. The
 *   header row holds REST API field names; a column that is not a field fails the batch (code 1006's wording).
 *   Insert or update on `lookupField`.
 * - `GET /bulk/v1/leads/batch/<id>.json`: `status` Queued, Importing (one step per poll here), then Complete or
 *   Failed, `numOfLeadsProcessed`, `numOfRowsFailed`, `numOfRowsWithWarning`, `message`.
 * - `GET /bulk/v1/leads/batch/<id>/failures.json` and `warnings.json`: the refused rows as CSV with the reason as
 *   an appended last column. Not confirmed: the reason column's header (`Import Failure Reason` here) and the
 *   reasons' wording; that an invalid email address refuses the row; that an empty cell leaves the field as it is.
 * - Errors ("Error Codes"): HTTP 200 with `success: false`, `errors: [{code, message}]`, the code a quoted number.
 *
 * Fault injection: scripted answers to the next calls of a path (a Marketo code such as 602 or 606, or an HTTP
 * status), leads refused with a given reason, the next batch failing, latency on every call.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { MARKETO_MAX_IMPORT_BYTES } from '../connectors/marketo.ts';
import { csvLine, csvRows } from '../scripts/util/csv-rows.ts';
import type { LocalExtra } from './environment.ts';

/** A lead: its id and fields (REST API names). */
export interface MarketoLead {
  readonly id: number;
  readonly fields: Record<string, string>;
}

/** Options of {@link startMarketoEmulator}. */
export interface MarketoEmulatorOptions {
  readonly clients?: readonly { readonly clientId: string; readonly clientSecret: string }[];
  /** The lead fields (REST API names) of the subscription. @default LOCAL_MARKETO_FIELDS */
  readonly fields?: readonly string[];
  /** Milliseconds added to every answer. @default 0 */
  readonly latencyMs?: number;
}

/** A scripted answer to the next calls of a path: a Marketo error code (HTTP 200) or an HTTP status. */
export interface MarketoFault {
  readonly path: RegExp;
  readonly code?: string;
  readonly status?: number;
  /** @default 1 */
  times?: number;
}

/** An import batch the emulator ran. */
export interface MarketoImport {
  readonly batchId: number;
  polls: number;
  readonly final: 'Complete' | 'Failed';
  readonly message: string;
  readonly rows: number;
  readonly failed: number;
  readonly failures: string;
}

/** A running emulator. */
export interface MarketoEmulator {
  readonly url: string;
  readonly leads: ReadonlyMap<number, MarketoLead>;
  /** Adds a lead; returns it. */
  insert(fields: Record<string, string>): MarketoLead;
  clear(): void;
  /** Calls received, in order (`METHOD path`). */
  readonly calls: string[];
  readonly imports: MarketoImport[];
  fault(fault: MarketoFault): void;
  /** Every token issued so far expires (602). */
  expireTokens(): void;
  /** A row whose lookup value is this is refused with this reason. */
  refuseRow(lookupValue: string, reason: string): void;
  /** The next import batch ends Failed with this message. */
  failNextImport(message: string): void;
  close(): Promise<void>;
}

/** The LaunchPoint service of the local emulator (a local stand-in, not a secret). */
export const LOCAL_MARKETO = {
  clientId: 'idx-local-marketo-service',
  clientSecret: 'idx-local-marketo-secret',
} as const;

/** The lead fields of the local emulator: Marketo's standard ones the public template uses and its custom ones. */
export const LOCAL_MARKETO_FIELDS = ['email', 'firstName', 'lastName', 'gUID', 'fblikes'] as const;

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** Starts the emulator on 127.0.0.1 on a free port. */
export async function startMarketoEmulator(options: MarketoEmulatorOptions = {}): Promise<MarketoEmulator> {
  const clients = options.clients ?? [LOCAL_MARKETO];
  const fields: readonly string[] = options.fields ?? LOCAL_MARKETO_FIELDS;
  const leads = new Map<number, MarketoLead>();
  const tokens = new Map<string, boolean>();
  const faults: MarketoFault[] = [];
  const calls: string[] = [];
  const imports: MarketoImport[] = [];
  const refusals = new Map<string, string>();
  let failNext: string | undefined;
  let nextLead = 1;
  let nextBatch = 3400;

  const refused = (code: string, message: string) => ({
    status: 200,
    body: { requestId: 'emu', success: false, errors: [{ code, message }] },
  });
  const ok = (result: unknown[]) => ({
    status: 200,
    body: { requestId: randomBytes(4).toString('hex'), success: true, result },
  });

  const importLeads = async (req: Request) => {
    const form = await req.formData();
    const file = form.get('file');
    const lookupField = String(form.get('lookupField') ?? 'email');
    if (String(form.get('format') ?? '') !== 'csv') return refused('1003', 'Only the csv format is emulated');
    if (!(file instanceof Blob)) return refused('1003', 'A file is required');
    if (file.size > MARKETO_MAX_IMPORT_BYTES) return { status: 413, body: 'Request Entity Too Large' };
    const failing = failNext;
    failNext = undefined;
    let header: readonly string[] = [];
    const failures: string[] = [];
    let rows = 0;
    let message = '';
    const pending: { fields: Record<string, string>; line: string }[] = [];
    for await (const row of csvRows(Readable.from([Buffer.from(await file.arrayBuffer())]), 'leads.csv')) {
      if (row.line === 1) {
        header = row.cells;
        const unknown = header.find((h) => !fields.includes(h));
        if (unknown) message = `Field '${unknown}' not found`;
        else if (!header.includes(lookupField)) message = `Lookup field '${lookupField}' is not a column of the file`;
        continue;
      }
      rows++;
      const values: Record<string, string> = {};
      header.forEach((h, i) => {
        // An empty cell leaves the field as it is (not confirmed: Marketo's pages do not say).
        if (row.cells[i]) values[h] = row.cells[i] as string;
      });
      const line = csvLine(row.cells);
      const key = values[lookupField] ?? '';
      const reason =
        values.email && !EMAIL.test(values.email)
          ? `Invalid email address: ${values.email}`
          : key === ''
            ? `Value for lookup field '${lookupField}' is empty`
            : refusals.get(key);
      if (reason) failures.push(csvLine([...row.cells, reason]));
      else pending.push({ fields: values, line });
    }
    const final = failing !== undefined || message ? 'Failed' : 'Complete';
    if (final === 'Complete') {
      for (const p of pending) {
        const key = p.fields[lookupField] ?? '';
        const found = [...leads.values()].find((l) => (l.fields[lookupField] ?? '') === key);
        if (found) Object.assign(found.fields, p.fields);
        else {
          const lead = { id: nextLead++, fields: p.fields };
          leads.set(lead.id, lead);
        }
      }
    }
    const batch: MarketoImport = {
      batchId: nextBatch++,
      polls: 0,
      final,
      message:
        failing ??
        (message ||
          `Import ${failures.length ? 'completed with errors' : 'succeeded'}, ${pending.length} records imported (${pending.length} members)${failures.length ? `, ${failures.length} failed` : ''}`),
      rows,
      failed: final === 'Complete' ? failures.length : rows,
      failures: `${csvLine([...header, 'Import Failure Reason'])}\n${failures.map((f) => `${f}\n`).join('')}`,
    };
    imports.push(batch);
    return ok([{ batchId: batch.batchId, importId: String(batch.batchId), status: 'Queued' }]);
  };

  const handle = async (req: Request, path: string): Promise<{ status: number; body: unknown; text?: boolean }> => {
    const url = new URL(req.url);
    if (path === '/identity/oauth/token') {
      const client = clients.find(
        (c) =>
          c.clientId === url.searchParams.get('client_id') && c.clientSecret === url.searchParams.get('client_secret'),
      );
      if (url.searchParams.get('grant_type') !== 'client_credentials' || !client)
        return { status: 401, body: { error: 'unauthorized', error_description: 'Bad client credentials' } };
      const token = `${randomBytes(16).toString('hex')}:ab`;
      tokens.set(token, true);
      return {
        status: 200,
        body: { access_token: token, token_type: 'bearer', expires_in: 3599, scope: 'api@example.com' },
      };
    }
    const bearer = /^Bearer (.+)$/.exec(req.headers.get('authorization') ?? '')?.[1];
    if (!bearer || !tokens.has(bearer)) return refused('601', 'Access token invalid');
    if (!tokens.get(bearer)) return refused('602', 'Access token expired');
    if (path === '/bulk/v1/leads.json' && req.method === 'POST') return importLeads(req);
    const m = /^\/bulk\/v1\/leads\/batch\/(\d+)(\/failures|\/warnings)?\.json$/.exec(path);
    const batch = m ? imports.find((b) => b.batchId === Number(m[1])) : undefined;
    if (!m || !batch) return refused('610', 'Requested resource not found');
    if (m[2] === '/failures') return { status: 200, body: batch.failures, text: true };
    if (m[2] === '/warnings') return { status: 200, body: `${batch.failures.split('\n')[0]}\n`, text: true };
    batch.polls++;
    const status = batch.polls === 1 ? 'Queued' : batch.polls === 2 ? 'Importing' : batch.final;
    return ok([
      {
        batchId: batch.batchId,
        importId: String(batch.batchId),
        status,
        ...(status === batch.final
          ? {
              numOfLeadsProcessed: batch.rows - batch.failed,
              numOfRowsFailed: batch.failed,
              numOfRowsWithWarning: 0,
              message: batch.message,
            }
          : {}),
      },
    ]);
  };

  const send = (res: ServerResponse, status: number, body: unknown, text = false) => {
    res.writeHead(status, { 'content-type': text || typeof body === 'string' ? 'text/plain' : 'application/json' });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  };

  let origin = '';
  const server = createServer((req: IncomingMessage, res) => {
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const body = Buffer.concat(chunks);
      if (options.latencyMs) await new Promise((r) => setTimeout(r, options.latencyMs));
      const path = new URL(req.url ?? '/', origin).pathname;
      calls.push(`${req.method} ${path}`);
      const scripted = faults.find((f) => f.path.test(path));
      if (scripted) {
        scripted.times = (scripted.times ?? 1) - 1;
        if (scripted.times <= 0) faults.splice(faults.indexOf(scripted), 1);
        if (scripted.status) return send(res, scripted.status, 'Bad Gateway');
        const answer = refused(scripted.code ?? '611', `Scripted error ${scripted.code ?? '611'}`);
        return send(res, answer.status, answer.body);
      }
      try {
        const headers = new Headers();
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers.set(k, v);
        const request = new Request(new URL(req.url ?? '/', origin), {
          method: req.method ?? 'GET',
          headers,
          ...(req.method === 'GET' || req.method === 'HEAD' ? {} : { body }),
        });
        const answer = await handle(request, path);
        return send(res, answer.status, answer.body, answer.text);
      } catch (error) {
        const answer = refused('611', `System error: ${(error as Error).message}`);
        return send(res, answer.status, answer.body);
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: origin,
    leads,
    insert: (f) => {
      const lead = { id: nextLead++, fields: { ...f } };
      leads.set(lead.id, lead);
      return lead;
    },
    clear: () => {
      leads.clear();
      imports.length = 0;
      calls.length = 0;
      refusals.clear();
    },
    calls,
    imports,
    fault: (f) => {
      faults.push({ ...f, times: f.times ?? 1 });
    },
    expireTokens: () => {
      for (const t of tokens.keys()) tokens.set(t, false);
    },
    refuseRow: (value, reason) => {
      refusals.set(value, reason);
    },
    failNextImport: (message) => {
      failNext = message;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * The emulator as a stand-in of the local environment (in memory). Marketo steps whose `baseUrl` is empty (or
 * elided) in local mode use it, with the service {@link LOCAL_MARKETO} and the fields {@link LOCAL_MARKETO_FIELDS}.
 */
export function marketoExtra(options: MarketoEmulatorOptions = {}): LocalExtra {
  const start: LocalExtra = async () => {
    const emu = await startMarketoEmulator(options);
    return {
      endpoints: { marketo: emu.url },
      close: () => emu.close(),
      info: { marketo: `${emu.url} (Marketo emulator, service ${LOCAL_MARKETO.clientId})` },
    };
  };
  return Object.assign(start, { provides: ['marketo'] as const });
}
