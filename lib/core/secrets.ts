/**
 * The contract of secret resolution: the `${secret:NAME}` reference, what resolves it, and what masks the values
 * it handed out.
 */

/** What a secret name may hold: the characters Secrets Manager allows in a name. */
export const SECRET_NAME = /^[A-Za-z0-9_+=.@/-]+$/;

/** The names of the well-formed `${secret:NAME}` references in a text, in order. */
export function secretReferences(text: string): string[] {
  const names: string[] = [];
  for (const m of text.matchAll(/\$\{([^}]*)\}/g)) {
    const body = m[1] ?? '';
    if (!body.startsWith('secret:')) continue;
    const name = body.slice('secret:'.length);
    if (SECRET_NAME.test(name)) names.push(name);
  }
  return names;
}

/** Resolves secret names to values. */
export interface SecretResolver {
  resolve(name: string): Promise<string>;
  /** Masks every value this resolver has handed out. */
  readonly redactor: Redactor;
}

/** Replaces known secret values in text with `***`. */
export class Redactor {
  readonly #values = new Set<string>();

  add(value: string): void {
    // Very short values would mask ordinary text; they are still never logged on purpose.
    if (value.length >= 4) this.#values.add(value);
  }

  redact(text: string): string {
    let out = text;
    for (const v of this.#values) if (out.includes(v)) out = out.split(v).join('***');
    return out;
  }
}

/** Masks every secret value in every string of a JSON value (job records, errors), at any depth. */
export function redactValues<T>(value: T, redactor: Pick<Redactor, 'redact'>): T {
  // Iterative, so a deeply nested error object cannot exhaust the stack.
  const root = { v: value as unknown };
  const pending: [Record<string | number, unknown>, string | number][] = [[root as never, 'v']];
  while (pending.length > 0) {
    const [holder, key] = pending.pop() as [Record<string | number, unknown>, string | number];
    const v = holder[key];
    if (typeof v === 'string') holder[key] = redactor.redact(v);
    else if (Array.isArray(v)) {
      const copy = [...v];
      holder[key] = copy;
      for (let i = 0; i < copy.length; i++) pending.push([copy as never, i]);
    } else if (v !== null && typeof v === 'object') {
      const copy: Record<string, unknown> = { ...(v as Record<string, unknown>) };
      holder[key] = copy;
      for (const k of Object.keys(copy)) pending.push([copy, k]);
    }
  }
  return root.v as T;
}
