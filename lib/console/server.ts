/**
 * The console's HTTP server (node:http, no framework): pages, their assets, and the JSON actions, over a
 * {@link ConsoleBackend}. Other request handlers (the IDX REST API) are mounted in front of the console's routes:
 * each is tried in turn and answers `true` when it handled the request.
 *
 * Every request is bad input until checked (lib/console/http.ts): the Host must be the console's, ids are decoded
 * and bounded, a POST needs the console's own Origin and a JSON body within the limit. Answers to refused
 * requests are coded JSON (or, for a page, an HTML page with the code), never a stack trace.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { IdxError } from '../core/errors.ts';
import { NEW_ID, type TemplateDirection } from '../dataflow/templates.ts';
import type { JobState } from '../stores/jobs.ts';
import type { ConsoleBackend, JobFilter, RunRequest } from './backend.ts';
import {
  checkHost,
  checkId,
  checkSameOrigin,
  errorBody,
  field,
  idParam,
  methodNotAllowed,
  notFound,
  type RequestOrigin,
  readJsonBody,
  sendError,
  sendJson,
  statusOf,
} from './http.ts';
import {
  dataflowPage,
  dataflowsPage,
  editorPage,
  errorPage,
  JOB_STATUSES,
  jobPage,
  jobsPage,
  newDataflowPage,
  rejectedPage,
} from './pages.ts';

/** A request handler mounted before the console's routes; resolves `true` when it answered the request. */
export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

/** Options of {@link startConsoleServer}. */
export interface ConsoleServerOptions {
  readonly backend: ConsoleBackend;
  /** @default 0 (any free port) */
  readonly port?: number;
  /** Handlers tried before the console's own routes (the IDX REST API). */
  readonly handlers?: readonly RequestHandler[];
  /** Where unexpected errors are logged. @default stderr */
  readonly log?: (line: string) => void;
}

/** A running console. */
export interface ConsoleServer {
  /** `http://127.0.0.1:<port>/` */
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  /** Stops the server and the backend's runs. */
  close(): Promise<void>;
}

/** Rejected records a page shows at once; the download has them all. */
export const REJECTED_PAGE_RECORDS = 100;
/** Jobs the Jobs page lists at most; older ones are on the page its "Older jobs" link opens. */
export const JOBS_PAGE_LIMIT = 200;
/** The header of `GET /api/jobs` that holds the cursor of the older page (`/api/jobs?cursor=…`). */
export const OLDER_CURSOR_HEADER = 'x-idx-older-cursor';

const ASSETS: Record<string, { type: string; file: string }> = {
  '/assets/console.css': { type: 'text/css; charset=utf-8', file: 'console.css' },
  '/assets/console.js': { type: 'text/javascript; charset=utf-8', file: 'console.js' },
};

/**
 * Reads one of the console's static files by its name in lib/console/static (`console.css`): the local console
 * reads that folder, the deployed one its assets bucket (lib/deployed/console-function.ts).
 */
export type ConsoleAssetReader = (file: string) => Promise<Uint8Array>;

/** Reads the static files beside this module (lib/console/static). */
const readLocalAsset: ConsoleAssetReader = (file) => readFile(new URL(`./static/${file}`, import.meta.url));

/** Only the console's own scripts, styles and images; no framing. */
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

function sendHtml(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(html),
    'content-security-policy': CSP,
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'same-origin',
    'cache-control': 'no-store',
  });
  res.end(html);
}

/** A query parameter as a UTC time (`datetime-local` sends no zone): ISO, or a coded error. */
function timeParam(value: string | null, name: string): string | undefined {
  if (value === null || value === '') return undefined;
  const t = Date.parse(/[zZ]|[+-]\d\d:\d\d$/.test(value) ? value : `${value}Z`);
  if (value.length > 40 || Number.isNaN(t))
    throw new IdxError('IDX_HTTP_BAD_REQUEST', `the "${name}" filter is not a time`, {
      param: name,
      expected: 'a UTC time such as 2026-01-31T02:00',
      received: JSON.stringify(value.slice(0, 40)),
    });
  return new Date(t).toISOString();
}

