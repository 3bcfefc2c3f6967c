import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  MAX_SAS_RESPONSE_BYTES,
  requestSasUrl,
  requestToken,
  tokenEndpoint,
} from '../../../lib/connectors/azure-sas.ts';
import { checkAzureNames } from '../../../lib/scripts/util/azure-access.ts';

let server: Server | undefined;

/** Serves `handler` on 127.0.0.1 and returns its base URL. */
async function serve(handler: RequestListener): Promise<string> {
  server = createServer(handler);
  await new Promise<void>((r) => server?.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

afterEach(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

const SIGNED = 'https://acct.blob.core.windows.net/box/a.csv?sv=2024-01-01&sr=b&sp=cw&sig=abc';

describe('tokenEndpoint', () => {
  it('appends the Entra ID v1 token path to an authority and keeps a URL that already ends in /token', () => {
    // Assess
    expect(tokenEndpoint('https://login.microsoftonline.com/contoso.onmicrosoft.com/')).toBe(
      'https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/token',
    );
    expect(tokenEndpoint('https://login.example.com/oauth2/v2.0/token')).toBe(
      'https://login.example.com/oauth2/v2.0/token',
    );
  });
});

describe('requestToken', () => {
  it('sends the client-credentials grant with the SAS service as resource and returns the token', async () => {
    // Prepare
    let form: URLSearchParams | undefined;
    const url = await serve((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        form = new URLSearchParams(body);
        res.end(JSON.stringify({ access_token: 't0k', expires_in: 600 }));
      });
    });

    // Act
    const token = await requestToken({
      loginUrl: `${url}/tenant`,
      clientId: 'app',
      clientSecret: 's3cret',
      resource: 'https://sas.example.net',
      timeoutMs: 5000,
    });

    // Assess
    expect(token.token).toBe('t0k');
    expect(Object.fromEntries(form ?? [])).toEqual({
      grant_type: 'client_credentials',
      client_id: 'app',
      client_secret: 's3cret',
      resource: 'https://sas.example.net',
    });
  });

  it('fails with a transient IDX_AZURE_SAS on a 503 and a permanent IDX_AZURE_SAS_AUTH on invalid_client', async () => {
    // Prepare
    let status = 503;
    const url = await serve((_req, res) => {
      res.statusCode = status;
      res.end(JSON.stringify({ error: status === 401 ? 'invalid_client' : 'temporarily_unavailable' }));
    });
    const request = { loginUrl: url, clientId: 'app', clientSecret: 'x', resource: 'r', timeoutMs: 5000 };

    // Act
    const unavailable = await requestToken(request).catch((e: unknown) => e);
    status = 401;
    const refused = await requestToken(request).catch((e: unknown) => e);

    // Assess
    expect(unavailable).toMatchObject({ code: 'IDX_AZURE_SAS', transient: true });
    expect(refused).toMatchObject({
      code: 'IDX_AZURE_SAS_AUTH',
      transient: false,
      message: expect.stringContaining('invalid_client'),
    });
  });
});

describe('requestSasUrl', () => {
  it('accepts the SAS URL as text, as a JSON string and in a JSON object, asking with the bearer token', async () => {
    // Prepare
    const answers = [SIGNED, JSON.stringify(SIGNED), JSON.stringify({ sasUri: SIGNED })];
    const seen: string[] = [];
    const url = await serve((req, res) => {
      seen.push(`${req.url} ${req.headers.authorization}`);
      res.end(answers[seen.length - 1]);
    });

    // Act
    const got = [];
    for (let i = 0; i < answers.length; i++)
      got.push((await requestSasUrl(`${url}/api/create/`, 'dir/a b.csv', 'tk', 5000)).toString());

    // Assess
    expect(got).toEqual([SIGNED, SIGNED, SIGNED]);
    expect(seen[0]).toBe('/api/create/dir/a%20b.csv Bearer tk');
  });

  it('appends the blob name to a container SAS', async () => {
    // Prepare
    const url = await serve((_req, res) => res.end('https://acct.blob.core.windows.net/box?sv=1&sr=c&sp=cw&sig=x'));

    // Act
    const sas = await requestSasUrl(`${url}/`, 'out/a.csv', 'tk', 5000);

    // Assess
    expect(`${sas.origin}${sas.pathname}`).toBe('https://acct.blob.core.windows.net/box/out/a.csv');
  });

  it('refuses an answer larger than the cap, without a signature, or a refused token, each with its code', async () => {
    // Prepare
    const bodies: [number, string][] = [
      [200, 'x'.repeat(MAX_SAS_RESPONSE_BYTES + 1)],
      [200, 'https://acct.blob.core.windows.net/box/a.csv?sv=1'],
      [403, 'forbidden'],
    ];
    let n = 0;
    const url = await serve((_req, res) => {
      const [status, body] = bodies[n++] ?? [500, ''];
      res.statusCode = status;
      res.end(body);
    });

    // Act
    const errors = [];
    for (let i = 0; i < bodies.length; i++)
      errors.push(await requestSasUrl(`${url}/`, 'a.csv', 'tk', 5000).catch((e: unknown) => e));

    // Assess
    expect(errors).toMatchObject([
      { code: 'IDX_AZURE_SAS', message: expect.stringContaining('more than') },
      { code: 'IDX_AZURE_SAS', message: expect.stringContaining('without a usable SAS URL') },
      { code: 'IDX_AZURE_SAS_AUTH', transient: false },
    ]);
  });
});

describe('checkAzureNames', () => {
  it('refuses literal names Azure would refuse and leaves placeholders and template blanks to run time', () => {
    // Assess
    expect(checkAzureNames({ accountName: 'acme01', container: 'in-box' })).toEqual([]);
    expect(checkAzureNames({ accountName: '{{accountName}}', container: '${now:yyyy}-box' })).toEqual([]);
    expect(checkAzureNames({ accountName: 'Acme', container: 'ab' }).map((p) => p.path)).toEqual([
      'accountName',
      'container',
    ]);
  });
});
