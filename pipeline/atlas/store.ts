import { readFile, access } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/fs.js';
import { atlasSchema, type Atlas } from './schema.js';

/**
 * The atlas folder: atlas.json, records/<key>.json (one finished artifact each) and files/ (images,
 * charts, binary activations). A record is written after its files, so a record's presence means
 * the artifact is complete: that is what makes reruns incremental and killed runs resumable.
 */
export class AtlasStore {
  constructor(readonly dir: string) {}

  path(relative: string): string {
    return join(this.dir, relative);
  }

  async exists(relative: string): Promise<boolean> {
    try {
      await access(this.path(relative));
      return true;
    } catch {
      return false;
    }
  }

  async writeFile(relative: string, data: string | Uint8Array): Promise<string> {
    await writeFileAtomic(this.path(relative), data);
    return relative;
  }

  async readRecord<T>(key: string): Promise<T | undefined> {
    try {
      return JSON.parse(await readFile(this.path(`records/${key}.json`), 'utf8')) as T;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async writeRecord(key: string, record: unknown): Promise<void> {
    await writeFileAtomic(this.path(`records/${key}.json`), JSON.stringify(record));
  }

  async readAtlas(): Promise<Atlas | undefined> {
    try {
      return atlasSchema.parse(JSON.parse(await readFile(this.path('atlas.json'), 'utf8')));
    } catch {
      return undefined;
    }
  }

  async writeAtlas(atlas: Atlas): Promise<void> {
    await writeFileAtomic(this.path('atlas.json'), JSON.stringify(atlasSchema.parse(atlas), null, 1) + '\n');
  }
}
