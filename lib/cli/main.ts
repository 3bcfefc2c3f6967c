/** The `idx` command line: dispatches to one function per command; errors print as readable lines. */
import { describeError, IdxError } from '../core/errors.ts';
import {
  compileCommand,
  EXIT,
  graphCommand,
  schemaCommand,
  scriptsCommand,
  validateCommand,
} from './dataflow-commands.ts';
import { jobsDeployedCommand, testDeployedCommand } from './deployed.ts';
import { forTerminal } from './format.ts';
import { gigyaCommand } from './gigya.ts';
import { jobsCommand } from './jobs.ts';
import { runCommand, sampleCommand, startCommand } from './run.ts';

type Command = (args: string[]) => number | Promise<number>;

/** Every command with its one-line help. */
export const COMMANDS: Record<string, { run: Command; help: string }> = {
  validate: { run: validateCommand, help: 'validate <file...> [--json]         check dataflows; exit 2 when invalid' },
  compile: {
    run: compileCommand,
    help: 'compile <file> [--out f]            print the Step Functions (ASL) definition',
  },
  graph: { run: graphCommand, help: 'graph <file>                        print the graph as Mermaid' },
  scripts: { run: scriptsCommand, help: 'scripts [--json]                    list the script registry' },
  schema: {
    run: schemaCommand,
    help: 'schema [--write|--check]            the dataflow JSON Schema, script docs and error codes',
  },
  run: { run: runCommand, help: 'run <file> [--limit N] [--test] [--full-extract] [--json]   run locally' },
  sample: {
    run: sampleCommand,
    help: 'sample [--records N]                write the sample input CSV to the local S3',
  },
  start: {
    run: startCommand,
    help: 'start                               run the main job (Eloqua outbound) locally on embedded services',
  },
  gigya: {
    run: gigyaCommand,
    help: 'gigya seed --accounts N [--from f.ndjson] | clear | serve   the local Gigya emulator',
  },
  jobs: {
    run: (args) => (args.includes('--deployed') ? jobsDeployedCommand(args) : jobsCommand(args)),
    help: 'jobs [--dataflow ID] [--json] [--deployed] | jobs show <jobId>   job records (local, or the deployed jobs table)',
  },
  test: {
    run: (args) => (args.includes('--deployed') ? testDeployedCommand(args) : runCommand([...args, '--test'])),
    help: 'test <file|id> [--deployed]        a test run (10 records) locally, or of the deployed state machine',
  },
};

function help(): string {
  return `idx — identity-sync command line\n\nusage: idx <command> [options]\n\n${Object.values(COMMANDS)
    .map((c) => `  idx ${c.help}`)
    .join('\n')}\n`;
}

/** Runs the CLI; resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    process.stdout.write(help());
    return name ? EXIT.ok : EXIT.invalid;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`unknown command "${name}"\n\n${help()}`);
    return EXIT.invalid;
  }
  try {
    return await command.run(args);
  } catch (error) {
    process.stderr.write(`${forTerminal(describeError(error))}\n`);
    if (error instanceof IdxError && (error.code === 'IDX_USAGE' || error.code === 'IDX_DATAFLOW_INVALID'))
      return EXIT.invalid;
    if (
      (error as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ||
      (error as { code?: string }).code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE'
    ) {
      return EXIT.invalid;
    }
    return EXIT.failed;
  }
}
