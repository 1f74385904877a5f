#!/usr/bin/env node
// `npm run contact-sheet`: runs the TypeScript script directly through tsx's loader, like bin/filter-atlas.js.
import { register } from 'tsx/esm/api';

register();
await import('../bench/contact-sheet.ts');
