/** Small generated Gigya-shaped accounts as NDJSON, with the cases record steps must carry: quotes, commas, bad dates. */

/**
 * `n` accounts, one per line: every 11th first name holds a comma and quotes, every 17th last name a quote and a
 * comma, and every 13th `created` is not a date.
 */
export function accountLines(n: number): string {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    lines.push(
      JSON.stringify({
        UID: `uid-${i}`,
        profile: {
          firstName: i % 11 === 0 ? 'Zoë, "Z"' : `First ${i}`,
          lastName: i % 17 === 0 ? 'O"Brien, Jr.' : `Last ${i}`,
        },
        created: i % 13 === 0 ? 'not a date' : `2024-03-0${1 + (i % 9)}T10:11:12.000Z`,
      }),
    );
  }
  return `${lines.join('\n')}\n`;
}
