import { fileURLToPath } from 'node:url';
import { defineConfig } from 'astro/config';
import { atlasSite } from './src/lib/integration.js';
import { resolveOutputDir } from './src/lib/load.js';
import { normaliseBase } from './src/lib/urls.js';

// `npm run site:build` sets this too; kept here so a Windows shell or a direct `astro build` sends nothing.
process.env.ASTRO_TELEMETRY_DISABLED ??= '1';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
/** Where the pipeline wrote the atlases: FILTER_ATLAS_OUTPUT or <repo>/output. */
const outputDir = resolveOutputDir(process.env, repoRoot);

/** Deploy path: SITE_BASE or `/`. */
const base = normaliseBase(process.env.SITE_BASE);

export default defineConfig({
  base,
  trailingSlash: 'always',
  build: { format: 'directory' },
  // The pages are HTML and a small stylesheet; no client framework.
  integrations: [atlasSite({ outputDir })],
  vite: {
    // Constants rather than import.meta.env: Astro fills import.meta.env.* from process.env, so a
    // stray BASE_URL in the environment (vitest sets one) would silently change every link.
    define: { __ATLAS_OUTPUT_DIR__: JSON.stringify(outputDir), __SITE_BASE__: JSON.stringify(base) },
    // The schema and error helpers live in ../pipeline (the contract is shared, not copied).
    server: { fs: { allow: [repoRoot] } },
    // Every page script and stylesheet stays a file of its own, never inlined into the HTML: the
    // Content-Security-Policy (src/lib/csp.ts) allows scripts and styles from the site's files only.
    build: { assetsInlineLimit: 0 },
  },
});
