import { readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { z } from 'zod';
import { flushToDisk, writeFileAtomic, writeFileRenamed } from '../util/fs.js';
import { removeLitter } from '../util/litter.js';
import { atlasSchema, type Atlas } from '../schema/atlas.js';

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

  /** True when the atlas-relative path is a regular file (a folder or a broken link is not). */
  async exists(relative: string): Promise<boolean> {
    return (await stat(this.path(relative)).catch(() => undefined))?.isFile() ?? false;
  }

  async writeFile(relative: string, data: string | Uint8Array): Promise<string> {
    await writeFileAtomic(this.path(relative), data);
    return relative;
  }

  /**
   * The record of `key` when it is there, valid JSON and matches `schema`; undefined otherwise.
   * Anything unreadable is treated as absent: the artifact is computed again and the record
   * replaced, so a damaged record costs time, never the build.
   */
  async readRecord<S extends z.ZodType>(key: string, schema: S): Promise<z.infer<S> | undefined> {
    let text: string;
    try {
      text = await readFile(this.path(`records/${key}.json`), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    try {
      const parsed = schema.safeParse(JSON.parse(text));
      return parsed.success ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  }

  /** readRecord, and only when every file the record names (`files(record)`) is there too. */
  async readComplete<S extends z.ZodType>(key: string, schema: S, files: (record: z.infer<S>) => string[]): Promise<z.infer<S> | undefined> {
    const record = await this.readRecord(key, schema);
    if (record === undefined) return undefined;
    for (const file of files(record)) if (!(await this.exists(file))) return undefined;
    return record;
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

  /**
   * Writes atlas.json unless it already holds exactly these bytes: a rerun that changes nothing
   * writes nothing, so a finished atlas can be checked again on read-only storage.
   */
  async writeAtlas(atlas: Atlas): Promise<void> {
    const text = JSON.stringify(atlasSchema.parse(atlas), null, 1) + '\n';
    const current = await readFile(this.path('atlas.json'), 'utf8').catch(() => undefined);
    if (current !== text) await writeFileAtomic(this.path('atlas.json'), text);
  }

  /** A writer of many files and the records that name them, made durable together (DurableBatch). */
  batch(): DurableBatch {
    return new DurableBatch(this);
  }

  /** Removes temporary files of killed runs (see util/litter.ts); returns how many. */
  removeLitter(): Promise<number> {
    return removeLitter(this.dir);
  }
}

/**
 * The files of one unit of work (a batch of pictures) and the records that name them, made durable
 * together, in the order that keeps a record from naming a file that is not there: writeFile writes
 * each file through a temporary name without flushing it; commit flushes every file, then every
 * folder holding one, and only then writes the records, flushes them and records/. A killed build,
 * or a power cut, never leaves a record naming a missing or empty file, at a few flushes per batch
 * instead of one per file (writeFileAtomic).
 */
export class DurableBatch {
  private readonly files: string[] = [];
  constructor(private readonly store: AtlasStore) {}

  async writeFile(relative: string, data: string | Uint8Array): Promise<string> {
    await writeFileRenamed(this.store.path(relative), data);
    this.files.push(relative);
    return relative;
  }

  /**
   * Makes the files written so far durable, then writes the records, group after group (a later
   * group's records mark an earlier group's work done; a group's records are written at once), and
   * makes them durable.
   */
  async commit(...groups: ReadonlyArray<ReadonlyArray<{ key: string; record: unknown }>>): Promise<void> {
    const files = this.files.splice(0).map((file) => this.store.path(file));
    const recordPath = (key: string) => this.store.path(`records/${key}.json`);
    await flushToDisk(files);
    await flushToDisk(this.foldersOf(files));
    for (const group of groups) await Promise.all(group.map(({ key, record }) => writeFileRenamed(recordPath(key), JSON.stringify(record))));
    const recordPaths = groups.flat().map(({ key }) => recordPath(key));
    await flushToDisk(recordPaths);
    await flushToDisk(this.foldersOf(recordPaths));
  }

  /** The folders from each path's own up to the atlas folder: new folders are entries of their parents. */
  private foldersOf(paths: readonly string[]): Set<string> {
    const folders = new Set<string>();
    const root = this.store.path('.');
    for (const path of paths) {
      for (let folder = dirname(path); folder.length >= root.length && !folders.has(folder); folder = dirname(folder)) {
        folders.add(folder);
        if (folder === root) break;
      }
    }
    return folders;
  }
}

/**
 * Records made durable in group commits through one DurableBatch, for a stage that finishes records
 * one by one (a filter's examples, a filter's connections): one commit in flight, and the records
 * added meanwhile go in the next, so they share its flushes (the folders above all) and the stage
 * never waits for the disk until `flush`. A commit may also flush files of records not added yet:
 * harmless, they are complete files.
 */
export class GroupCommits {
  private readonly batch: DurableBatch;
  private waiting: Array<{ key: string; record: unknown }> = [];
  private chain: Promise<void> = Promise.resolve();
  private failure: { error: unknown } | undefined;

  /** `committed(count)` is called after each commit with its number of records. */
  constructor(store: AtlasStore, private readonly committed?: (count: number) => void) {
    this.batch = store.batch();
  }

  /** Writes a file that a record added later names (see DurableBatch.writeFile). */
  writeFile(relative: string, data: string | Uint8Array): Promise<string> {
    return this.batch.writeFile(relative, data);
  }

  /** Queues a record whose files are written; throws the error of an earlier commit that failed. */
  add(key: string, record: unknown): void {
    if (this.failure) throw this.failure.error;
    this.waiting.push({ key, record });
    this.schedule();
  }

  /** Waits until every record added so far is durable; throws the error of a commit that failed. */
  async flush(): Promise<void> {
    this.schedule();
    await this.chain;
    if (this.failure) throw this.failure.error;
  }

  private schedule(): void {
    this.chain = this.chain.then(async () => {
      if (this.failure || this.waiting.length === 0) return;
      const group = this.waiting;
      this.waiting = [];
      try {
        await this.batch.commit(group);
        this.committed?.(group.length);
      } catch (error) {
        this.failure = { error };
      }
    });
  }
}
