/** Worker thread of the scripts benchmark: runs one file-consuming step over files streamed from the main thread. */
import { parentPort, workerData } from 'node:worker_threads';
import { runFileStepWorker, type WorkerTask } from './local-chain.ts';

if (!parentPort) throw new Error('file-step-worker runs as a worker thread');
await runFileStepWorker(parentPort, workerData as WorkerTask);
