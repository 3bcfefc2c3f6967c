import { describe, expect, it } from 'vitest';
import { FilterError, MAX_FILTER_LENGTH, parseFilter } from '../../../lib/local/eloqua-filter.ts';

const FIELDS = new Set(['{{Contact.Field(C_DateModified)}}', '{{Contact.Field(C_Country)}}']);
const known = (s: string) => FIELDS.has(s);
const contact = (values: Record<string, string>, lists: number[] = []) =>
  [(s: string) => values[s] ?? '', (l: number) => lists.includes(l)] as const;
const MODIFIED = '{{Contact.Field(C_DateModified)}}';
const COUNTRY = '{{Contact.Field(C_Country)}}';

describe('parseFilter', () => {
  it('compares dates as instants to the second, whatever their precision', () => {
    // Prepare
    const filter = parseFilter(
      `'${MODIFIED}' >= '2026-01-01 00:00:00' AND '${MODIFIED}' <= '2026-01-02 00:00:00'`,
      known,
    );

    // Act
    const inside = filter(...contact({ [MODIFIED]: '2026-01-01 00:00:00.900' }));
    const before = filter(...contact({ [MODIFIED]: '2025-12-31 23:59:59.999' }));
    const after = filter(...contact({ [MODIFIED]: '2026-01-02 00:00:01.000' }));

    // Assess
    expect([inside, before, after]).toEqual([true, false, false]);
  });

  it('reads OR, NOT, parentheses, LIKE and one EXISTS', () => {
    // Prepare
    const filter = parseFilter(
      `NOT ('${COUNTRY}' = 'DE' OR '${COUNTRY}' ~ 'F%') AND EXISTS('{{ContactList[7]}}')`,
      known,
    );

    // Act
    const results = [
      filter(...contact({ [COUNTRY]: 'US' }, [7])),
      filter(...contact({ [COUNTRY]: 'de' }, [7])),
      filter(...contact({ [COUNTRY]: 'France' }, [7])),
      filter(...contact({ [COUNTRY]: 'US' }, [8])),
    ];

    // Assess
    expect(results).toEqual([true, false, false, false]);
  });

  it('refuses what Eloqua refuses, saying why', () => {
    // Act
    const refusals = [
      `'{{Contact.Field(C_Nope)}}' = 'x'`,
      `EXISTS('{{ContactList[1]}}') AND EXISTS('{{ContactList[2]}}')`,
      `'${COUNTRY}' = 'x`,
      `'${COUNTRY}' = 'x' AND`,
      `'${COUNTRY}' = '${'x'.repeat(MAX_FILTER_LENGTH)}'`,
    ].map((text) => {
      try {
        parseFilter(text, known);
        return 'accepted';
      } catch (error) {
        return error instanceof FilterError ? error.message : 'crashed';
      }
    });

    // Assess
    expect(refusals).toEqual([
      "'{{Contact.Field(C_Nope)}}' is not a field of contacts",
      'only one EXISTS may appear in a filter',
      'unterminated quoted value at 33',
      'the filter ends too early',
      `longer than ${MAX_FILTER_LENGTH} characters`,
    ]);
  });
});
