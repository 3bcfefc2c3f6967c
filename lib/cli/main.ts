/** The `idx` command line: dispatches to one function per command; errors print as readable lines. */
import { readFileSync } from 'node:fs';
import { describeError, IdxError } from '../core/errors.ts';
import { API_FLAGS, apiCommand } from './api.ts';
import { CONSOLE_FLAGS, consoleCommand } from './console.ts';
import {
  COMPILE_FLAGS,
  compileCommand,
  EXIT,
  graphCommand,
  SCHEMA_FLAGS,
  SCRIPTS_FLAGS,
  schemaCommand,
  scriptsCommand,
  VALIDATE_FLAGS,
  validateCommand,
} from './dataflow-commands.ts';
import { JOBS_DEPLOYED_FLAGS, jobsDeployedCommand, TEST_DEPLOYED_FLAGS, testDeployedCommand } from './deployed.ts';
import { forTerminal } from './format.ts';
import { GIGYA_FLAGS, gigyaCommand } from './gigya.ts';
import { type CommandHelp, type Flags, renderCommandHelp, wantsHelp } from './help.ts';
import { INIT_FLAGS, initCommand } from './init.ts';
import { JOBS_FLAGS, jobsCommand } from './jobs.ts';
import { RUN_FLAGS, runCommand, SAMPLE_FLAGS, sampleCommand, startCommand } from './run.ts';
import { unlockCommand } from './unlock.ts';

type Command = (args: string[]) => number | Promise<number>;

/** The local `idx test` takes the flags of `idx run` but `--test`, which it sets itself. */
const LOCAL_TEST_FLAGS: Flags = Object.fromEntries(Object.entries(RUN_FLAGS).filter(([k]) => k !== 'test'));

/** Every command with its help: usage, summary and every flag it takes. */
export const COMMANDS: Record<string, CommandHelp & { readonly brief: string; readonly run: Command }> = {
  validate: {
    brief: 'check dataflow files; exit 2 when invalid',
    run: validateCommand,
    usage: ['validate <file...> [--json]'],
    summary:
      'Checks dataflow files: every problem with its code, file, step, JSON path, expected and received. Exit 0 valid, 2 invalid.',
    flags: VALIDATE_FLAGS,
  },
  init: {
    brief: 'create a dataflow file from a template',
    run: (args) => initCommand(args),
    usage: ['init <id> --integration NAME --direction outbound|inbound|file [--name TEXT] [--out FILE]', 'init --list'],
    summary:
      'Writes a new dataflow file from a template (integration × direction, built from the shipped dataflows) with a ' +
      '$schema line for editors, schedules disabled, and validates it. Exit 0 valid, 2 invalid.',
    flags: INIT_FLAGS,
  },
  compile: {
    brief: 'print the Step Functions (ASL) definition',
    run: compileCommand,
    usage: ['compile <file> [--out FILE]'],
    summary: 'Prints the Amazon States Language definition the dataflow deploys as.',
    flags: COMPILE_FLAGS,
  },
  graph: {
    brief: 'print the graph as Mermaid',
    run: graphCommand,
    usage: ['graph <file>'],
    summary: 'Prints the graph of a dataflow as Mermaid text (error edges dotted).',
    flags: {},
  },
  scripts: {
    brief: 'list the script registry',
    run: scriptsCommand,
    usage: ['scripts [--json]'],
    summary: 'Lists the script registry: step types, what they consume and produce, and their params.',
    flags: SCRIPTS_FLAGS,
  },
  schema: {
    brief: 'the dataflow JSON Schema and script docs',
    run: schemaCommand,
    usage: ['schema [--write | --check]'],
    summary: 'Prints, writes or checks the JSON Schema of dataflow files and the script reference (docs/scripts.md).',
    flags: SCHEMA_FLAGS,
  },
  run: {
    brief: 'run a dataflow locally, with progress and a job summary',
    run: runCommand,
    usage: ['run <file|id> [options]'],
    summary:
      'Runs a dataflow (a file, or the id of a dataflow in dataflows/) on the local embedded services, with live ' +
      'progress and a job summary. Exit 0 succeeded, 1 failed.',
    flags: RUN_FLAGS,
  },
  sample: {
    brief: 'write the sample input CSV to the local S3',
    run: sampleCommand,
    usage: ['sample [--records N]'],
    summary: 'Writes the input CSV of dataflows/sample-s3-csv.json to the local S3, without running anything.',
    flags: SAMPLE_FLAGS,
  },
  start: {
    brief: 'run the main job (Eloqua outbound) locally',
    run: startCommand,
    usage: ['start [options]'],
    summary:
      'Runs the main job, Eloqua outbound, on the embedded services: the first run is an initial load, later runs ' +
      'export what changed.',
    flags: RUN_FLAGS,
  },
  gigya: {
    brief: "the local Gigya emulator's accounts",
    run: gigyaCommand,
    usage: [
      'gigya seed [--accounts N] [--from FILE] [--seed S] [--append]',
      'gigya clear',
      'gigya serve [--port N] [--latency MS] [--rate-limit N] [--method M]',
    ],
    summary: "The local Gigya emulator's accounts: generate or import them, remove them, or serve them on their own.",
    flags: GIGYA_FLAGS,
  },
  jobs: {
    brief: 'job records (local, or the deployed jobs table)',
    run: (args) => (args.includes('--deployed') ? jobsDeployedCommand(args) : jobsCommand(args)),
    usage: [
      'jobs [--dataflow ID] [--limit N] [--cursor C] [--json] [--deployed]',
      'jobs show <jobId> [--json] [--deployed]',
      'jobs reindex [--deployed]',
    ],
    summary:
      'Lists job records, newest first, a page at a time (a listing with older jobs prints the --cursor of the next ' +
      'page), or shows one with its per-step counters, files and trace: local jobs, or ' +
      "with --deployed the deployed stack's jobs table. Works while a local run is active. `jobs reindex` lists the " +
      'records written before the all-jobs index existed (once, after upgrading).',
    flags: { ...JOBS_FLAGS, ...JOBS_DEPLOYED_FLAGS },
  },
  api: {
    brief: 'the IDX REST API on 127.0.0.1 (idx.search, idx.createScheduling, …)',
    run: apiCommand,
    usage: ['api [--port N]'],
    summary:
      'Serves the IDX REST API (/idx.<method>, Gigya envelope and credentials) on 127.0.0.1 over dataflows/ and the ' +
      'embedded services, printing its URL, until Ctrl-C. See docs/idx-api.md.',
    flags: API_FLAGS,
  },
  console: {
    brief: 'the web console on 127.0.0.1 (local services)',
    run: consoleCommand,
    usage: ['console [--port N] [--dir DIR]'],
    summary:
      'Serves the web console on 127.0.0.1 over the local embedded services and prints its URL: dataflows, their ' +
      'graph and schedules, Run Test / Run now / Dry run / Stop, jobs with per-step counters and rejected records, ' +
      'and creating and editing dataflows with live validation.',
    flags: CONSOLE_FLAGS,
  },
  unlock: {
    brief: 'release a local run lock whose run has ended',
    run: unlockCommand,
    usage: ['unlock <file|id>'],
    summary:
      'Releases the local run lock of a dataflow whose run has ended (a crash, kill -9) and ends the job that held it ' +
      'as killed; refused with IDX_RUN_LOCKED while the process holding it runs.',
    flags: {},
  },
  test: {
    brief: 'a test run (10 records), locally or deployed',
    run: (args) => (args.includes('--deployed') ? testDeployedCommand(args) : runCommand([...args, '--test'])),
    usage: [
      'test <file|id> [options]',
      'test <file|id> --deployed [--dry-run] [--prefix P] [--region R] [--timeout S] [--json]',
    ],
    summary:
      'A test run (10 records; the watermark stays), locally, or with --deployed of the deployed state machine ' +
      '(the same as starting an execution with {"test": true}). With --dry-run nothing is written anywhere and ' +
      'each writer reports what it would have written ({"test": true, "dryRun": true}).',
    flags: { ...LOCAL_TEST_FLAGS, ...TEST_DEPLOYED_FLAGS },
  },
};

