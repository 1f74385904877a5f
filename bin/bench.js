#!/usr/bin/env node
// `npm run bench`: runs the TypeScript bench directly through tsx's loader, like bin/filter-atlas.js.
import { register } from 'tsx/esm/api';

register();
await import('../bench/index.ts');
