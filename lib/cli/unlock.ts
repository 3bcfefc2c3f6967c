/** `idx unlock <dataflow>`: releases a local run lock whose holder is not running any more. */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { IdxError } from '../core/errors.ts';
import { endAbandonedJob, liveLockProcess } from '../engine/job.ts';
import { startLocalEnvironment } from '../local/environment.ts';
import { JobStore } from '../stores/jobs.ts';
import { DataflowStateStore } from '../stores/state.ts';
import { EXIT, loadValid, usage } from './dataflow-commands.ts';

/**
 * Releases the run lock of a dataflow (given as its file or its id) in the local state, and ends the job that
 * held it as `killed` if its record still says `running`. Refuses with `IDX_RUN_LOCKED` while the process
 * holding the lock runs on this machine: stop that run instead (Ctrl-C ends its job and releases the lock).
 */
export async function unlockCommand(args: string[]): Promise<number> {
  const { positionals } = parseArgs({ args, allowPositionals: true, options: {} });
  const target = positionals[0];
  if (!target || positionals.length > 1) throw usage('idx unlock <dataflow file or id>');
  const dataflowId = target.endsWith('.json') && existsSync(target) ? loadValid(target).id : target;
  const env = await startLocalEnvironment();
  try {
    const state = new DataflowStateStore(env.services.dynamo, env.config.tables.state);
    const held = await state.get(dataflowId);
    if (held.lockJobId === undefined) {
      process.stdout.write(`dataflow "${dataflowId}" is not locked\n`);
      return EXIT.ok;
    }
    const pid = liveLockProcess(held);
    if (pid !== undefined) {
      throw new IdxError(
        'IDX_RUN_LOCKED',
        `dataflow "${dataflowId}" is locked by job ${held.lockJobId}, still running`,
        {
          dataflowId,
          expected: 'a lock whose run has ended',
          received: `process ${pid} on ${held.lockHost ?? '?'}, alive`,
        },
      );
    }
    await state.releaseLock(dataflowId, held.lockJobId);
    const ended = await endAbandonedJob(
      new JobStore(env.services.dynamo, env.config.tables.jobs),
      held.lockJobId,
      'its run lock was released with idx unlock',
    );
    process.stdout.write(
      `released the run lock of "${dataflowId}" held by job ${held.lockJobId}${ended ? ' (job ended as killed)' : ''}\n`,
    );
    return EXIT.ok;
  } finally {
    await env.close();
  }
}
