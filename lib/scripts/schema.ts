/**
 * Generated artefacts of the registry: the JSON Schema for dataflow files (editor completion of step types and
 * params) and the script reference in Markdown. Both are checked in and a test fails when they are stale.
 */

import { objectSchema, type ParamSpec } from '../core/params.ts';
import type { ScriptRegistry } from '../core/registry.ts';
import type { AnyScriptDefinition } from '../core/script.ts';
import { IDENTITYSYNC_TYPES } from '../dataflow/catalog.ts';

/** The JSON Schema of a dataflow file. */
export function dataflowJsonSchema(registry: ScriptRegistry): Record<string, unknown> {
  const scripts = registry.list();
  const implemented = new Set(scripts.map((s) => s.type));
  const stepVariants = scripts.map((s) => ({
    if: { properties: { type: { const: s.type } }, required: ['type'] },
    // biome-ignore lint/suspicious/noThenProperty: `then` is JSON Schema's conditional keyword, not a thenable.
    then: {
      properties: { params: { ...objectSchema(s.params), description: `Params of ${s.type}: ${s.summary}` } },
    },
  }));
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: 'https://github.com/identity-sync/identity-sync/schema/dataflow.schema.json',
    title: 'identity-sync dataflow',
    description: 'An IdentitySync-compatible dataflow: a directed graph of steps plus its schedules.',
    type: 'object',
    required: ['name', 'steps'],
    properties: {
      id: { type: 'string', description: 'Dataflow id; files without one take the file name.' },
      name: { type: 'string', description: 'Title of the dataflow.' },
      description: { type: 'string', description: 'Free text, e.g. "account > rename > dsv > sftp".' },
      lastRuntime: { type: 'string', description: 'Seeds the delta watermark when no state is stored (ISO-8601).' },
      steps: { type: 'array', minItems: 1, items: { $ref: '#/$defs/step' } },
      schedules: { type: 'array', items: { $ref: '#/$defs/schedule' } },
    },
    additionalProperties: true,
    $defs: {
      step: {
        type: 'object',
        required: ['id', 'type'],
        properties: {
          id: { type: 'string', description: 'Unique step id; spaces and punctuation allowed.' },
          type: {
            description: 'Script type.',
            anyOf: [
              { enum: [...implemented], description: 'Implemented script types.' },
              {
                enum: [...IDENTITYSYNC_TYPES].filter((t) => !implemented.has(t)).sort(),
                description: 'IdentitySync types not implemented yet (they fail validation).',
              },
            ],
          },
          params: { type: 'object', description: 'Script params.' },
          next: { type: 'array', items: { type: 'string' }, description: 'Steps that receive this step’s output.' },
          error: { type: 'array', items: { type: 'string' }, description: 'Steps that receive rejected records.' },
        },
        allOf: stepVariants,
      },
      schedule: {
        type: 'object',
        required: ['name', 'frequencyType'],
        properties: {
          name: { type: 'string', description: 'Unique schedule name.' },
          frequencyType: { enum: ['once', 'minute', 'hour', 'day', 'week', 'month'], description: 'Period unit.' },
          frequencyInterval: { type: 'integer', minimum: 1, description: 'Units between runs (not for once).' },
          nextJobStartTime: { type: 'string', description: 'First start, UTC: "yyyy-MM-dd HH:mm:ss" or ISO-8601.' },
          fullExtract: { type: 'boolean', description: 'Ignore the delta watermark and read everything.' },
          limit: { type: ['integer', 'null'], minimum: 1, description: 'Maximum records per run.' },
          logLevel: { enum: ['error', 'info', 'debug'], description: 'Job trace level.' },
          successEmailNotification: { type: 'string', description: 'Comma-separated emails notified on success.' },
          failureEmailNotification: { type: 'string', description: 'Comma-separated emails notified on failure.' },
          enabled: { type: 'boolean', description: 'The schedule is active.', default: true },
        },
      },
    },
  };
}

function specLine(name: string, spec: ParamSpec, depth: number): string[] {
  const pad = '  '.repeat(depth);
  const bits = [spec.type === 'array' ? `${spec.items.type}[]` : spec.type];
  if (spec.required) bits.push('required');
  if (spec.default !== undefined) bits.push(`default ${JSON.stringify(spec.default)}`);
  if (spec.type === 'string' && spec.enum) bits.push(`one of ${spec.enum.map((e) => `\`${e}\``).join(', ')}`);
  if (spec.type === 'string' && spec.secret) bits.push('secret: `${secret:NAME}`');
  const lines = [`${pad}- \`${name}\` (${bits.join(', ')}): ${spec.description}`];
  const props =
    spec.type === 'object'
      ? spec.properties
      : spec.type === 'array' && spec.items.type === 'object'
        ? spec.items.properties
        : undefined;
  if (props) for (const [k, s] of Object.entries(props)) lines.push(...specLine(k, s, depth + 1));
  return lines;
}

/** The script reference in Markdown. */
export function scriptsMarkdown(registry: ScriptRegistry): string {
  const out = [
    '# Script reference',
    '',
    'Generated from the script registry by `idx schema --write`; do not edit by hand.',
    '',
    "Deployed, a step's function may read the Secrets Manager secrets its params name (`${secret:NAME}`); what a " +
      'script reaches in AWS beyond them is listed under **Reaches**, and granted to the function of every ' +
      'dataflow that uses it.',
    '',
    '| type | consumes | produces | summary |',
    '| --- | --- | --- | --- |',
  ];
  for (const s of registry.list())
    out.push(`| [\`${s.type}\`](#${s.type.replace(/\./g, '')}) | ${s.consumes} | ${s.produces} | ${s.summary} |`);
  for (const s of registry.list()) {
    out.push('', `## ${s.type}`, '', s.summary, '');
    if (s.description) out.push(s.description, '');
    out.push(
      `Consumes **${s.consumes}**, produces **${s.produces}**.${s.expands ? ' May emit more records than it consumes.' : ''}${s.continues ? ' Continues across invocations (the state machine loops it).' : ''}${s.readsOnce ? ' Reads each file once, so a formatter or file transformer (gunzip, unzip, decrypt) right before it streams its files in, in the same Task, without staging them.' : ''}${laneNote(s)}`,
      '',
    );
    if (s.reaches) out.push(`**Reaches**: ${s.reaches.summary}`, '');
    const entries = Object.entries(s.params);
    if (entries.length === 0) out.push('No params.');
    else for (const [k, spec] of entries) out.push(...specLine(k, spec, 0));
  }
  return `${out.join('\n')}\n`;
}

/** What the docs say about a script's parallel lanes (see lib/engine/lanes/). */
function laneNote(s: AnyScriptDefinition): string {
  if (s.lanes?.records) return ' Can run in parallel lanes: it keeps no state between records.';
  if (s.lanes?.split) return ' Can run in parallel lanes where its params allow: each file is cut into chunks of rows.';
  if (s.lanes?.fragments)
    return ' Can run in parallel lanes where its params allow: the file is written from fragments formatted apart.';
  return '';
}
