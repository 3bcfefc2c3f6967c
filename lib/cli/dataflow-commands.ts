/** CLI commands that work on dataflow files alone: validate, compile, graph, scripts, schema. */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { compile } from '../compiler/compile.ts';
import { validateDeployableFile } from '../compiler/deployable.ts';
import { errorCodesMarkdown } from '../core/error-codes.ts';
import { IdxError } from '../core/errors.ts';
import { loadDataflowFile } from '../dataflow/load.ts';
import { toMermaid } from '../dataflow/mermaid.ts';
import { formatProblem, type Problem } from '../dataflow/problems.ts';
import type { Dataflow } from '../dataflow/types.ts';
import { defaultRegistry } from '../scripts/index.ts';
import { dataflowJsonSchema, scriptsMarkdown } from '../scripts/schema.ts';
import { table } from './format.ts';
import type { Flags } from './help.ts';

/** Exit codes: 0 ok, 1 failed run or operation, 2 invalid input (dataflow or arguments). */
export const EXIT = { ok: 0, failed: 1, invalid: 2 } as const;

/** Where a dataflow named by its id is looked for. */
export const DATAFLOWS_DIR = 'dataflows';

/**
 * A dataflow argument as a file: a path that exists, or the id of a dataflow in `dataflows/`. Anything else fails
 * with `IDX_FILE_NOT_FOUND` saying where it looked, rather than as an invalid dataflow.
 */
export function dataflowFileOf(arg: string, dir = DATAFLOWS_DIR): string {
  if (existsSync(arg)) return arg;
  const maybeId = !/[\\/]/.test(arg) && !arg.toLowerCase().endsWith('.json');
  if (maybeId && existsSync(dir)) {
    for (const name of readdirSync(dir)
      .filter((f) => f.toLowerCase().endsWith('.json'))
      .sort()) {
      const file = join(dir, name);
      if (loadDataflowFile(file).dataflow?.id === arg) return file;
    }
  }
  throw new IdxError(
    'IDX_FILE_NOT_FOUND',
    `no dataflow file ${arg}${maybeId ? ` and no dataflow with id "${arg}" in ${dir}/` : ''}`,
    {
      expected: `a dataflow file, or the id of a dataflow in ${dir}/`,
      received: JSON.stringify(arg),
    },
  );
}

/**
 * A dataflow argument as an id: read from the file when it names one, else taken as the id itself (of a deployed
 * dataflow, which need not be in this checkout). A `.json` name that does not exist is an error, not an id.
 */
export function dataflowIdOf(arg: string): string {
  if (!existsSync(arg) && !arg.toLowerCase().endsWith('.json')) return arg;
  const file = dataflowFileOf(arg);
  const loaded = loadDataflowFile(file);
  if (!loaded.dataflow) throw new IdxError('IDX_DATAFLOW_INVALID', `${file} cannot be read as a dataflow`, { file });
  return loaded.dataflow.id;
}

/** Loads and validates one dataflow; prints problems and throws an invalid-dataflow error when it has errors. */
export function loadValid(file: string): Dataflow {
  const result = validateDeployableFile(file, defaultRegistry());
  for (const p of result.problems) process.stderr.write(`${formatProblem(p)}\n`);
  if (!result.valid || !result.dataflow) {
    throw new IdxError(
      'IDX_DATAFLOW_INVALID',
      `${file} is not a valid dataflow (${result.problems.filter((p) => p.severity === 'error').length} error(s) above)`,
      {
        file,
      },
    );
  }
  return result.dataflow;
}

/** Flags of `idx validate`. */
export const VALIDATE_FLAGS = {
  json: { type: 'boolean', description: 'print the problems as a JSON array instead of lines' },
} as const satisfies Flags;

/** `idx validate <file...> [--json]` */
export function validateCommand(args: string[]): number {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: VALIDATE_FLAGS });
  if (positionals.length === 0) throw usage('idx validate <file...> [--json]');
  const registry = defaultRegistry();
  const all: Problem[] = [];
  let invalid = 0;
  for (const file of positionals) {
    const r = validateDeployableFile(file, registry);
    all.push(...r.problems);
    if (!r.valid) invalid++;
    if (!values.json) {
      for (const p of r.problems) process.stdout.write(`${formatProblem(p)}\n`);
      process.stdout.write(
        `${r.valid ? '✓' : '✗'} ${file}: ${r.valid ? 'valid' : 'invalid'}${r.problems.length ? ` (${r.problems.length} problem(s))` : ''}\n`,
      );
    }
  }
  if (values.json) process.stdout.write(`${JSON.stringify(all, null, 2)}\n`);
  return invalid ? EXIT.invalid : EXIT.ok;
}

