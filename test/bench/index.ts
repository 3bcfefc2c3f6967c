/**
 * `npm run bench`: every benchmark of the project in one run, each printing its own table. Pass names to run a
 * subset: `npm run bench -- pipeline`.
 */
import '../../lib/local/polyfills.ts';

const suites: Record<string, () => Promise<unknown>> = {
  pipeline: async () => (await import('./pipeline.ts')).run(),
  scripts: async () => (await import('./scripts.ts')).run({}),
};

const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
for (const [name, suite] of Object.entries(suites)) {
  if (wanted.length && !wanted.includes(name)) continue;
  await suite();
}
