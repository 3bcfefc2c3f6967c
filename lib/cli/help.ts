/**
 * Command-line flags described once: each command parses exactly the flags it documents (a {@link Flags} object
 * is a valid `parseArgs` options object), so `idx <command> --help` can never miss one.
 */

/** One flag: its `parseArgs` type and what it does. */
export interface Flag {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  /** The placeholder of a string flag's value in the help (`N`, `FILE`). */
  readonly value?: string;
  readonly description: string;
}

/** The flags of a command, by long name. */
export type Flags = Readonly<Record<string, Flag>>;

/** What `idx <command> --help` prints. */
export interface CommandHelp {
  /** Usage lines without the leading `idx `, e.g. `run <file|id> [options]`. */
  readonly usage: readonly string[];
  /** What the command does, in a sentence or two. */
  readonly summary: string;
  readonly flags: Flags;
}

/** The help flags every command accepts. */
export const HELP_FLAG: Flag = { type: 'boolean', short: 'h', description: 'print this help' };

/** Renders a command's help: usage, summary, and every flag with its description. */
export function renderCommandHelp(help: CommandHelp): string {
  const rows = Object.entries({ ...help.flags, help: HELP_FLAG }).map(([name, f]) => {
    const head = `${f.short ? `-${f.short}, ` : '    '}--${name}${f.type === 'string' ? ` ${f.value ?? 'VALUE'}` : ''}`;
    return [head, f.description] as const;
  });
  const width = Math.max(...rows.map(([h]) => h.length));
  return [
    ...help.usage.map((u, i) => `${i === 0 ? 'usage: ' : '       '}idx ${u}`),
    '',
    help.summary,
    '',
    'options:',
    ...rows.map(([h, d]) => `  ${h.padEnd(width)}  ${d}`),
    '',
  ].join('\n');
}

/** True when the arguments ask for help (`--help` or `-h` before any `--`). */
export function wantsHelp(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  const head = end < 0 ? args : args.slice(0, end);
  return head.includes('--help') || head.includes('-h');
}
