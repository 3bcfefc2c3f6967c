/** Synth helpers for the infra tests: dataflows built in the test, a stack without bundling, rendered values. */
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { ScriptRegistry } from '../../lib/core/registry.ts';
import { readDataflow } from '../../lib/dataflow/load.ts';
import { formatProblem } from '../../lib/dataflow/problems.ts';
import type { Dataflow } from '../../lib/dataflow/types.ts';
import { validateDataflow } from '../../lib/dataflow/validate.ts';
import { IdentitySyncStack, type IdentitySyncStackProps } from '../../lib/infra/stack.ts';
import { defaultRegistry } from '../../lib/scripts/index.ts';

/** A dataflow from its JSON form, which must be valid against the registry. */
export function validDataflow(json: Record<string, unknown>, registry: ScriptRegistry = defaultRegistry()): Dataflow {
  const loaded = readDataflow(json);
  if (!loaded.dataflow) throw new Error(loaded.problems.map(formatProblem).join('\n'));
  const problems = [...loaded.problems, ...validateDataflow(loaded.dataflow, registry)].filter(
    (p) => p.severity === 'error',
  );
  if (problems.length) throw new Error(problems.map(formatProblem).join('\n'));
  return loaded.dataflow;
}

/**
 * Synthesizes a stack. Bundling is skipped (one test bundles for real): assets point at the sources. CDK's built-in
 * CloudFormation validation is off: it takes about 3 s of CPU per synth, and the CDK app's tests
 * (test/infra/app.test.ts) run it on the deployed app and check its report.
 */
export function synthStack(
  dataflows: readonly Dataflow[],
  props: Omit<IdentitySyncStackProps, 'dataflows'> = {},
): { app: App; stack: IdentitySyncStack; template: Template } {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
  const stack = new IdentitySyncStack(app, 'Test', { dataflows, now: new Date('2026-01-01T00:00:00Z'), ...props });
  return { app, stack, template: Template.fromStack(stack) };
}

/** Fake values for CloudFormation references, so a rendered string can be read as deployed. */
export function render(value: unknown, refs: (name: string) => string = (n) => `<${n}>`): unknown {
  if (Array.isArray(value)) return value.map((v) => render(v, refs));
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if ('Fn::Join' in o) {
      const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
      return parts.map((p) => String(render(p, refs))).join(sep);
    }
    if ('Ref' in o) return refs(String(o.Ref));
    if ('Fn::GetAtt' in o) {
      const [res, attr] = o['Fn::GetAtt'] as [string, string];
      return refs(`${res}.${attr}`);
    }
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, render(v, refs)]));
  }
  return value;
}

/** Resources of a type, by logical id. */
export function resourcesOf(template: Template, type: string): Record<string, { Properties: Record<string, unknown> }> {
  return template.findResources(type) as Record<string, { Properties: Record<string, unknown> }>;
}

/** Every statement of every IAM policy attached to a role (by the role's logical id). */
export function statementsOfRole(template: Template, roleLogicalId: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const policy of Object.values(resourcesOf(template, 'AWS::IAM::Policy'))) {
    const roles = (policy.Properties.Roles as { Ref: string }[]).map((r) => r.Ref);
    if (!roles.includes(roleLogicalId)) continue;
    out.push(...((policy.Properties.PolicyDocument as { Statement: Record<string, unknown>[] }).Statement ?? []));
  }
  return out;
}

/** The SFTP login of the shipped Eloqua dataflows' SFTP steps, as a deployment sets it in cdk.json. */
const ELOQUA_SFTP = { host: 'sftp.example.com', username: 'gigya', password: '${secret:ELOQUA_SFTP_PASSWORD}' };
/** The Bulk API flows' Eloqua login, on their Eloqua step. */
const ELOQUA_BULK = { eloqua: { company: 'ExampleCo', username: 'gigya', password: '${secret:ELOQUA_PASSWORD}' } };

/** What a deployment sets for the shipped Eloqua dataflows (README: identity-sync:params). */
export const ELOQUA_DEPLOYMENT_PARAMS = {
  'eloqua-outbound': { '*': ELOQUA_SFTP },
  'eloqua-inbound': { '*': ELOQUA_SFTP },
  'eloqua-bulk-outbound': { ...ELOQUA_BULK, 'errors to sftp': ELOQUA_SFTP },
  'eloqua-bulk-inbound': { ...ELOQUA_BULK, 'errors to sftp': ELOQUA_SFTP },
};

/** The logical id of the resource under a construct path of a stack synthesized as `Test` (see synthStack). */
export function logicalIdOf(of: IdentitySyncStack, path: string): string {
  const found = of.node.findAll().find((c) => c.node.path === `Test/${path}`);
  if (!found) throw new Error(`no construct at ${path}`);
  const child = (found.node.defaultChild ?? found) as unknown as { logicalId: string };
  return of.resolve(child.logicalId) as string;
}
