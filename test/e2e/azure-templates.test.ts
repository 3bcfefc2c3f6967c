/**
 * The public dataflows that use Azure, run locally through the compiled state machine: the SAP toolkit's lite and
 * full account imports (Azure Blob → Gigya → result files on Azure Blob) with their {{placeholders}} filled in as
 * the toolkit fills them, and "Azure - SAS" (Gigya → CSV → a blob signed by the SAS service) with its blank
 * credentials pointed at the local token and SAS service. Azurite stands in for Azure Blob storage.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import type { Dataflow } from '../../lib/dataflow/types.ts';
import { validateText } from '../../lib/dataflow/validate.ts';
import {
  AZURITE_ACCOUNT,
  AZURITE_KEY,
  azuriteExtra,
  LOCAL_SAS_CLIENT,
  LOCAL_SAS_CONTAINER,
} from '../../lib/local/azurite.ts';
import { generateAccounts } from '../../lib/local/gigya-accounts.ts';
import { type GigyaEmulator, startGigyaEmulator } from '../../lib/local/gigya-emulator.ts';
import { runLocal } from '../../lib/local/runner.ts';
import { defaultRegistry } from '../../lib/scripts/index.ts';
import { FIXTURES_DIR } from '../support/dataflows.ts';
import { useLocalEnvironment } from '../support/local.ts';

const ACCOUNTS = 40;
let emu: GigyaEmulator | undefined;
/** The UIDs of the full accounts the emulator starts with (the import adds lite accounts besides them). */
let seeded: string[] = [];
const local = useLocalEnvironment({
  secrets: { AZ_KEY: AZURITE_KEY, SAS_SECRET: LOCAL_SAS_CLIENT.clientSecret },
  extras: [
    async () => {
      const started = await startGigyaEmulator({ accounts: generateAccounts({ count: ACCOUNTS, seed: 11 }) });
      emu = started;
      seeded = [...started.store.accounts.keys()];
      return { endpoints: { gigya: started.url }, close: () => started.close() };
    },
    azuriteExtra(),
  ],
});

function container(name: string) {
  return new BlobServiceClient(
    `${local.env.config.endpoints.azureBlob}/${AZURITE_ACCOUNT}`,
    new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY),
  ).getContainerClient(name);
}

/** A public dataflow's text with some values replaced, validated with no error. */
function dataflowOf(file: string, replace: (text: string) => string) {
  const text = replace(readFileSync(join(FIXTURES_DIR, file), 'utf8'));
  const { dataflow, valid, problems } = validateText(text, defaultRegistry(), { file });
  expect(valid, JSON.stringify(problems.filter((p) => p.severity === 'error'))).toBe(true);
  return dataflow!;
}

/** A toolkit import template reading and writing container `name` (its {{placeholders}} filled in as the toolkit does). */
function toolkitImport(file: string, name: string) {
  return dataflowOf(file, (text) =>
    text
      .replaceAll('{{dataflowName}}', 'toolkit import')
      .replaceAll('{{accountName}}', AZURITE_ACCOUNT)
      .replaceAll('{{accountKey}}', '${secret:AZ_KEY}')
      .replaceAll('{{container}}', name)
      .replaceAll('{{readFileNameRegex}}', '.*\\\\.csv')
      .replaceAll('{{blobPrefix}}', 'import/'),
  );
}

/** Runs a dataflow on the file's services (with a tiny invocation budget when given); it must succeed. */
async function runSucceeding(df: Dataflow, invocationBudgetMs?: number) {
  const result = await runLocal(df, {
    services: local.env.services,
    registry: defaultRegistry(),
    ...(invocationBudgetMs === undefined ? {} : { invocationBudgetMs }),
  });
  expect(result.status, JSON.stringify(result.error)).toBe('succeeded');
  return result;
}

/** The toolkit lite account import reading and writing container `name`. */
const liteImport = (name: string) => toolkitImport('19-toolkit-azure-import-lite-account.json', name);

/** The rows of the result files an import (`importLiteAccount`, …) wrote into a container, by kind (Success, Error). */
async function resultRows(
  name: string,
  method = 'importLiteAccount',
): Promise<Record<string, Record<string, string>[]>> {
  const out: Record<string, Record<string, string>[]> = {};
  for await (const b of container(name).listBlobsFlat()) {
    const kind = new RegExp(`^(Success|Error)_${method}_\\d{14}\\.csv$`).exec(b.name)?.[1];
    if (!kind) continue;
    const text = (await container(name).getBlobClient(b.name).downloadToBuffer()).toString('utf8');
    // The template's file: backslash-escaped quotes, the Gigya response of each import in _response.
    out[kind] = [...(out[kind] ?? []), ...(parse(text, { columns: true, escape: '\\' }) as Record<string, string>[])];
  }
  return out;
}