/** The package version, from package.json next to bin/ and lib/. */
export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function help(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  return [
    'idx — identity-sync command line',
    '',
    'usage: idx <command> [options]',
    '',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.brief}`),
    '',
    '`idx <command> --help` lists every option of a command; `idx --version` prints the version.',
    '',
  ].join('\n');
}

/** The exit code and one coded line for an error a command threw. */
function failure(error: unknown, name: string): { code: number; line: string } {
  const code = (error as { code?: unknown }).code;
  // node:util parseArgs throws a TypeError naming the flag; say which command and where its flags are listed.
  if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_')) {
    const usage = new IdxError('IDX_USAGE', `idx ${name}: ${(error as Error).message.split('. ')[0]}`, {
      expected: `the flags \`idx ${name} --help\` lists`,
    });
    return { code: EXIT.invalid, line: describeError(usage) };
  }
  const line = describeError(error);
  if (error instanceof IdxError && (error.code === 'IDX_USAGE' || error.code === 'IDX_DATAFLOW_INVALID'))
    return { code: EXIT.invalid, line };
  if (error instanceof IdxError && error.code === 'IDX_FILE_NOT_FOUND') return { code: EXIT.invalid, line };
  return { code: EXIT.failed, line };
}

/** Runs the CLI; resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === '--version' || name === '-V' || name === 'version') {
    process.stdout.write(`identity-sync ${version()}\n`);
    return EXIT.ok;
  }
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    const about = name === 'help' && args[0] ? COMMANDS[args[0]] : undefined;
    process.stdout.write(about ? renderCommandHelp(about) : help());
    return name ? EXIT.ok : EXIT.invalid;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`unknown command "${name}"\n\n${help()}`);
    return EXIT.invalid;
  }
  if (wantsHelp(args)) {
    process.stdout.write(renderCommandHelp(command));
    return EXIT.ok;
  }
  try {
    return await command.run(args);
  } catch (error) {
    const { code, line } = failure(error, name);
    process.stderr.write(`${forTerminal(line)}\n`);
    return code;
  }
}