/** Flags of `idx compile`. */
export const COMPILE_FLAGS = {
  out: { type: 'string', value: 'FILE', description: 'write the definition to FILE instead of printing it' },
} as const satisfies Flags;

/** `idx compile <file> [--out f]` */
export function compileCommand(args: string[]): number {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: COMPILE_FLAGS });
  const file = positionals[0];
  if (!file) throw usage('idx compile <file> [--out file.asl.json]');
  const asl = `${JSON.stringify(compile(loadValid(file), defaultRegistry()), null, 2)}\n`;
  if (values.out) {
    mkdirSync(dirname(values.out), { recursive: true });
    writeFileSync(values.out, asl);
    process.stdout.write(`wrote ${values.out}\n`);
  } else process.stdout.write(asl);
  return EXIT.ok;
}

/** `idx graph <file>` (Mermaid) */
export function graphCommand(args: string[]): number {
  const { positionals } = parseArgs({ args, allowPositionals: true, options: {} });
  const file = positionals[0];
  if (!file) throw usage('idx graph <file>');
  // The graph is drawn from the structure alone, so a dataflow with unimplemented steps can still be seen.
  const { dataflow, problems } = loadDataflowFile(file);
  if (!dataflow) {
    for (const p of problems) process.stderr.write(`${formatProblem(p)}\n`);
    throw new IdxError('IDX_DATAFLOW_INVALID', `${file} cannot be read as a dataflow`, { file });
  }
  process.stdout.write(toMermaid(dataflow));
  return EXIT.ok;
}

/** Flags of `idx scripts`. */
export const SCRIPTS_FLAGS = {
  json: { type: 'boolean', description: 'print every script with its params as JSON' },
} as const satisfies Flags;

/** `idx scripts [--json]` */
export function scriptsCommand(args: string[]): number {
  const { values } = parseArgs({ args, options: SCRIPTS_FLAGS });
  const list = defaultRegistry().list();
  if (values.json) {
    const out = list.map((s) => ({
      type: s.type,
      summary: s.summary,
      consumes: s.consumes,
      produces: s.produces,
      params: s.params,
    }));
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  } else {
    process.stdout.write(
      `${table(
        ['type', 'consumes', 'produces', 'summary'],
        list.map((s) => [s.type, s.consumes, s.produces, s.summary]),
      )}\n`,
    );
  }
  return EXIT.ok;
}

/** Where the generated artefacts live, relative to the project root. */
export const GENERATED = {
  schema: join('schema', 'dataflow.schema.json'),
  docs: join('docs', 'scripts.md'),
  errors: join('docs', 'errors.md'),
} as const;

/** The generated artefacts' current text. */
export function generatedFiles(): Record<string, string> {
  const registry = defaultRegistry();
  return {
    [GENERATED.schema]: `${JSON.stringify(dataflowJsonSchema(registry), null, 2)}\n`,
    [GENERATED.docs]: scriptsMarkdown(registry),
    [GENERATED.errors]: errorCodesMarkdown(),
  };
}

/** Flags of `idx schema`. */
export const SCHEMA_FLAGS = {
  write: { type: 'boolean', description: `write ${GENERATED.schema}, ${GENERATED.docs} and ${GENERATED.errors}` },
  check: { type: 'boolean', description: 'exit 1 when a generated file is stale' },
} as const satisfies Flags;

/** `idx schema [--write | --check]`: prints, writes or checks the JSON Schema, the script reference and the error codes. */
export function schemaCommand(args: string[]): number {
  const { values } = parseArgs({ args, options: SCHEMA_FLAGS });
  const files = generatedFiles();
  if (values.write) {
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, text);
      process.stdout.write(`wrote ${path}\n`);
    }
    return EXIT.ok;
  }
  if (values.check) {
    let stale = 0;
    for (const [path, text] of Object.entries(files)) {
      let current = '';
      try {
        current = readFileSync(path, 'utf8');
      } catch {
        // missing counts as stale
      }
      if (current !== text) {
        stale++;
        process.stderr.write(`${path} is stale; run \`idx schema --write\`\n`);
      }
    }
    return stale ? EXIT.failed : EXIT.ok;
  }
  process.stdout.write(files[GENERATED.schema] ?? '');
  return EXIT.ok;
}

/** A usage error. */
export function usage(text: string): IdxError {
  return new IdxError('IDX_USAGE', `usage: ${text}`);
}