/** The toolkit full account import reading and writing container `name`. */
const fullImport = (name: string) => toolkitImport('18-toolkit-azure-import-full-account.json', name);

/** Columns of the full import's CSV: dotted headers, as the toolkit's export writes them. */
const FULL_HEADER =
  'uid,loginIds.emails,loginIds.unverifiedEmails,loginIds.username,profile.firstName,profile.lastName,' +
  'subscriptions.newsletter.commercial.isSubscribed,internal.tier,customIdentifiers.crm,addresses.0.city';

/**
 * Seeds the accounts a full import of `p` finds (two to update, one holding a login email a new row asks for)
 * and returns its CSV: two updates, two new accounts, a UID Gigya does not know, a login email taken by another
 * account and a subscription flag that is not a boolean.
 */
function fullImportInput(p: string): string {
  (emu as GigyaEmulator).seed([
    {
      UID: `${p}-exist1`,
      profile: { firstName: 'Old1', city: 'Paris' },
      loginIDs: { emails: [`${p}-e1@example.com`] },
    },
    { UID: `${p}-exist2`, profile: { firstName: 'Old2' }, loginIDs: { emails: [`${p}-e2@example.com`] } },
    { UID: `${p}-other`, loginIDs: { emails: [`${p}-taken@example.com`], unverifiedEmails: [] } },
  ]);
  const rows = [
    `${p}-exist1,${p}-e1@example.com,,,Updated1,Known,TRUE,gold,C1,Lyon`,
    `${p}-exist2,${p}-e2@example.com,,user-${p}-2,Updated2,Known,FALSE,silver,C2,Nice`,
    `,${p}-n1@example.com,,,New1,Person,TRUE,bronze,C3,Lille`,
    `,${p}-n2@example.com,${p}-n2b@example.com,,New2,Person,false,bronze,C4,Metz`,
    `${p}-ghost,${p}-ghost@example.com,,,Ghost,Missing,TRUE,x,C5,Brest`,
    `,${p}-taken@example.com,,,Dup,Login,TRUE,x,C6,Caen`,
    `,${p}-bad@example.com,,,Bad,Bool,maybe,x,C7,Pau`,
  ];
  return `${[FULL_HEADER, ...rows].join('\n')}\n`;
}

/**
 * What a full import of `p` did, record by record, with `p` taken out so that two runs compare: the accounts of its
 * rows as Gigya holds them (by first name), and its result files' rows (success: first name and whether the UID is
 * that of its account; error: first name and code).
 */
async function fullImportOutcome(name: string, p: string) {
  const strip = (v: unknown) => JSON.parse(JSON.stringify(v).replaceAll(`${p}-`, 'P-'));
  const accounts: Record<string, unknown> = {};
  for (const a of (emu as GigyaEmulator).store.accounts.values()) {
    const emails = (a.loginIDs as { emails?: string[] } | undefined)?.emails ?? [];
    if (!emails.some((e) => e.startsWith(`${p}-`)) || a.UID === `${p}-other`) continue;
    const { profile, loginIDs, subscriptions, internal, customIdentifiers, addresses, hasFullAccount } = a;
    const uid = a.UID.startsWith(`${p}-`) ? a.UID : /^[0-9a-f]{32}$/.test(a.UID) ? 'generated' : a.UID;
    accounts[(profile as { firstName: string }).firstName] = strip({
      uid,
      ...{ profile, loginIDs, subscriptions, internal, customIdentifiers, addresses, hasFullAccount },
    });
  }
  const rows = await resultRows(name, 'importFullAccount');
  const success = (rows.Success ?? []).map((r) => {
    const profile = JSON.parse(r.profile ?? '{}') as { firstName: string };
    // _response is the reply of the last writer, setAccountInfo; uid the account importaccount wrote.
    const response = JSON.parse(r._response ?? '{}') as { errorCode?: number };
    const account = (emu as GigyaEmulator).store.accounts.get(r.uid ?? '');
    const ofRow = (account?.profile as { firstName?: string } | undefined)?.firstName === profile.firstName;
    return { name: profile.firstName, ofRow, errorCode: response.errorCode };
  });
  const errors = (rows.Error ?? []).map((r) => ({
    name: (JSON.parse(r.profile ?? '{}') as { firstName: string }).firstName,
    code: (JSON.parse(r._errorDetails ?? '{}') as { code: unknown }).code,
  }));
  const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
  return { accounts, success: success.sort(byName), errors: errors.sort(byName) };
}

