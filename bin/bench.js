#!/usr/bin/env node
// `npm run bench`: runs bin/bench/index.ts through tsx.
import { register } from 'tsx/esm/api';

register();
await import('./bench/index.ts');
