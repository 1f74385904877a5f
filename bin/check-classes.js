#!/usr/bin/env node
// `npm run check:classes`: runs the TypeScript check directly through tsx's loader, like bin/filter-atlas.js.
import { register } from 'tsx/esm/api';

register();
await import('../bench/class-check.ts');
