/**
 * Public API of the assets stage: named models and datasets, downloaded (or copied from
 * FILTER_ATLAS_MIRROR) into the user cache (FILTER_ATLAS_CACHE), verified by sha256, reused.
 */
import { resolveCacheDir, isCachedSync } from './cache.js';
import { ensureAssetIn, type AssetStore, type EnsureOptions } from './ensure.js';
import { assetNames, builtinManifests, isAssetName, type AssetName } from './manifest.js';
import { parseMirror } from './sources.js';
import { describeValue, userError } from '../errors.js';

export { assetNames, isAssetName, type AssetName };
export type { EnsureOptions };

/** The store the environment describes: built-in manifests (all, or only those named), cache and mirror from env vars. */
export function defaultStore(names: readonly AssetName[] = assetNames, env: NodeJS.ProcessEnv = process.env): AssetStore {
  return { cacheDir: resolveCacheDir(env), mirror: parseMirror(env.FILTER_ATLAS_MIRROR), manifests: builtinManifests(names) };
}

/**
 * Returns the absolute local folder holding every file of the asset, all verified.
 * Fetches what is missing (from the mirror when FILTER_ATLAS_MIRROR is set, else upstream).
 */
export async function ensureAsset(name: AssetName, options?: EnsureOptions): Promise<string> {
  if (!isAssetName(name)) {
    throw userError({ where: 'asset name', expected: `one of ${assetNames.join(', ')}`, received: describeValue(name) });
  }
  return ensureAssetIn(defaultStore([name]), name, options);
}

export interface AssetDescription {
  name: AssetName;
  description: string;
  kind: 'model' | 'dataset' | 'photos';
  license: string;
  /** Number of files. */
  files: number;
  /** Total size, when every file's size is pinned. */
  bytes?: number;
  /** Every file present and recorded as verified (nothing is hashed to answer). */
  cached: boolean;
}

export function describeAssetsIn(store: AssetStore): AssetDescription[] {
  return [...store.manifests.values()].filter((m) => isAssetName(m.name)).map((manifest) => {
    const sized = manifest.files.every((file) => file.bytes !== undefined);
    return {
      name: manifest.name as AssetName,
      description: manifest.description,
      kind: manifest.kind,
      license: manifest.license,
      files: manifest.files.length,
      bytes: sized ? manifest.files.reduce((sum, file) => sum + (file.bytes ?? 0), 0) : undefined,
      cached: isCachedSync(store.cacheDir, manifest),
    };
  });
}

export function describeAssets(): AssetDescription[] {
  return describeAssetsIn(defaultStore());
}
