/**
 * The notification handler: EventBridge calls it when a dataflow's execution ends. It builds its clients once
 * per container and hands the event to {@link finalizeExecution}.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SNSClient } from '@aws-sdk/client-sns';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ENV } from '../lib/core/env.ts';
import { type ExecutionStatusNotice, type FinalizeResult, finalizeExecution } from '../lib/engine/finalize.ts';

const need = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`environment variable ${name} is not set`);
  return v;
};

const deps = {
  dynamo: DynamoDBDocumentClient.from(new DynamoDBClient({ maxAttempts: 5 }), {
    marshallOptions: { removeUndefinedValues: true },
  }),
  sns: new SNSClient({ maxAttempts: 5 }),
  tables: { jobs: need(ENV.jobsTable.name), state: need(ENV.stateTable.name) },
};

/** Lambda entry point. */
export async function handler(event: ExecutionStatusNotice): Promise<FinalizeResult | undefined> {
  return finalizeExecution(event, deps);
}
