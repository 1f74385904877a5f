/**
 * Build integration: after Astro wrote the pages, copy the atlas files the atlas and diff pages
 * reference into dist/files/ and index the filter pages with Pagefind. In `astro dev` the same
 * files are served straight from the output folder, so nothing is copied while developing.
 */
import { realpath } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AstroIntegration } from 'astro';
// Imported statically: Astro loads this file through Vite's module runner, which is closed by
// the time astro:build:done runs, so a lazy import() there fails.
import * as pagefind from 'pagefind';
import { userError } from '../../../pipeline/errors.js';
import { copyReferencedFiles, fileRoots, servedFile } from './files.js';
import { loadSite } from './load.js';
import { readPublishable } from './publish.js';
import { FILES_SEGMENT, makeUrls, normaliseBase } from './urls.js';
import { legacyLayerRedirects, redirectPage } from './redirects.js';
import { writeFileAtomic } from '../../../pipeline/util/fs.js';
import { copyOrtRuntime } from './ort-runtime.js';

const CONTENT_TYPES: Record<string, string> = {
  '.png': 'image/png',
  '.webp': 'image/webp',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.svg': 'image/svg+xml',
  '.onnx': 'application/octet-stream',
};

async function indexWithPagefind(distDir: string): Promise<number> {
  const { index, errors } = await pagefind.createIndex({});
  try {
    if (!index) throw new Error(errors.join('; '));
    const added = await index.addDirectory({ path: distDir });
    if (added.errors.length > 0) throw new Error(added.errors.join('; '));
    const written = await index.writeFiles({ outputPath: `${distDir}/pagefind` });
    if (written.errors.length > 0) throw new Error(written.errors.join('; '));
    return added.page_count;
  } catch (error) {
    throw userError(
      {
        where: `Pagefind index of ${distDir}`,
        expected: 'a search index',
        received: (error as Error).message,
        fix: 'Check that the pagefind package and its platform binary (@pagefind/<platform>) are installed.',
      },
      error,
    );
  } finally {
    await pagefind.close();
  }
}

export function atlasSite(options: { outputDir: string }): AstroIntegration {
  let base = '/';
  return {
    name: 'filter-atlas-site',
    hooks: {
      'astro:config:done': ({ config }) => {
        base = normaliseBase(config.base);
      },
      'astro:server:setup': ({ server }) => {
        const prefix = `${base}${FILES_SEGMENT}/`;
        server.middlewares.use((request, response, next) => {
          const url = request.url?.split('?')[0] ?? '';
          if (!url.startsWith(prefix)) return next();
          const segments = url.slice(prefix.length).split('/').map(decodeURIComponent);
          loadSite(options.outputDir)
            .then(async (data) => {
              const path = servedFile(fileRoots(data), segments);
              if (!path) return next();
              // The same checks as the build's copy, and the same bytes: read once from the handle that passed them.
              const file = segments.join('/');
              const { bytes } = await readPublishable({ outputReal: await realpath(data.outputDir), path, file, source: `astro dev ${url}`, missingFix: 'Rerun `filter-atlas build`.' });
              response.setHeader('Content-Type', CONTENT_TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream');
              response.end(bytes);
            })
            .catch(next);
        });
      },
      'astro:build:done': async ({ dir, logger }) => {
        const distDir = fileURLToPath(dir);
        const data = await loadSite(options.outputDir);
        const copied = await copyReferencedFiles(data, distDir);
        logger.info(`copied ${copied.files} files that atlas and diff pages show (${(copied.bytes / 1e6).toFixed(1)} MB) from ${options.outputDir}`);
        if (data.atlases.some((site) => site.atlas.probeModel)) {
          const runtime = await copyOrtRuntime(distDir);
          logger.info(`copied onnxruntime-web for the browser probe (${runtime.files.join(', ')}: ${(runtime.bytes / 1e6).toFixed(1)} MB)`);
        }
        const moved = legacyLayerRedirects(data, makeUrls(base));
        for (const redirect of moved) await writeFileAtomic(join(distDir, ...redirect.segments, 'index.html'), redirectPage(redirect));
        if (moved.length > 0) logger.info(`wrote ${moved.length} redirect pages from layers' old node-name URLs to their alias URLs`);
        const pages = await indexWithPagefind(distDir);
        logger.info(`Pagefind index written to ${distDir}/pagefind (${pages} pages read; filter pages are the ones indexed)`);
      },
    },
  };
}
