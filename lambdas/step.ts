/**
 * The step function: every Task of every compiled state machine invokes it. It only builds the services once
 * per container, then hands the event to the engine.
 */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ENV } from '../lib/core/env.ts';
import type { EngineEvent } from '../lib/core/events.ts';
import { handle } from '../lib/engine/handler.ts';
import { AwsSecretResolver } from '../lib/engine/secrets.ts';
import { configFromEnv, createServices } from '../lib/engine/services.ts';
import { defaultRegistry } from '../lib/scripts/index.ts';

const config = configFromEnv();
const services = createServices(
  config,
  new AwsSecretResolver(new SecretsManagerClient({}), process.env[ENV.secretPrefix.name] ?? 'identity-sync/'),
);
const registry = defaultRegistry();
/** Time kept back from the Lambda timeout for staging and bookkeeping after a reader pauses. */
const SAFETY_MS = 90_000;

/** Lambda entry point. */
export async function handler(event: EngineEvent, context: { getRemainingTimeInMillis(): number }): Promise<unknown> {
  return handle(event, services, registry, {
    deadline: Date.now() + Math.max(10_000, context.getRemainingTimeInMillis() - SAFETY_MS),
  });
}
