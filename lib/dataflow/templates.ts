/**
 * Dataflow templates, as IdentitySync's "Create Data Flow" offers them: an integration and a direction, each
 * backed by a shipped dataflow (the files of `dataflows/`), so a template is always a dataflow that validates and
 * runs. `idx init` and the console create new dataflows from them.
 *
 * A template's direction is read from its steps: `outbound` when it reads Gigya (accounts, audit, DS),
 * `inbound` when it writes Gigya, `file` when it only moves files between stores. Its integration is the
 * dataflow id without the direction word (`eloqua-outbound` → `eloqua`); an id without one is named after the
 * platform its first step reads (`sample-s3-csv` → `amazon-s3`). Decision: the shipped dataflows carry no
 * template field of their own, since a dataflow must stay an IdentitySync object that loads unchanged.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { entriesOf } from './graph.ts';
import { readDataflow } from './load.ts';
import type { Dataflow } from './types.ts';

/** Which way a template moves data, seen from Gigya. */
export type TemplateDirection = 'outbound' | 'inbound' | 'file';

/** One template: a shipped dataflow, named by integration and direction. */
export interface DataflowTemplate {
  readonly integration: string;
  readonly direction: TemplateDirection;
  /** The shipped dataflow's id, name and outline of steps. */
  readonly sourceId: string;
  readonly name: string;
  readonly outline: string;
  /** The shipped file the template copies. */
  readonly file: string;
}

/**
 * The outline of a dataflow's steps as IdentitySync's templates describe it: `account > rename > dsv > sftp`, the
 * success path from the entry (first branch first), and the steps off it in parentheses.
 */
export function outlineOf(dataflow: Pick<Dataflow, 'steps'>): string {
  const byId = new Map(dataflow.steps.map((s) => [s.id, s]));
  const seen = new Set<string>();
  const order: string[] = [];
  // Follow the success path from the entry, first branch first; then every step not on it, in file order.
  let at = entriesOf(dataflow.steps)[0];
  while (at !== undefined && !seen.has(at) && byId.has(at)) {
    seen.add(at);
    order.push(at);
    at = byId.get(at)?.next[0];
  }
  const off = dataflow.steps.filter((s) => !seen.has(s.id)).map((s) => s.id);
  return `${order.join(' > ')}${off.length ? ` (+ ${off.join(', ')})` : ''}`;
}

const DIRECTION_WORDS = /(^|-)(outbound|inbound|export|import)(-|$)/;

/** The direction of a dataflow, read from its steps. */
export function directionOf(dataflow: Pick<Dataflow, 'steps'>): TemplateDirection {
  if (dataflow.steps.some((s) => s.type.startsWith('datasource.read.gigya.'))) return 'outbound';
  if (dataflow.steps.some((s) => s.type.startsWith('datasource.write.gigya.'))) return 'inbound';
  return 'file';
}

/** The integration a dataflow is a template of (see the file header). */
export function integrationOf(dataflow: Pick<Dataflow, 'id' | 'steps'>): string {
  const id = dataflow.id.toLowerCase();
  if (DIRECTION_WORDS.test(id)) return id.replace(DIRECTION_WORDS, '-').replace(/^-+|-+$/g, '') || 'gigya';
  const entry = dataflow.steps.find((s) => s.id === entriesOf(dataflow.steps)[0]) ?? dataflow.steps[0];
  const platform = entry?.type.replace(/^datasource\.read\./, '').replace(/\./g, '-');
  return platform || id;
}

/** The templates: every dataflow file of `dir` that loads, sorted by integration then direction. */
export function listTemplates(dir: string): DataflowTemplate[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((f) => f.toLowerCase().endsWith('.json'));
  } catch {
    return [];
  }
  const out: DataflowTemplate[] = [];
  for (const name of names.sort()) {
    const file = join(dir, name);
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(file, 'utf8'));
    } catch {
      continue;
    }
    const { dataflow } = readDataflow(json, { file });
    if (!dataflow) continue;
    out.push({
      integration: integrationOf(dataflow),
      direction: directionOf(dataflow),
      sourceId: dataflow.id,
      name: dataflow.name,
      outline: outlineOf(dataflow),
      file,
    });
  }
  return out.sort((a, b) => a.integration.localeCompare(b.integration) || a.direction.localeCompare(b.direction));
}

/** The ids `idx init` and the console's Create accept: they name a file, so nothing that could leave its folder. */
export const NEW_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

/**
 * A new dataflow object from a template: the shipped JSON with the new id and name, a `$schema` line first (so
 * editors complete and check it), and every schedule disabled, since a copy must not start running on its
 * template's timetable before someone decides it should.
 */
export function instantiateTemplate(
  template: Pick<DataflowTemplate, 'file'>,
  options: { id: string; name?: string; schema?: string },
): Record<string, unknown> {
  const source = JSON.parse(readFileSync(template.file, 'utf8')) as Record<string, unknown>;
  return copyDataflow(source, options);
}

/**
 * A copy of a dataflow object under a new id (and name), schedules disabled and server-kept fields
 * (`lastRuntime`, IdentitySync's `createTime`, `version`, …) left behind. Every other field stays as it was.
 */
export function copyDataflow(
  source: Readonly<Record<string, unknown>>,
  options: { id: string; name?: string; schema?: string },
): Record<string, unknown> {
  const {
    $schema: _schema,
    id: _id,
    name,
    lastRuntime: _last,
    version: _v,
    createTime: _c,
    updateTime: _u,
    ...rest
  } = source;
  const schedules = Array.isArray(rest.schedules)
    ? rest.schedules.map((s) =>
        typeof s === 'object' && s !== null && !Array.isArray(s)
          ? { ...(s as Record<string, unknown>), enabled: false }
          : s,
      )
    : rest.schedules;
  return {
    ...(options.schema === undefined ? {} : { $schema: options.schema }),
    id: options.id,
    name: options.name ?? (typeof name === 'string' ? name : options.id),
    ...rest,
    ...(schedules === undefined ? {} : { schedules }),
  };
}

/** Text of a dataflow file as this project writes them: two-space JSON with a final newline. */
export function dataflowText(dataflow: unknown): string {
  return `${JSON.stringify(dataflow, null, 2)}\n`;
}
