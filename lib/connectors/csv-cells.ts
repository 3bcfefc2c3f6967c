/**
 * CSV as the REST bulk APIs take it (RFC 4180, as Salesforce's "Prepare CSV Files" describes it): comma-separated,
 * a cell with a comma, a double quote, a carriage return or a line feed quoted with double quotes and its quotes
 * doubled, lines ended by LF.
 */

/** One cell, quoted when it must be. */
export function csvCell(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** One line of cells, without its line ending. */
export function csvLine(cells: readonly string[]): string {
  return cells.map(csvCell).join(',');
}
