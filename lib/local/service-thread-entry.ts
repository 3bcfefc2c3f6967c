/** The worker module of the local service thread (service-thread.ts). */
import { parentPort } from 'node:worker_threads';
import { serveServiceThread } from './service-thread.ts';

if (parentPort) serveServiceThread(parentPort);
