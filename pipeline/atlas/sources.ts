import { isAbsolute, join, resolve } from 'node:path';
import { ensureAsset, isAssetName } from '../assets/index.js';

/**
 * A dataset or probe source as written in a config: an asset name (`imagenet-sample`), a file inside
 * an asset (`photos/chelsea.png`), or a path relative to the config file.
 */
export async function resolveSource(source: string, configDir: string, signal?: AbortSignal): Promise<string> {
  if (isAbsolute(source)) return source;
  const [head, ...rest] = source.split('/');
  if (isAssetName(head)) {
    const dir = await ensureAsset(head, { signal });
    return rest.length ? join(dir, ...rest) : dir;
  }
  return resolve(configDir, source);
}
