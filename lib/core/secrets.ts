/** The contract of secret resolution: what resolves `${secret:NAME}`, and what masks the values it handed out. */

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
