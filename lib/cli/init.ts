/** `idx init`: a new dataflow file from a template (integration × direction), ready to validate and edit. */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { validateDeployableFile } from '../compiler/deployable.ts';
import { IdxError } from '../core/errors.ts';
import { formatProblem } from '../dataflow/problems.ts';
import { copyDataflow, dataflowText, listTemplates, NEW_ID } from '../dataflow/templates.ts';
import { defaultRegistry } from '../scripts/index.ts';
import { noTemplate, SHIPPED_DATAFLOWS, schemaReference } from './console-backend.ts';
import { DATAFLOWS_DIR, EXIT, usage } from './dataflow-commands.ts';
import { table } from './format.ts';
import type { Flags } from './help.ts';

/** Flags of `idx init`. */
export const INIT_FLAGS = {
  integration: {
    type: 'string',
    value: 'NAME',
    description: "the template's integration (`idx init --list` shows them)",
  },
  direction: { type: 'string', value: 'DIR', description: 'outbound (from Gigya), inbound (to Gigya) or file' },
  name: { type: 'string', value: 'TEXT', description: "the dataflow's name (default: the template's)" },
  out: { type: 'string', value: 'FILE', description: `where to write it (default ${DATAFLOWS_DIR}/<id>.json)` },
  list: { type: 'boolean', description: 'list the templates and exit' },
} as const satisfies Flags;

/** `idx init <id> --integration NAME --direction DIR [--name TEXT] [--out FILE]` and `idx init --list`. */
export function initCommand(args: string[], templatesDir = SHIPPED_DATAFLOWS): number {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: INIT_FLAGS });
  const templates = listTemplates(templatesDir);
  if (values.list) {
    process.stdout.write(
      `${table(
        ['integration', 'direction', 'outline', 'from'],
        templates.map((t) => [t.integration, t.direction, t.outline, t.sourceId]),
      )}\n`,
    );
    return EXIT.ok;
  }
  const id = positionals[0];
  if (!id || !values.integration || !values.direction)
    throw usage(
      'idx init <id> --integration NAME --direction outbound|inbound|file [--name TEXT] [--out FILE] (idx init --list shows the templates)',
    );
  if (!NEW_ID.test(id))
    throw new IdxError('IDX_USAGE', 'the new dataflow id is not one a file can be named after', {
      expected: `letters, digits, - and _ (${NEW_ID.source})`,
      received: JSON.stringify(id),
    });
  const template = templates.find((t) => t.integration === values.integration && t.direction === values.direction);
  if (!template) throw noTemplate({ integration: values.integration, direction: values.direction as never }, templates);
  const out = values.out ?? join(DATAFLOWS_DIR, `${id}.json`);
  if (existsSync(out))
    throw new IdxError('IDX_DATAFLOW_EXISTS', `${out} already exists`, {
      file: out,
      expected: 'a file name that is not taken (--out FILE)',
      received: JSON.stringify(out),
    });
  const schema = schemaReference(dirname(out));
  const source = JSON.parse(readFileSync(template.file, 'utf8')) as Record<string, unknown>;
  const json = copyDataflow(source, { id, ...(values.name ? { name: values.name } : {}), schema });
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, dataflowText(json), { flag: 'wx' });
  const result = validateDeployableFile(out, defaultRegistry());
  for (const p of result.problems) process.stderr.write(`${formatProblem(p)}\n`);
  process.stdout.write(
    `wrote ${out} from the ${template.integration} ${template.direction} template (${template.outline}); its schedules are disabled\n` +
      `check it with \`idx validate ${out}\`, run it with \`idx test ${out}\`\n`,
  );
  return result.valid ? EXIT.ok : EXIT.invalid;
}
