/**
 * Resolution of `${secret:NAME}` references. Deployed: AWS Secrets Manager (`<prefix><NAME>`). Locally: the
 * environment (`IDX_SECRET_<NAME>`) or `.idx/secrets.json`. Every value handed out is registered with a
 * {@link Redactor} so it can be masked in any log line, trace or job record.
 */
import { readFileSync } from 'node:fs';
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ENV } from '../core/env.ts';
import { IdxError } from '../core/errors.ts';
import { Redactor, type SecretResolver } from '../core/secrets.ts';

/** The environment variable a local secret is read from: `IDX_SECRET_` + NAME in upper snake case. */
export function secretEnvName(name: string): string {
  return `${ENV.localSecret.name}${name.replace(/[^A-Za-z0-9]/g, '_').toUpperCase()}`;
}

/** Local secrets: environment first, then a JSON file of name → value. */
export class LocalSecretResolver implements SecretResolver {
  readonly redactor = new Redactor();
  readonly #file: string | undefined;
  readonly #env: NodeJS.ProcessEnv;
  readonly #extra: Record<string, string>;

  constructor(options: { file?: string; env?: NodeJS.ProcessEnv; values?: Record<string, string> } = {}) {
    this.#file = options.file;
    this.#env = options.env ?? process.env;
    this.#extra = options.values ?? {};
  }

  async resolve(name: string): Promise<string> {
    const fromEnv = this.#env[secretEnvName(name)];
    let value = fromEnv ?? this.#extra[name];
    if (value === undefined && this.#file) {
      try {
        const all = JSON.parse(readFileSync(this.#file, 'utf8')) as Record<string, unknown>;
        if (typeof all[name] === 'string') value = all[name];
      } catch {
        // A missing or unreadable file is the same as a missing secret, reported below.
      }
    }
    if (value === undefined) {
      throw new IdxError('IDX_SECRET_MISSING', `secret "${name}" is not set`, {
        expected: `environment variable ${secretEnvName(name)}${this.#file ? ` or key "${name}" in ${this.#file}` : ''}`,
        received: 'nothing',
      });
    }
    this.redactor.add(value);
    return value;
  }
}

/** Deployed secrets from AWS Secrets Manager, cached for the life of the Lambda container. */
export class AwsSecretResolver implements SecretResolver {
  readonly redactor = new Redactor();
  readonly #client: SecretsManagerClient;
  readonly #prefix: string;
  readonly #cache = new Map<string, Promise<string>>();

  constructor(client: SecretsManagerClient, prefix: string) {
    this.#client = client;
    this.#prefix = prefix;
  }

  resolve(name: string): Promise<string> {
    let p = this.#cache.get(name);
    if (!p) {
      p = this.#fetch(name);
      this.#cache.set(name, p);
      p.catch(() => this.#cache.delete(name));
    }
    return p;
  }

  async #fetch(name: string): Promise<string> {
    const id = `${this.#prefix}${name}`;
    try {
      const out = await this.#client.send(new GetSecretValueCommand({ SecretId: id }));
      if (out.SecretString === undefined) {
        throw new IdxError('IDX_SECRET_MISSING', `secret "${id}" has no string value`, {
          expected: 'a SecretString',
          received: 'a binary secret',
        });
      }
      this.redactor.add(out.SecretString);
      return out.SecretString;
    } catch (error) {
      if (error instanceof IdxError) throw error;
      const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
      const transient = (e.$metadata?.httpStatusCode ?? 0) >= 500 || e.name === 'ThrottlingException';
      throw new IdxError('IDX_SECRET_MISSING', `secret "${id}" cannot be read: ${e.name ?? 'error'}`, {
        expected: `a readable secret named ${id}`,
        received: e.name ?? 'an error',
        transient,
        cause: error,
      });
    }
  }
}
