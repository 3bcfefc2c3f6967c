// Worker module of the local service thread (lib/local/service-thread.ts): runs the embedded S3 and SFTP servers
// of `idx run` beside its main thread, from the CLI's bundle, built when missing or stale (bin/cli-bundle.js), or
// from the sources through tsx when `IDX_FROM_SOURCES=1`.
import { runEntry } from './cli-bundle.js';

await runEntry('service-thread');
