/** An atlas image as a page uses it: its URL in dist/ and its intrinsic size for width/height. */
import { atlasFilePath, missingFileError } from './files.js';
import { imageSize } from './image-size.js';
import type { ImageRef, SiteAtlas } from './site-types.js';
import type { Urls } from './urls.js';

export async function imageRef(urls: Urls, site: SiteAtlas, relative: string): Promise<ImageRef> {
  const size = await imageSize(atlasFilePath(site, relative)).catch((error: NodeJS.ErrnoException) => {
    throw error.code === 'ENOENT' ? missingFileError(site, relative) : error;
  });
  return { src: urls.file(site, relative), ...size };
}
