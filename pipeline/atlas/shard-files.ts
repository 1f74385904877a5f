/**
 * Reading records and files from folders `merge` did not write (shards' folders from CI artifacts or
 * a shared volume), as hostile input:
 * - a record key must be one keys.ts makes, every file a record names a plain relative path under
 *   files/ (records.ts isRecordFile): anything else is refused, as no build writes it;
 * - the record and every file are opened without following a link (util/open-inside.ts): a link, a
 *   folder or a special file where build writes a regular file is refused;
 * - every file passes verify-files.ts and the exact size its record implies (a means array, the probe
 *   model's `bytes`): one that does not is a damaged copy (a transfer cut it short), skipped for the
 *   next folder's copy or reported missing, as before. Records hold no digest of their files' bytes,
 *   so that is all that can be checked of the content;
 * - a file taken is linked or copied from the inode that was verified (fs.ts placeVerifiedFile).
 */
import { join } from 'node:path';
import type { z } from 'zod';
import { userError } from '../errors.js';
import { placeVerifiedFile } from '../util/fs.js';
import { openInside, readAll, sameInode, type FileIdentity, type Opened } from '../util/open-inside.js';
import type { RecordFile, RecordReader } from './assembly-inputs.js';
import { RECORD_KEY_PATTERN } from './keys.js';
import { isRecordFile } from './records.js';
import type { AtlasStore } from './store.js';
import { openFileProblem } from './verify-files.js';

export interface Source {
  store: AtlasStore;
  /** Real path of the folder: what opened files are checked against, and how the output is recognised among the sources. */
  real: string;
}

interface Verified {
  /** Atlas-relative. */
  file: string;
  identity: FileIdentity;
}

export interface Found {
  source: Source;
  /** The record's files, then the record itself: the order they are placed in. */
  files: Verified[];
}

const REFUSED_FIX =
  'No build writes this: rebuild the shard into a fresh folder (`filter-atlas build <config> --shard K/N`), or leave the folder out of the merge (its work is then reported missing).';

function refused(source: Source, record: string, file: string, why: string): Error {
  return userError({
    where: `${source.store.dir}/${record}`,
    expected: 'a record whose files are regular files under files/ of its atlas folder, named by plain relative paths and reached without links',
    received: `${JSON.stringify(file)}: ${why}`,
    fix: REFUSED_FIX,
  });
}

async function closing<T>(opened: Opened, use: (handle: Extract<Opened, { kind: 'file' }>) => Promise<T>): Promise<T> {
  if (opened.kind !== 'file') throw new Error('closing() needs an opened file');
  try {
    return await use(opened);
  } finally {
    await opened.handle.close();
  }
}

/** Record lookups across the sources (the first sound copy wins), with the damaged copies met on the way. */
export class Finder implements RecordReader {
  readonly problems: string[] = [];
  verified = 0;
  private readonly hits = new Map<string, Found>();
  constructor(readonly sources: readonly Source[]) {}

  /** Where the record of `key` was taken from, once read. */
  found(key: string): Found | undefined {
    return this.hits.get(key);
  }

  async read<S extends z.ZodType>(key: string, schema: S, files: (record: z.infer<S>) => RecordFile[], accept: (record: z.infer<S>) => boolean = () => true): Promise<z.infer<S> | undefined> {
    const recordFile = `records/${key}.json`;
    if (!RECORD_KEY_PATTERN.test(key)) throw refused(this.sources[0], 'records', recordFile, 'not a record key (<kind>-<20 hex digits>)');
    for (const source of this.sources) {
      const opened = await openInside(source.real, recordFile);
      if (opened.kind === 'missing') continue;
      if (opened.kind === 'refused') throw refused(source, recordFile, recordFile, opened.why);
      const text = await closing(opened, (file) => readAll(file.handle, file.identity.size));
      let record: z.infer<S>;
      try {
        const parsed = schema.safeParse(JSON.parse(text.toString('utf8')));
        if (!parsed.success) continue;
        record = parsed.data;
      } catch {
        continue;
      }
      if (!accept(record)) continue;
      const verified = await this.verify(source, recordFile, files(record));
      if (verified === undefined) continue;
      this.hits.set(key, { source, files: [...verified, { file: recordFile, identity: opened.identity }] });
      return record;
    }
    return undefined;
  }

  /** The files of a record, each verified; undefined (and a problem noted) when one is missing or damaged. */
  private async verify(source: Source, recordFile: string, named: RecordFile[]): Promise<Verified[] | undefined> {
    const verified: Verified[] = [];
    for (const { file, bytes } of named) {
      if (!isRecordFile(file)) throw refused(source, recordFile, file, 'not a plain relative path under files/');
      this.verified += 1;
      const opened = await openInside(source.real, file);
      if (opened.kind === 'refused') throw refused(source, recordFile, file, opened.why);
      const problem = opened.kind === 'missing' ? 'missing' : await closing(opened, (f) => openFileProblem(f.handle, file, { bytes }));
      if (problem) {
        this.problems.push(`${source.store.dir}: ${recordFile} names ${file}, which is ${problem}`);
        return undefined;
      }
      if (opened.kind === 'file') verified.push({ file, identity: opened.identity });
    }
    return verified;
  }
}

/**
 * Links or copies a found record's files, then the record, into `dest` (its presence marks the
 * artifact complete, as in build), each from the inode that was verified: a file replaced since is
 * refused. `placed` holds the files already placed (thumbnails shared by filters), and gets these.
 */
export async function placeFound(found: Found, dest: AtlasStore, placed: Set<string>, signal?: AbortSignal): Promise<void> {
  for (const { file, identity } of found.files) {
    if (placed.has(file)) continue;
    signal?.throwIfAborted();
    const opened = await openInside(found.source.real, file);
    if (opened.kind !== 'file' || !sameInode(opened.identity, identity)) {
      if (opened.kind === 'file') await opened.handle.close();
      throw refused(found.source, file, file, 'replaced while merge read it');
    }
    await closing(opened, (verified) => placeVerifiedFile(join(found.source.real, file), verified, dest.path(file)));
    placed.add(file);
  }
}