/** The Jobs filter from a query string. */
export function jobFilterOf(query: URLSearchParams): JobFilter {
  const dataflow = query.get('dataflow') || undefined;
  if (dataflow !== undefined) checkId(dataflow, 'dataflow id');
  const status = query.get('status') || undefined;
  if (status !== undefined && !(JOB_STATUSES as readonly string[]).includes(status))
    throw new IdxError('IDX_HTTP_BAD_REQUEST', 'the "status" filter is not a job status', {
      param: 'status',
      expected: JOB_STATUSES.join(', '),
      received: JSON.stringify(status.slice(0, 40)),
    });
  const from = timeParam(query.get('from'), 'from');
  const to = timeParam(query.get('to'), 'to');
  // The cursor is checked where it is used (JobStore.list), which answers a foreign one with a coded error.
  const cursor = query.get('cursor') || undefined;
  return {
    ...(dataflow ? { dataflowId: dataflow } : {}),
    ...(status ? { status: status as JobState } : {}),
    ...(from ? { from } : {}),
    ...(to ? { to } : {}),
    limit: JOBS_PAGE_LIMIT,
    ...(cursor ? { cursor } : {}),
  };
}

/** The run a POST asks for: `test`, `limit` (a positive whole number), `fullExtract`, `dryRun`. */
export function runRequestOf(body: Record<string, unknown>): RunRequest {
  const limit = field(body, 'limit', 'number');
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1))
    throw new IdxError('IDX_HTTP_BAD_REQUEST', 'the run\'s "limit" must be a positive whole number', {
      param: 'limit',
      expected: 'a whole number of at least 1',
      received: String(limit),
    });
  return {
    ...(field(body, 'test', 'boolean') ? { test: true } : {}),
    ...(limit === undefined ? {} : { limit }),
    ...(field(body, 'fullExtract', 'boolean') ? { fullExtract: true } : {}),
    ...(field(body, 'dryRun', 'boolean') ? { dryRun: true } : {}),
  };
}

function editingRefused(): IdxError {
  return new IdxError('IDX_HTTP_NOT_FOUND', 'dataflows change through the repository and `cdk deploy` here', {
    expected: 'a local console (`idx console`) to create or edit dataflows',
  });
}

/** Options of {@link consoleHandler}. */
export interface ConsoleHandlerOptions {
  readonly backend: ConsoleBackend;
  readonly origin: RequestOrigin;
  /** Handlers tried before the console's own routes (the IDX REST API). */
  readonly handlers?: readonly RequestHandler[];
  /** Where unexpected errors are logged. @default stderr */
  readonly log?: (line: string) => void;
  /**
   * Where the static files are read from, each once (a failed read is tried again on the next request).
   * @default the files of lib/console/static
   */
  readonly assets?: ConsoleAssetReader;
}

/**
 * The console as one request handler: node:http calls it on 127.0.0.1 ({@link startConsoleServer}), and the
 * deployed function calls it with each function-URL event adapted to a request (lib/console/lambda.ts).
 */
