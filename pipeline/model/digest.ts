import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** sha256 (hex) over the bytes of the files in the given order: the model's weights digest. */
export async function digestFiles(files: readonly string[], signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  for (const file of files) {
    signal?.throwIfAborted();
    // Streamed: the VGG-16 weights are over 500 MB.
    for await (const chunk of createReadStream(file, { signal })) hash.update(chunk as Buffer);
  }
  return hash.digest('hex');
}
