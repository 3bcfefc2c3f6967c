/** Types of bin/cli-bundle.js (plain JavaScript: it runs before anything can load TypeScript). */

/** The project folder (the one holding bin/). */
export declare const PROJECT_ROOT: string;
/** The bundle's entry points: output name → source file, relative to the project folder. */
export declare const ENTRIES: {
  readonly idx: string;
  readonly 'lane-worker': string;
  readonly 'service-thread': string;
};
/** Set to 1 to run the CLI from the sources through tsx. */
export declare const FROM_SOURCES_ENV: string;
/** The cache folder of a project's bundles. */
export declare function cacheDirOf(root?: string): string;
/** The current build folder when it is complete and every file it was built from is unchanged, else undefined. */
export declare function freshBundle(root?: string, cacheDir?: string): string | undefined;
/** Whether a live process runs from a build folder (its `in-use` marker files name their pids). */
export declare function inUse(dir: string): boolean;
/** Marks a build folder as used by this process until it exits (the main thread only). */
export declare function markInUse(dir: string): void;
/** Builds the bundle into a new folder, points `current.json` at it; returns the folder. */
export declare function buildBundle(root?: string, cacheDir?: string): Promise<string>;
/** The path of an entry's bundled module, built first when missing or stale. */
export declare function bundledEntry(entry: keyof typeof ENTRIES, root?: string, cacheDir?: string): Promise<string>;
/** Runs an entry: from the bundle, or from the sources through tsx when `IDX_FROM_SOURCES=1`. */
export declare function runEntry(entry: keyof typeof ENTRIES): Promise<void>;
