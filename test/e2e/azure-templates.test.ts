/**
 * The public dataflows that use Azure, run locally through the compiled state machine: the SAP toolkit's lite
 * account import (Azure Blob → Gigya → result files on Azure Blob) with its {{placeholders}} filled in as the
 * toolkit fills them, and "Azure - SAS" (Gigya → CSV → a blob signed by the SAS service) with its blank
 * credentials pointed at the local token and SAS service. Azurite stands in for Azure Blob storage.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
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

/** The toolkit lite import reading and writing container `name` (its {{placeholders}} filled in as the toolkit does). */
function liteImport(name: string) {
  return dataflowOf('19-toolkit-azure-import-lite-account.json', (text) =>
    text
      .replaceAll('{{dataflowName}}', 'lite import')
      .replaceAll('{{accountName}}', AZURITE_ACCOUNT)
      .replaceAll('{{accountKey}}', '${secret:AZ_KEY}')
      .replaceAll('{{container}}', name)
      .replaceAll('{{readFileNameRegex}}', '.*\\\\.csv')
      .replaceAll('{{blobPrefix}}', 'import/'),
  );
}

/** The rows of the result files a lite import wrote into a container, by kind (Success, Error). */
async function resultRows(name: string): Promise<Record<string, Record<string, string>[]>> {
  const out: Record<string, Record<string, string>[]> = {};
  for await (const b of container(name).listBlobsFlat()) {
    const kind = /^(Success|Error)_importLiteAccount_\d{14}\.csv$/.exec(b.name)?.[1];
    if (!kind) continue;
    const text = (await container(name).getBlobClient(b.name).downloadToBuffer()).toString('utf8');
    // The template's file: backslash-escaped quotes, the Gigya response of each import in _response.
    out[kind] = [...(out[kind] ?? []), ...(parse(text, { columns: true, escape: '\\' }) as Record<string, string>[])];
  }
  return out;
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
    const normal = await runLocal(liteImport('budget-normal'), {
      services: local.env.services,
      registry: defaultRegistry(),
    });
    const tiny = await runLocal(liteImport('budget-tiny'), {
      services: local.env.services,
      registry: defaultRegistry(),
      invocationBudgetMs: 1,
    });

    // Assess
    expect(normal.status, JSON.stringify(normal.error)).toBe('succeeded');
    expect(tiny.status, JSON.stringify(tiny.error)).toBe('succeeded');
    const keyOf = (r: Record<string, string>) =>
      `${r.email} ${(JSON.parse(r._response ?? '{}') as { UID?: string }).UID}`;
    const normalRows = ((await resultRows('budget-normal')).Success ?? []).map(keyOf).sort();
    const tinyRows = ((await resultRows('budget-tiny')).Success ?? []).map(keyOf).sort();
    expect(normalRows).toHaveLength(12);
    expect(tinyRows).toEqual(normalRows);
    expect(tiny.job?.steps['01. Read azure.blob']?.invocations).toBeGreaterThan(1);
  });
});
