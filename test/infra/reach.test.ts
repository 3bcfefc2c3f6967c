import type { CfnElement } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { uploadObject } from '../../lib/connectors/s3.ts';
import { hasPlaceholder, literalPrefix } from '../../lib/core/access.ts';
import type { ScriptRegistry } from '../../lib/core/registry.ts';
import { defineScript } from '../../lib/core/script.ts';
import type { IdentitySyncStack } from '../../lib/infra/stack.ts';
import { defaultRegistry } from '../../lib/scripts/index.ts';
import { render, statementsOfRole, synthStack, validDataflow } from '../support/infra.ts';
import { GAMMA } from './dataflows.ts';

/** A script the shipped registry does not have: it keeps a copy of every incoming file in an archive bucket. */
const archive = defineScript({
  type: 'datasource.write.archive',
  summary: 'Keeps a copy of every incoming file under a folder of an archive bucket.',
  consumes: 'files',
  produces: 'nothing',
  params: {
    archiveBucket: { type: 'string', required: true, description: 'The archive bucket.' },
    folder: { type: 'string', default: 'archive/', description: 'The key folder the copies go to.' },
  },
  reaches: {
    summary: "S3, with the function's role: puts objects under folder of archiveBucket.",
    of: (params) =>
      hasPlaceholder(params.archiveBucket)
        ? [
            {
              kind: 'unresolved',
              resource: 'archive-bucket',
              param: 'archiveBucket',
              reason: 'the archive bucket is only known at run time',
              remedy: 'grant the role access to it yourself',
            },
          ]
        : [
            {
              kind: 's3',
              bucket: params.archiveBucket,
              prefix: literalPrefix(params.folder),
              read: false,
              write: true,
              remove: false,
            },
          ],
  },
  create: (params, ctx) => ({
    async file(file, out) {
      const key = `${params.folder}${file.name}`;
      await uploadObject({
        client: ctx.services.s3,
        bucket: params.archiveBucket,
        key,
        body: file.open(),
        serverSideEncryption: 'AES256',
        signal: ctx.signal,
      });
      out.delivered(`s3://${params.archiveBucket}/${key}`, file.size);
    },
  }),
});

/** A dataflow that downloads files over SFTP and archives them with the script above. */
function archiving(archiveBucket: string, registry: ScriptRegistry) {
  return validDataflow(
    {
      id: 'archiving',
      name: 'Archiving',
      steps: [
        { id: 'download', type: 'datasource.read.sftp', params: { remotePath: 'outbox' }, next: ['archive'] },
        { id: 'archive', type: archive.type, params: { archiveBucket, folder: 'kept/${now:yyyy}/' } },
      ],
    },
    registry,
  );
}

/** The logical id of a dataflow's step function role. */
function roleOf(stack: IdentitySyncStack, dataflowId: string): string {
  const role = stack.deployed.get(dataflowId)?.stepFunction.role;
  if (!role) throw new Error(`no step function role for ${dataflowId}`);
  return stack.resolve((role.node.defaultChild as CfnElement).logicalId) as string;
}

/** The rendered resources of a role's statements that allow an action. */
function resourcesFor(template: Template, roleId: string, action: string): string[] {
  return statementsOfRole(template, roleId)
    .filter((s) => [s.Action].flat().includes(action))
    .flatMap((s) => [s.Resource].flat().map((r) => String(render(r))));
}

describe('what a script declares it reaches', () => {
  it("grants a new script's declared S3 folder to the role of the dataflow that uses it, and to no other", () => {
    // Prepare
    const registry = defaultRegistry().clone().register(archive);
    const dataflows = [archiving('vault', registry), validDataflow(GAMMA, registry)];

    // Act
    const { stack, template } = synthStack(dataflows, { registry });

    // Assess
    const role = roleOf(stack, 'archiving');
    expect(resourcesFor(template, role, 's3:PutObject')).toContain('arn:<AWS::Partition>:s3:::vault/kept/*');
    expect(resourcesFor(template, role, 's3:AbortMultipartUpload')).toContain('arn:<AWS::Partition>:s3:::vault/kept/*');
    expect(resourcesFor(template, role, 's3:DeleteObject')).not.toContain('arn:<AWS::Partition>:s3:::vault/kept/*');
    expect(JSON.stringify(statementsOfRole(template, roleOf(stack, 'gamma')))).not.toContain('vault');
  });

  it('grants nothing of the kind when the same script declares nothing', () => {
    // Prepare
    const registry = defaultRegistry().with({ ...archive, reaches: undefined });

    // Act
    const { stack, template } = synthStack([archiving('vault', registry)], { registry });

    // Assess
    expect(JSON.stringify(statementsOfRole(template, roleOf(stack, 'archiving')))).not.toContain('vault');
  });

  it('warns, with the step and its remedy, about a resource the declaration cannot name before the job runs', () => {
    // Prepare
    const registry = defaultRegistry().with(archive);

    // Act
    const { stack, template } = synthStack([archiving('vault-${dataflowId}', registry)], { registry });

    // Assess
    const warnings = stack.node
      .findAll()
      .flatMap((c) => c.node.metadata)
      .filter((m) => m.type === 'aws:cdk:warning')
      .map((m) => String(m.data));
    expect(warnings).toContain(
      'dataflow "archiving", step "archive": the archive bucket is only known at run time, so its function is ' +
        'granted no access to it; grant the role access to it yourself [ack: identity-sync:archive-bucket-unresolved]',
    );
    expect(JSON.stringify(statementsOfRole(template, roleOf(stack, 'archiving')))).not.toContain('vault');
  });
});