export function consoleHandler(
  options: ConsoleHandlerOptions,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const { backend, origin } = options;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const readAsset = options.assets ?? readLocalAsset;
  const assetBodies = new Map<string, Promise<Uint8Array>>();
  /** An asset's bytes, read once and kept (they change only with a deployment, which starts new instances). */
  const assetBody = (file: string): Promise<Uint8Array> => {
    let body = assetBodies.get(file);
    if (!body) {
      body = readAsset(file);
      assetBodies.set(file, body);
      body.catch(() => assetBodies.delete(file));
    }
    return body;
  };
  const page = async (res: ServerResponse, render: () => Promise<string>) => sendHtml(res, 200, await render());

  /** The console's routes; `parts` are the raw path segments. */
  async function route(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const method = req.method ?? 'GET';
    const parts = url.pathname.split('/').slice(1);
    const [head, a, b, c, d] = parts;
    const n = parts.length;
    const asset = Object.hasOwn(ASSETS, url.pathname) ? ASSETS[url.pathname] : undefined;
    if (asset) {
      if (method !== 'GET' && method !== 'HEAD') throw methodNotAllowed(method, ['GET']);
      const body = await assetBody(asset.file);
      res.writeHead(200, {
        'content-type': asset.type,
        'content-length': body.length,
        'x-content-type-options': 'nosniff',
        'cache-control': 'no-cache',
      });
      res.end(method === 'HEAD' ? undefined : body);
      return;
    }
    if (head === 'api') {
      if (method === 'GET') return api(res, parts.slice(1), url);
      if (method !== 'POST') throw methodNotAllowed(method, ['GET', 'POST']);
      origin.checkSameOrigin(req);
      const body = await readJsonBody(req);
      return action(res, parts.slice(1), body);
    }
    if (method !== 'GET' && method !== 'HEAD') throw methodNotAllowed(method, ['GET']);
    const editable = backend.editable;
    if (url.pathname === '/' || (head === 'dataflows' && n === 1))
      return page(res, async () => dataflowsPage(await backend.listDataflows(), editable));
    if (head === 'dataflows' && a !== undefined && n === 2) {
      const id = idParam(a, 'dataflow id');
      return page(res, async () => dataflowPage(await backend.getDataflow(id), editable));
    }
    if (head === 'dataflows' && a !== undefined && b === 'edit' && n === 3) {
      if (!editable) throw editingRefused();
      const id = idParam(a, 'dataflow id');
      return page(res, async () => editorPage(id, await backend.dataflowText(id)));
    }
    if (head === 'new' && n === 1) {
      if (!editable) throw editingRefused();
      return page(res, async () => newDataflowPage(await backend.listTemplates()));
    }
    if (head === 'jobs' && n === 1) {
      const filter = jobFilterOf(url.searchParams);
      return page(res, async () => {
        const [jobs, dataflows] = await Promise.all([backend.listJobs(filter), backend.listDataflows()]);
        return jobsPage(
          jobs,
          filter,
          dataflows.map((x) => x.id),
          editable,
        );
      });
    }
    if (head === 'jobs' && a !== undefined && n === 2) {
      const id = idParam(a, 'job id');
      return page(res, async () => jobPage(await backend.getJob(id), editable));
    }
    if (
      head === 'jobs' &&
      a !== undefined &&
      b === 'rejected' &&
      c !== undefined &&
      (n === 4 || (n === 5 && d === 'download'))
    ) {
      const jobId = idParam(a, 'job id');
      const stepId = idParam(c, 'step id');
      if (n === 4)
        return page(res, async () =>
          rejectedPage(jobId, stepId, await backend.rejectedRecords(jobId, stepId, REJECTED_PAGE_RECORDS), editable),
        );
      const chunks = await backend.rejectedDownload(jobId, stepId);
      const name = `${jobId}-${stepId}-rejected.ndjson`.replace(/[^A-Za-z0-9._-]+/g, '_');
      res.writeHead(200, {
        'content-type': 'application/x-ndjson; charset=utf-8',
        'content-disposition': `attachment; filename="${name}"`,
        'x-content-type-options': 'nosniff',
        'cache-control': 'no-store',
      });
      for await (const chunk of chunks) if (!res.write(chunk)) await new Promise((r) => res.once('drain', r));
      res.end();
      return;
    }
    throw notFound(url.pathname);
  }

  /** GET /api/…: the pages' data as JSON. */
  async function api(res: ServerResponse, parts: string[], url: URL): Promise<void> {
    const [what, a, ...rest] = parts;
    if (rest.length > 0) throw notFound(url.pathname);
    if (what === 'dataflows' && a === undefined) return sendJson(res, 200, await backend.listDataflows());
    if (what === 'dataflows' && a !== undefined)
      return sendJson(res, 200, await backend.getDataflow(idParam(a, 'dataflow id')));
    if (what === 'jobs' && a === undefined) {
      // The body stays the list of jobs; the older page's cursor travels in a header.
      const listed = await backend.listJobs(jobFilterOf(url.searchParams));
      return sendJson(res, 200, listed.jobs, listed.cursor ? { [OLDER_CURSOR_HEADER]: listed.cursor } : {});
    }
    if (what === 'jobs' && a !== undefined) return sendJson(res, 200, await backend.getJob(idParam(a, 'job id')));
    if (what === 'templates' && a === undefined) return sendJson(res, 200, await backend.listTemplates());
    throw notFound(url.pathname);
  }

  /** POST /api/…: the actions. */
  async function action(res: ServerResponse, parts: string[], body: Record<string, unknown>): Promise<void> {
    const [what, a, verb, ...rest] = parts;
    const where = `/api/${parts.join('/')}`;
    if (rest.length > 0) throw notFound(where);
    if (what === 'validate' && a === undefined) {
      const id = field(body, 'id', 'string');
      if (id !== undefined) checkId(id, 'dataflow id');
      return sendJson(res, 200, await backend.validateText(field(body, 'text', 'string', true) as string, id));
    }
    if (what === 'jobs' && a !== undefined && verb === 'stop') {
      await backend.stopJob(idParam(a, 'job id'));
      return sendJson(res, 200, { stopped: true });
    }
    if (what !== 'dataflows') throw notFound(where);
    if (a === undefined) {
      if (!backend.editable) throw editingRefused();
      const id = field(body, 'id', 'string', true) as string;
      if (!NEW_ID.test(id))
        throw new IdxError('IDX_HTTP_BAD_REQUEST', 'the new dataflow id is not one a file can be named after', {
          param: 'id',
          expected: `letters, digits, - and _ (${NEW_ID.source})`,
          received: JSON.stringify(id.slice(0, 200)),
        });
      const direction = field(body, 'direction', 'string', true) as string;
      const name = field(body, 'name', 'string');
      if (name !== undefined) checkId(name, 'name');
      const integration = field(body, 'integration', 'string', true) as string;
      checkId(integration, 'integration');
      return sendJson(
        res,
        201,
        await backend.createDataflow({
          integration,
          direction: direction as TemplateDirection,
          id,
          ...(name ? { name } : {}),
        }),
      );
    }
    const id = idParam(a, 'dataflow id');
    switch (verb) {
      case 'run':
        return sendJson(res, 202, await backend.startRun(id, runRequestOf(body)));
      case 'schedules': {
        // Deployed too: the backend enables or disables the deployed schedule itself.
        const schedule = field(body, 'schedule', 'string', true) as string;
        checkId(schedule, 'schedule name');
        await backend.setScheduleEnabled(id, schedule, field(body, 'enabled', 'boolean', true) as boolean);
        return sendJson(res, 200, { ok: true });
      }
      case 'duplicate':
        if (!backend.editable) throw editingRefused();
        return sendJson(res, 201, await backend.duplicateDataflow(id));
      case 'save': {
        if (!backend.editable) throw editingRefused();
        const result = await backend.saveDataflow(id, field(body, 'text', 'string', true) as string);
        return sendJson(res, result.valid ? 200 : 422, result);
      }
      default:
        throw notFound(where);
    }
  }

  return async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL | undefined;
    try {
      origin.checkHost(req);
      for (const handler of options.handlers ?? []) if (await handler(req, res)) return;
      const raw = req.url ?? '/';
      // Only origin-form targets: an absolute URL or `*` names no page here.
      if (!raw.startsWith('/') || raw.startsWith('//')) throw notFound(raw);
      // A segment of dots (plain or encoded) or a backslash never names a page: refused before the URL parser
      // would resolve it away, so a traversal attempt is answered as such rather than as another page.
      const rawPath = raw.split('?')[0] ?? '';
      if (/(^|\/)(\.|%2e){1,2}(\/|$)/i.test(rawPath) || /\\|%5c|%00/i.test(rawPath)) throw notFound(rawPath);
      url = new URL(raw, 'http://console.invalid');
      await route(req, res, url);
    } catch (error) {
      const isPage = url !== undefined && !url.pathname.startsWith('/api/') && (req.method ?? 'GET') === 'GET';
      if (isPage && !res.headersSent && error instanceof IdxError) {
        const body = errorBody(error).error;
        sendHtml(
          res,
          statusOf(error),
          errorPage(statusOf(error), String(body.code), String(body.message), backend.editable),
        );
        return;
      }
      sendError(res, error, log);
    }
  };
}

/** Starts the console on 127.0.0.1. */
export async function startConsoleServer(options: ConsoleServerOptions): Promise<ConsoleServer> {
  const { backend } = options;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  let port = 0;
  const handle = consoleHandler({
    backend,
    log,
    ...(options.handlers ? { handlers: options.handlers } : {}),
    origin: { checkHost: (req) => checkHost(req, port), checkSameOrigin: (req) => checkSameOrigin(req, port) },
  });
  const server = createServer((req, res) => {
    handle(req, res).catch((error) => sendError(res, error, log));
  });
  // Slow or stuck clients do not hold the console: bounded headers time and request time.
  server.headersTimeout = 10_000;
  server.requestTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    server,
    async close() {
      await backend.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
