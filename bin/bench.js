#!/usr/bin/env node
// `npm run bench`: runs test/bench/index.ts through tsx.
import { register } from 'tsx/esm/api';

register();
await import('../test/bench/index.ts');
