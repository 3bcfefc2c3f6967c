/** Every byte kernel compiler, tried in order (see ../kernel.ts). */
import type { KernelCompiler } from '../kernel.ts';
import { compileDsvNdjson } from './dsv-ndjson.ts';
import { ndjsonDsvKernel } from './ndjson-dsv.ts';

export const KERNEL_COMPILERS: readonly KernelCompiler[] = [compileDsvNdjson, ndjsonDsvKernel];
