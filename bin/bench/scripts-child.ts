/**
 * Child process of the scripts benchmark: runs one chain (JSON in argv[2]) and prints its figures as JSON, so
 * the parent measures time and peak memory of the pipeline alone.
 */
import '../../lib/local/polyfills.ts';
import { type ChainIo, type ChainStep, runChain } from './local-chain.ts';

const { steps, io } = JSON.parse(process.argv[2] ?? '{}') as { steps: ChainStep[]; io: ChainIo };
const started = performance.now();
const counters = await runChain(steps, io);
const seconds = (performance.now() - started) / 1000;
process.stdout.write(`${JSON.stringify({ seconds, maxRssKb: process.resourceUsage().maxRSS, counters })}\n`);
