/**
 * Least privilege of the Azure steps once deployed: they reach Azure with the keys and client secrets their
 * params name, so their dataflow's role gets those secrets and its stage, and no S3 or other grant.
 */
import { describe, expect, it } from 'vitest';
import { render, statementsOfRole, synthStack, validDataflow } from '../support/infra.ts';

/** Azure Blob in, Azure SAS out, with one secret per credential. */
const AZURE = {
  id: 'azure',
  name: 'Azure round trip',
  steps: [
    {
      id: 'read',
      type: 'datasource.read.azure.blob',
      params: { accountName: 'acme', accountKey: '${secret:azure-in-key}', container: 'imports', afterRead: 'delete' },
      next: ['write'],
    },
    {
      id: 'write',
      type: 'datasource.write.azure.sas',
      params: {
        clientId: 'app',
        clientSecret: '${secret:azure-sas-secret}',
        loginUrl: 'https://login.microsoftonline.com/acme.onmicrosoft.com',
        authenticationUrl: 'https://sas.example.net',
        blobUri: '/api/sasstorage/create/',
      },
    },
  ],
};

describe('the Azure steps deployed', () => {
  it('let the role read the secrets they name and its own stage, and nothing in S3 besides', () => {
    // Prepare
    const { stack, template } = synthStack([validDataflow(AZURE)]);
    const role = stack.node.findAll().find((c) => c.node.path === 'Test/Dataflow-azure/Step/Role');
    if (!role) throw new Error('no step function role for the azure dataflow');
    const roleId = stack.resolve((role.node.defaultChild as unknown as { logicalId: string }).logicalId) as string;

    // Act
    const statements = statementsOfRole(template, roleId);
    const resources = (action: string) =>
      statements
        .filter((s) => [s.Action].flat().includes(action))
        .flatMap((s) => [s.Resource].flat().map((r) => String(render(r))));

    // Assess
    expect(resources('secretsmanager:GetSecretValue')).toEqual([
      'arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:identity-sync/azure-in-key-??????',
      'arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:identity-sync/azure-sas-secret-??????',
    ]);
    expect(resources('s3:GetObject')).not.toEqual([]);
    for (const action of ['s3:GetObject', 's3:PutObject', 's3:DeleteObject']) {
      for (const r of resources(action)) expect(r).toMatch(/Stage.*\/stage\/azure\//);
    }
  });
});