describe('the Azure dataflows run locally', () => {
  it('the toolkit lite account import reads a CSV from Azure, imports every row and writes the success file back', async () => {
    // Prepare
    const imports = container('toolkit-imports');
    await imports.create();
    const rows = Array.from({ length: 12 }, (_, i) => [`lite${i}@example.com`, `First${i}`, `Last${i}`]);
    const csv = ['email,profile.firstName,profile.lastName', ...rows.map((r) => r.join(','))].join('\n');
    await imports.getBlockBlobClient('import/lite.csv').upload(`${csv}\n`, Buffer.byteLength(`${csv}\n`));
    const df = liteImport('toolkit-imports');

    // Act
    const result = await runLocal(df, { services: local.env.services, registry: defaultRegistry() });

    // Assess
    expect(result.status, JSON.stringify(result.error)).toBe('succeeded');
    const lite = [...(emu as GigyaEmulator).store.accounts.values()] as unknown as {
      UID: string;
      profile?: { email?: string; firstName?: string; lastName?: string };
    }[];
    for (const [email, first, last] of rows) {
      expect(lite.find((a) => a.profile?.email === email)?.profile).toMatchObject({ firstName: first, lastName: last });
    }
    const results = await resultRows('toolkit-imports');
    expect(results.Error).toBeUndefined();
    const delivered = results.Success ?? [];
    expect(delivered.map((r) => r.email).sort()).toEqual(rows.map((r) => r[0]).sort());
    for (const r of delivered) {
      const uid = (JSON.parse(r._response ?? '{}') as { UID?: string }).UID;
      expect(lite.find((a) => a.profile?.email === r.email)).toMatchObject({ UID: uid });
    }
  });

  it('"Azure - SAS" writes every account as a CSV to the blob the SAS service signed', async () => {
    // Prepare
    const sas = local.env.config.endpoints.azureSas ?? '';
    const df = dataflowOf('17-azure-sas.json', (text) => {
      const flow = JSON.parse(text) as { steps: { id: string; params: Record<string, unknown> }[] };
      const azure = flow.steps.find((s) => s.id === 'azure');
      Object.assign(azure?.params ?? {}, {
        clientId: LOCAL_SAS_CLIENT.clientId,
        clientSecret: '${secret:SAS_SECRET}',
        loginUrl: `${sas}/company.onmicrosoft.com`,
        authenticationUrl: sas,
      });
      return JSON.stringify(flow);
    });
    // Act
    const result = await runLocal(df, {
      services: local.env.services,
      registry: defaultRegistry(),
      input: { fullExtract: true },
    });

    // Assess
    expect(result.status, JSON.stringify(result.error)).toBe('succeeded');
    const signed = container(LOCAL_SAS_CONTAINER);
    const names: string[] = [];
    for await (const b of signed.listBlobsFlat({ prefix: 'testAzure' })) names.push(b.name);
    expect(names).toHaveLength(1);
    const delivered = parse((await signed.getBlobClient(names[0] ?? '').downloadToBuffer()).toString('utf8'), {
      columns: true,
    }) as Record<string, string>[];
    expect(delivered.map((r) => r.UID).sort()).toEqual([...seeded].sort());
    expect(Object.keys(delivered[0] ?? {})).toEqual(expect.arrayContaining(['UID', 'gender']));
    expect(Object.keys(delivered[0] ?? {})).not.toContain('profile');
    expect(result.job?.steps.azure?.files?.[0]?.name).toMatch(/sas-uploads\/testAzure\d{14}\.csv$/);
  });

  it('the toolkit lite import with a 1 ms invocation budget reads, imports and writes what a normal run does', async () => {
    // Prepare: three CSV files in each of two containers; one run per container.
    const files = [0, 1, 2].map((f) =>
      ['email,profile.firstName', ...[0, 1, 2, 3].map((i) => `budget${f}-${i}@example.com,F${f}${i}`)].join('\n'),
    );
    for (const name of ['budget-normal', 'budget-tiny']) {
      await container(name).create();
      for (const [i, csv] of files.entries()) {
        await container(name).getBlockBlobClient(`import/part${i}.csv`).upload(csv, Buffer.byteLength(csv));
      }
    }

    // Act
    await runSucceeding(liteImport('budget-normal'));
    const tiny = await runSucceeding(liteImport('budget-tiny'), 1);

    // Assess
    const keyOf = (r: Record<string, string>) =>
      `${r.email} ${(JSON.parse(r._response ?? '{}') as { UID?: string }).UID}`;
    const normalRows = ((await resultRows('budget-normal')).Success ?? []).map(keyOf).sort();
    const tinyRows = ((await resultRows('budget-tiny')).Success ?? []).map(keyOf).sort();
    expect(normalRows).toHaveLength(12);
    expect(tinyRows).toEqual(normalRows);
    expect(tiny.job?.steps['01. Read azure.blob']?.invocations).toBeGreaterThan(1);
  });

  it('the toolkit full account import creates and updates accounts, writes what importaccount refuses with setAccountInfo and routes misses and rejects to the error file', async () => {
    // Prepare
    const imports = container('full-import');
    await imports.create();
    const csv = fullImportInput('f');
    await imports.getBlockBlobClient('import/accounts.csv').upload(csv, Buffer.byteLength(csv));

    // Act
    const result = await runSucceeding(fullImport('full-import'));

    // Assess
    const { accounts, success, errors } = await fullImportOutcome('full-import', 'f');
    // What an account of a row holds: its profile and loginIDs, its subscription flag, and the three fields
    // setAccountInfo wrote after the import.
    const expected = (
      uid: string,
      profile: Record<string, string>,
      loginIDs: Record<string, unknown>,
      isSubscribed: boolean,
      [tier, crm, city]: string[],
    ) => ({
      uid,
      profile,
      loginIDs: { unverifiedEmails: [], username: null, ...loginIDs },
      subscriptions: { newsletter: { commercial: { email: { isSubscribed } } } },
      internal: { tier },
      customIdentifiers: { crm },
      addresses: [{ city }],
      hasFullAccount: true,
    });
    const person = (firstName: string) => ({ firstName, lastName: 'Person' });
    expect(accounts).toEqual({
      Updated1: expected(
        'P-exist1',
        { firstName: 'Updated1', lastName: 'Known', city: 'Paris' },
        { emails: ['P-e1@example.com'] },
        true,
        ['gold', 'C1', 'Lyon'],
      ),
      Updated2: expected(
        'P-exist2',
        { firstName: 'Updated2', lastName: 'Known' },
        { emails: ['P-e2@example.com'], username: 'user-P-2' },
        false,
        ['silver', 'C2', 'Nice'],
      ),
      New1: expected('generated', person('New1'), { emails: ['P-n1@example.com'] }, true, ['bronze', 'C3', 'Lille']),
      New2: expected(
        'generated',
        person('New2'),
        { emails: ['P-n2@example.com'], unverifiedEmails: ['P-n2b@example.com'] },
        false,
        ['bronze', 'C4', 'Metz'],
      ),
    });
    expect(success).toEqual(
      ['New1', 'New2', 'Updated1', 'Updated2'].map((name) => ({ name, ofRow: true, errorCode: 0 })),
    );
    expect(errors).toEqual([
      { name: 'Bad', code: 400009 },
      { name: 'Dup', code: 403043 },
      { name: 'Ghost', code: 'IDX_LOOKUP_NO_MATCH' },
    ]);
    const steps = result.job?.steps ?? {};
    expect(steps['10. gigya.importaccount']).toMatchObject({ recordsIn: 6, recordsOut: 4, recordsRejected: 2 });
    expect(steps['13. setAccountInfo']).toMatchObject({ recordsIn: 4, recordsOut: 4, recordsRejected: 0 });
  });

  it('the toolkit full account import with a 1 ms invocation budget has the outcome of a normal run', async () => {
    // Prepare
    for (const [name, p] of [
      ['full-normal', 'n'],
      ['full-tiny', 't'],
    ] as const) {
      await container(name).create();
      const csv = fullImportInput(p);
      await container(name).getBlockBlobClient('import/accounts.csv').upload(csv, Buffer.byteLength(csv));
    }
    const imports = () => (emu as GigyaEmulator).calls.get('accounts.importFullAccount') ?? 0;

    // Act
    await runSucceeding(fullImport('full-normal'));
    const before = imports();
    const tiny = await runSucceeding(fullImport('full-tiny'), 1);

    // Assess
    expect(imports() - before).toBe(6);
    expect(tiny.job?.steps['10. gigya.importaccount']?.invocations).toBeGreaterThan(1);
    const expected = await fullImportOutcome('full-normal', 'n');
    expect(Object.keys(expected.accounts)).toHaveLength(4);
    expect(await fullImportOutcome('full-tiny', 't')).toEqual(expected);
  });
});
