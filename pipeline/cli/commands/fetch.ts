/**
 * `filter-atlas fetch [assets...]`: downloads (or copies from FILTER_ATLAS_MIRROR) named assets
 * into the cache and verifies them; without arguments it lists the assets and their cache state.
 */
import type { DefineCommand } from './define.js';

interface FetchOptions {
  all?: boolean;
  progress: boolean;
}

export const defineFetchCommand: DefineCommand = (program) => {
  program
    .command('fetch')
    .description('Download and verify models and datasets into the cache (FILTER_ATLAS_CACHE), re-hashing cached files and fetching again any that changed; without arguments, list them')
    .argument('[assets...]', 'asset names (darknet-tiny, mobilenet-v1-0.25, vgg16_bn, imagenet-sample, photos)')
    .option('--all', 'fetch every asset (vgg16_bn is 554 MB)')
    .option('--no-progress', 'no progress output on stderr')
    .addHelpText(
      'after',
      '\nEnvironment:\n' +
        '  FILTER_ATLAS_CACHE   cache folder (default: the user cache folder, e.g. ~/.cache/filter-atlas)\n' +
        '  FILTER_ATLAS_MIRROR  folder or http(s) base URL laid out like models/<name>/, datasets/<name>/, photos/;\n' +
        '                       replaces the upstream downloads (air-gapped machines, CI)',
    )
    .action(async (names: string[], options: FetchOptions) => {
      const { assetNames, describeAssets, ensureAsset, isAssetName } = await import('../../assets/index.js');
      const { userError } = await import('../../errors.js');
      const { resolveCacheDir } = await import('../../assets/cache.js');
      const { describeMirror, parseMirror } = await import('../../assets/sources.js');
      const { formatBytes } = await import('../../assets/progress.js');

      if (names.length === 0 && !options.all) {
        const rows = describeAssets().map((a) => [a.name, a.kind, `${a.files}`, a.bytes !== undefined ? formatBytes(a.bytes) : '?', a.cached ? 'cached' : '-', a.description]);
        const header = ['asset', 'kind', 'files', 'size', 'state', 'description'];
        const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
        const line = (cells: string[]): string => cells.map((c, i) => (i < cells.length - 1 ? c.padEnd(widths[i] ?? 0) : c)).join('  ');
        process.stdout.write([line(header), ...rows.map(line)].join('\n') + '\n');
        process.stdout.write(`\ncache: ${resolveCacheDir()}\nsource: ${describeMirror(parseMirror(process.env.FILTER_ATLAS_MIRROR))}\n`);
        return;
      }
      const unknown = names.filter((n) => !isAssetName(n));
      if (unknown.length > 0) {
        throw userError({ where: 'fetch [assets...]', expected: `asset names among ${assetNames.join(', ')}`, received: unknown.map((n) => JSON.stringify(n)).join(', '), fix: 'Run `filter-atlas fetch` to list them.' });
      }
      const wanted = options.all ? [...assetNames] : [...new Set(names.filter(isAssetName))];
      // Ctrl-C aborts the transfers so that no half-written file stays behind.
      const controller = new AbortController();
      const onSignal = (): void => controller.abort();
      process.once('SIGINT', onSignal);
      try {
        for (const name of wanted) {
          // Every file is hashed, whatever the cache stamp says: `fetch` is also how a damaged cache is repaired.
          const folder = await ensureAsset(name, { signal: controller.signal, progress: options.progress, verify: true });
          process.stdout.write(`${name}\t${folder}\n`);
        }
      } finally {
        process.off('SIGINT', onSignal);
      }
    });
};
