/**
 * A client of Acoustic Campaign's XML API (formerly IBM Silverpop Engage): the OAuth refresh-token grant, the XML
 * envelope and its faults, and the data jobs `ImportList`, `ExportList` and `GetJobStatus`. It is a plain
 * protocol client: files travel over Acoustic's SFTP, which the caller drives with the SFTP connector.
 *
 * Facts taken from Acoustic's public documentation (listed in docs/acoustic.md): the token endpoint
 * `POST <api host>/oauth/token` with `grant_type=refresh_token`, `client_id`, `client_secret`, `refresh_token`
 * (form-encoded), answering `access_token` and `expires_in` (4 hours); calls are `POST <api host>/XMLAPI` with
 * `Authorization: Bearer <token>` and the envelope `<Envelope><Body><Operation>…</Operation></Body></Envelope>`;
 * an answer is HTTP 200 with `<RESULT><SUCCESS>TRUE</SUCCESS>…</RESULT>`, or with `SUCCESS` false and a `Fault`
 * whose `FaultString` and `detail/error/errorid` say why. Not confirmed, and decided here: an expired token is
 * answered 401 (the token is renewed once and the call sent again); throttling (more than 10 concurrent requests)
 * is 429 or 503, retried with backoff like any 5xx.
 */
import { IdxError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { fetchOrTransient, TransientError, withTransientRetry } from './http.ts';
import { backoffDelay } from './retry.ts';

/** The XML API host of each Acoustic pod (the `podNumber` of IdentitySync's Silverpop steps). */
export const ACOUSTIC_POD_HOSTS: Readonly<Record<string, string>> = {
  '1': 'api-campaign-us-1.goacoustic.com',
  '2': 'api-campaign-us-2.goacoustic.com',
  '3': 'api-campaign-us-3.goacoustic.com',
  '4': 'api-campaign-us-4.goacoustic.com',
  '5': 'api-campaign-us-5.goacoustic.com',
  '6': 'api-campaign-eu-1.goacoustic.com',
  '7': 'api-campaign-ap-2.goacoustic.com',
  '8': 'api-campaign-ca-1.goacoustic.com',
  '9': 'api-campaign-us-6.goacoustic.com',
  A: 'api-campaign-ap-1.goacoustic.com',
};

/** The SFTP host of pods 1–5 (`transfer-campaign-us-N`); others are not confirmed and must be given as `host`. */
export function acousticSftpHost(pod: string): string | undefined {
  return /^[1-5]$/.test(pod) ? `transfer-campaign-us-${pod}.goacoustic.com` : undefined;
}

/** Options of {@link AcousticClient}. */
export interface AcousticClientOptions {
  /** The origin of the XML API and token endpoint, e.g. `https://api-campaign-us-5.goacoustic.com`. */
  readonly apiUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly refreshToken: string;
  /** Attempts of one call answered 429, 5xx or cut off. @default 5 */
  readonly attempts?: number;
  /** First backoff delay (doubles, 30 s at most). @default 1000 */
  readonly baseDelayMs?: number;
  readonly log?: Logger;
  readonly signal?: AbortSignal;
}

/** A data job's state as `GetJobStatus` reports it. */
export interface AcousticJobStatus {
  /** WAITING, RUNNING, COMPLETE, ERROR, CANCELED. */
  readonly status: string;
  readonly description: string;
  /** The job's PARAMETERS as name → value (RESULTS_FILE_NAME, ERROR_FILE_NAME, SQL_ADDED, …). */
  readonly parameters: Readonly<Record<string, string>>;
}

/** Escapes text for an XML element. */
export function xmlText(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function unescapeXml(value: string): string {
  return value
    .replace(/<!\[CDATA\[([\s\S]*?)\]\]>/g, '$1')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}

/** The text of every `<name>` element of a flat XML fragment (Acoustic's answers nest only a few levels). */
export function xmlElements(xml: string, name: string): string[] {
  const found: string[] = [];
  const re = new RegExp(`<${name}(?:\\s[^>]*)?>([\\s\\S]*?)</${name}>|<${name}\\s*/>`, 'g');
  for (let m = re.exec(xml); m; m = re.exec(xml)) found.push(unescapeXml((m[1] ?? '').trim()));
  return found;
}

/** The text of the first `<name>` element, or undefined. */
export function xmlElement(xml: string, name: string): string | undefined {
  return xmlElements(xml, name)[0];
}

/** A client of one Acoustic org; it keeps its access token until shortly before it expires. */
export class AcousticClient {
  readonly #o: AcousticClientOptions;
  #token: { value: string; until: number } | undefined;

  constructor(options: AcousticClientOptions) {
    this.#o = options;
  }

  /** Sends one operation (its inner XML given) and returns the `RESULT` element's content. */
  async call(operation: string, inner: string): Promise<string> {
    const envelope = `<Envelope><Body><${operation}>${inner}</${operation}></Body></Envelope>`;
    let renewed = false;
    for (;;) {
      const token = await this.#accessToken();
      const answer = await this.#send(`${this.#o.apiUrl}/XMLAPI`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'text/xml;charset=utf-8' },
        body: envelope,
      });
      if (answer.status === 401 && !renewed) {
        // The token expired before its announced end (or was revoked): renew it once.
        renewed = true;
        this.#token = undefined;
        this.#o.log?.info(`Acoustic refused the access token for ${operation}; renewing it once`);
        continue;
      }
      const fault = faultOf(answer.text);
      if (answer.status === 401)
        throw new IdxError('IDX_ACOUSTIC_AUTH', `Acoustic refused a renewed access token: ${fault?.message ?? ''}`, {
          expected: 'an access token the XML API accepts',
          received: `HTTP 401 ${answer.text.slice(0, 200)}`,
        });
      if (answer.status !== 200 || fault || !/<SUCCESS>\s*true\s*<\/SUCCESS>/i.test(answer.text)) {
        throw new IdxError(
          'IDX_ACOUSTIC_FAULT',
          `Acoustic ${operation} failed: ${fault?.message ?? answer.text.slice(0, 200)}`,
          {
            expected: `<SUCCESS>TRUE</SUCCESS> for ${operation}`,
            received: `HTTP ${answer.status}${fault ? `, errorid ${fault.errorId ?? '?'}: ${fault.message}` : ''}`,
            details: { operation, ...(fault?.errorId === undefined ? {} : { errorId: fault.errorId }) },
          },
        );
      }
      return xmlElement(answer.text, 'RESULT') ?? '';
    }
  }

  /** Starts an `ImportList` of files already uploaded to the SFTP `upload` folder; returns the job id. */
  async importList(mapFile: string, sourceFile: string): Promise<string> {
    const result = await this.call(
      'ImportList',
      `<MAP_FILE>${xmlText(mapFile)}</MAP_FILE><SOURCE_FILE>${xmlText(sourceFile)}</SOURCE_FILE><FILE_ENCODING>UTF-8</FILE_ENCODING>`,
    );
    return this.#jobId(result, 'ImportList');
  }

  /**
   * Starts an `ExportList` of a database's columns to the SFTP `download` folder, optionally only the contacts
   * last modified between `dateStart` and `dateEnd` (`MM/dd/yyyy HH:mm:ss`); returns the job id and file path.
   */
  async exportList(options: {
    listId: string;
    columns: readonly string[];
    dateStart?: string;
    dateEnd?: string;
  }): Promise<{ jobId: string; filePath: string }> {
    const dates =
      (options.dateStart ? `<DATE_START>${xmlText(options.dateStart)}</DATE_START>` : '') +
      (options.dateEnd ? `<DATE_END>${xmlText(options.dateEnd)}</DATE_END>` : '');
    const columns = options.columns.map((c) => `<COLUMN>${xmlText(c)}</COLUMN>`).join('');
    const result = await this.call(
      'ExportList',
      `<LIST_ID>${xmlText(options.listId)}</LIST_ID><EXPORT_TYPE>ALL</EXPORT_TYPE><EXPORT_FORMAT>CSV</EXPORT_FORMAT>` +
        `<FILE_ENCODING>UTF-8</FILE_ENCODING>${dates}<EXPORT_COLUMNS>${columns}</EXPORT_COLUMNS>`,
    );
    const filePath = xmlElement(result, 'FILE_PATH');
    if (!filePath)
      throw new IdxError('IDX_ACOUSTIC_FAULT', 'Acoustic ExportList answered no FILE_PATH', {
        expected: 'JOB_ID and FILE_PATH',
        received: result.slice(0, 200),
      });
    return { jobId: this.#jobId(result, 'ExportList'), filePath };
  }

  /** The state of a data job. */
  async jobStatus(jobId: string): Promise<AcousticJobStatus> {
    const result = await this.call('GetJobStatus', `<JOB_ID>${xmlText(jobId)}</JOB_ID>`);
    const parameters: Record<string, string> = {};
    for (const p of xmlElements(result, 'PARAMETER')) {
      const name = xmlElement(p, 'NAME');
      if (name) parameters[name] = xmlElement(p, 'VALUE') ?? '';
    }
    return {
      status: (xmlElement(result, 'JOB_STATUS') ?? '').toUpperCase(),
      description: xmlElement(result, 'JOB_DESCRIPTION') ?? '',
      parameters,
    };
  }

  /**
   * Polls a job until it ends, waiting `pollMs` and then twice as long each time (30 s at most), or until
   * `deadline` (epoch ms) passes: then the last status is returned as it is. A job that ends in ERROR or
   * CANCELED is an `IDX_ACOUSTIC_JOB_FAILED` carrying Acoustic's description.
   */
  async waitForJob(jobId: string, options: { pollMs: number; deadline?: number }): Promise<AcousticJobStatus> {
    for (let poll = 1; ; poll++) {
      const status = await this.jobStatus(jobId);
      if (status.status === 'COMPLETE') return status;
      if (['ERROR', 'CANCELED', 'CANCELLED'].includes(status.status))
        throw new IdxError(
          'IDX_ACOUSTIC_JOB_FAILED',
          `Acoustic job ${jobId} ended ${status.status}: ${status.description}`,
          {
            expected: 'JOB_STATUS COMPLETE',
            received: `${status.status}: ${status.description}`,
            details: { jobId, parameters: status.parameters },
          },
        );
      if (options.deadline !== undefined && Date.now() >= options.deadline) return status;
      const delay = options.pollMs > 0 ? backoffDelay(poll, options.pollMs, 30_000) : 0;
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  #jobId(result: string, operation: string): string {
    const jobId = xmlElement(result, 'JOB_ID');
    if (!jobId)
      throw new IdxError('IDX_ACOUSTIC_FAULT', `Acoustic ${operation} answered no JOB_ID`, {
        expected: 'a JOB_ID',
        received: result.slice(0, 200),
      });
    return jobId;
  }

  async #accessToken(): Promise<string> {
    if (this.#token && Date.now() < this.#token.until) return this.#token.value;
    const body = new URLSearchParams({
      grant_type: 'refresh_token',
      client_id: this.#o.clientId,
      client_secret: this.#o.clientSecret,
      refresh_token: this.#o.refreshToken,
    });
    const answer = await this.#send(`${this.#o.apiUrl}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: body.toString(),
    });
    let parsed: { access_token?: unknown; expires_in?: unknown; error?: unknown; error_description?: unknown } = {};
    try {
      parsed = JSON.parse(answer.text) as typeof parsed;
    } catch {
      // Reported below with the text received.
    }
    if (answer.status !== 200 || typeof parsed.access_token !== 'string') {
      throw new IdxError(
        'IDX_ACOUSTIC_AUTH',
        `Acoustic refused the refresh-token grant: ${String(parsed.error_description ?? parsed.error ?? answer.text.slice(0, 200))}`,
        {
          expected: 'an access token for clientId, clientSecret and refreshToken',
          received: `HTTP ${answer.status}${parsed.error === undefined ? '' : ` ${String(parsed.error)}`}`,
        },
      );
    }
    const seconds = typeof parsed.expires_in === 'number' ? parsed.expires_in : 14_400;
    // Kept until a minute before its end, so a long job never sends a token that expires on the way.
    this.#token = { value: parsed.access_token, until: Date.now() + Math.max(0, seconds - 60) * 1000 };
    return this.#token.value;
  }

  /** One HTTP exchange; 429, 5xx and dropped connections are retried with backoff. */
  async #send(url: string, init: RequestInit): Promise<{ status: number; text: string }> {
    return withTransientRetry(
      async () => {
        const response = await fetchOrTransient(url, init, 'Acoustic', this.#o.signal);
        const text = await response.text();
        if (response.status === 429 || response.status >= 500)
          throw new TransientError(
            `Acoustic answered HTTP ${response.status}: ${faultOf(text)?.message ?? text.slice(0, 200)}`,
          );
        return { status: response.status, text };
      },
      {
        attempts: this.#o.attempts ?? 5,
        baseDelayMs: this.#o.baseDelayMs ?? 1000,
        code: 'IDX_ACOUSTIC_UNAVAILABLE',
        what: 'the Acoustic XML API',
        ...(this.#o.log ? { log: this.#o.log } : {}),
        ...(this.#o.signal ? { signal: this.#o.signal } : {}),
      },
    );
  }
}

/** The fault of an answer, if it has one. */
function faultOf(text: string): { message: string; errorId?: string } | undefined {
  const fault = xmlElement(text, 'Fault');
  if (fault === undefined) return undefined;
  const errorId = xmlElement(fault, 'errorid');
  return { message: xmlElement(fault, 'FaultString') ?? 'unknown fault', ...(errorId ? { errorId } : {}) };
}
