/** Plain-text rendering for the CLI: aligned tables, byte sizes, and text made safe for a terminal. */
import { printable } from '../core/errors.ts';

export { bytes } from '../engine/progress.ts';

/** Renders rows as an aligned table; numeric columns, and those `right` names by index, are right-aligned. */
export function table(
  headers: readonly string[],
  rows: readonly (readonly (string | number)[])[],
  right: readonly number[] = [],
): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => String(c)))];
  const numeric = headers.map(
    (_, i) => right.includes(i) || (rows.length > 0 && rows.every((r) => typeof r[i] === 'number')),
  );
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells
    .map((r) =>
      r
        .map((c, i) => (numeric[i] ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/**
 * Multi-line text for a terminal: within each line, control characters (ANSI escapes, carriage returns, …) that a
 * step id, file name or value may carry are shown escaped, so they cannot move the cursor or recolour the screen.
 */
export function forTerminal(text: string): string {
  return text.split('\n').map(printable).join('\n');
}
