/**
 * The model store: `<output>/model-store/`, beside the atlases, a copy of the weights each atlas was
 * built with, one per weights digest whatever the number of atlases (content-addressed). A nightly
 * that re-exports its model over the same path still has last night's weights here, so `diff` can
 * run the old model on the new pictures (the cross-activation signal, diff/run.ts).
 *
 * An entry is named by the sha256 the model loaders compute (model/digest.ts):
 * - one weights file (ONNX, safetensors): `<digest>.onnx`, `<digest>.safetensors`;
 * - a TensorFlow.js layers model: the folder `<digest>/` with `model.json` and its shards at their
 *   paths relative to model.json (the digest covers the bytes, not the names).
 * Built-in models are not kept: their weights are pinned assets that load again by name.
 * Every copy is checked against the digest before it takes its name, and a name is only ever
 * renamed into place, so an entry that is there is complete; an entry is never rewritten.
 */
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, extname, join, relative, sep } from 'node:path';
import { randomBytes } from 'node:crypto';
import { FilterAtlasError, userError } from '../errors.js';
import { findBuiltin } from '../model/builtins.js';
import { digestFiles } from '../model/digest.js';
import type { CnnModel } from '../model/graph.js';
import { copyFileAtomic } from '../util/fs.js';
import { isPlainRelativePath } from '../util/paths.js';

/** The store's folder name inside the output folder (a reserved atlas id). */
export const MODEL_STORE_FOLDER = 'model-store';

/** The extensions of single-file weights the store keeps, as the loaders recognise them. */
const SINGLE_FILE_EXTENSIONS = ['.onnx', '.safetensors'] as const;
const TFJS_FILE = 'model.json';
const DIGEST = /^[0-9a-f]{64}$/;

export function modelStoreDir(output: string): string {
  return join(output, MODEL_STORE_FOLDER);
}

/** What keepModel did: the entry (added now or already there), or why there is none. */
export type KeptModel = { path: string; added: boolean } | { skipped: string };

/** The entry's files: where each comes from and its path inside the entry folder (tfjs) or the entry name itself. */
interface EntryPlan {
  /** The entry, relative to the store. */
  name: string;
  /** Files of a folder entry, in digest order; absent for a single-file entry. */
  folder?: Array<{ source: string; path: string }>;
  source: string;
}

function planEntry(model: CnnModel): EntryPlan | string {
  const files = model.weightFiles;
  if (!files || files.length === 0) return 'the loader did not say which files hold the weights';
  if (files.length === 1) {
    const extension = extname(files[0]).toLowerCase();
    if (!(SINGLE_FILE_EXTENSIONS as readonly string[]).includes(extension)) return `a ${extension || 'extension-less'} weights file (the store keeps ${SINGLE_FILE_EXTENSIONS.join(', ')} files and TensorFlow.js folders)`;
    return { name: `${model.weightsDigest}${extension}`, source: files[0] };
  }
  // A TensorFlow.js model.json and its shards, whose paths are relative to the model.json's folder.
  const root = dirname(files[0]);
  const folder = files.map((source, i) => ({ source, path: i === 0 ? TFJS_FILE : relative(root, source).split(sep).join('/') }));
  const outside = folder.slice(1).find((f) => !isPlainRelativePath(f.path) || f.path === TFJS_FILE);
  if (outside) return `a weight shard outside the model.json's folder (${outside.source})`;
  return { name: model.weightsDigest, folder, source: files[0] };
}

async function isFile(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isFile() ?? false;
}

const mismatch = (source: string, digest: string, received: string) =>
  userError({
    where: `model store copy of ${source}`,
    expected: `the weights the model was loaded with (sha256 ${digest.slice(0, 12)}...)`,
    received: `sha256 ${received.slice(0, 12)}...: the file changed while it was copied`,
    fix: 'Do not overwrite the model while a build reads it; run the build again.',
  });

/** Copies a TensorFlow.js model into `<store>/<digest>/` through a temporary folder, checked before the rename. */
async function copyFolderEntry(plan: EntryPlan, store: string, digest: string, signal?: AbortSignal): Promise<void> {
  const target = join(store, plan.name);
  const temporary = `${target}.${process.pid}.${randomBytes(4).toString('hex')}.partial`;
  try {
    for (const file of plan.folder!) {
      signal?.throwIfAborted();
      await mkdir(dirname(join(temporary, file.path)), { recursive: true });
      await copyFileAtomic(file.source, join(temporary, file.path));
    }
    const received = await digestFiles(plan.folder!.map((f) => join(temporary, f.path)), signal);
    if (received !== digest) throw mismatch(plan.source, digest, received);
    await rename(temporary, target).catch(async (error: unknown) => {
      // Another build kept the same weights first: its entry is the same bytes.
      if (!(await isFile(join(target, TFJS_FILE)))) throw error;
    });
  } finally {
    await rm(temporary, { recursive: true, force: true });
  }
}

/** Puts the entry of `plan` into the store unless it is there; true when it was added. */
async function placeEntry(plan: EntryPlan, store: string, digest: string, signal?: AbortSignal): Promise<boolean> {
  const target = join(store, plan.name);
  if (await isFile(plan.folder ? join(target, TFJS_FILE) : target)) return false;
  if (plan.folder) {
    await copyFolderEntry(plan, store, digest, signal);
    return true;
  }
  await copyFileAtomic(plan.source, target, async (temporary) => {
    const received = await digestFiles([temporary], signal);
    if (received !== digest) throw mismatch(plan.source, digest, received);
  });
  return true;
}

/**
 * Keeps the weights of `model` (loaded from `spec`) in `<output>/model-store/` unless an entry of
 * their digest is there already.
 */
export async function keepModel(model: CnnModel, spec: string, output: string, signal?: AbortSignal): Promise<KeptModel> {
  if (findBuiltin(spec)) return { skipped: `${spec} is a built-in model: its pinned weights load again by name` };
  const plan = planEntry(model);
  if (typeof plan === 'string') return { skipped: plan };
  const store = modelStoreDir(output);
  try {
    const added = await placeEntry(plan, store, model.weightsDigest, signal);
    return { path: join(store, plan.name, plan.folder ? TFJS_FILE : ''), added };
  } catch (error) {
    // The store serves later diffs: a read-only or full disk, or a model overwritten mid-copy, is said, not fatal.
    if (error instanceof FilterAtlasError) return { skipped: firstLine(error.message) };
    throw error;
  }
}

const firstLine = (message: string) => message.split('\n')[0];

/** keepModel, said in one line for the build's log (nothing when the entry was already there). */
export function describeKept(kept: KeptModel): string | undefined {
  if ('skipped' in kept) return kept.skipped.includes('built-in') ? undefined : `model store: weights not kept (${kept.skipped}); a diff of this atlas will need the model file itself`;
  return kept.added ? `model store: weights kept at ${kept.path}` : undefined;
}

/**
 * The store entry of `digest` in `<output>/model-store/` as a model spec loadModel reads (the .onnx
 * or .safetensors file, or the folder's model.json); undefined when there is none. `digest` comes from
 * an atlas.json, so anything but 64 hex digits finds nothing.
 */
export async function findStoredModel(output: string, digest: string): Promise<string | undefined> {
  if (!DIGEST.test(digest)) return undefined;
  const store = modelStoreDir(output);
  for (const extension of SINGLE_FILE_EXTENSIONS) {
    const file = join(store, `${digest}${extension}`);
    if (await isFile(file)) return file;
  }
  const modelJson = join(store, digest, TFJS_FILE);
  return (await isFile(modelJson)) ? modelJson : undefined;
}

/**
 * The plan of copying a store entry found by findStoredModel elsewhere: a single file, or a folder's
 * model.json and the shards its weightsManifest lists, in that (the digest's) order.
 */
async function storedEntryPlan(found: string, digest: string): Promise<EntryPlan> {
  if (!found.endsWith(`${sep}${TFJS_FILE}`)) return { name: `${digest}${extname(found).toLowerCase()}`, source: found };
  const root = dirname(found);
  let paths: string[];
  try {
    const manifest = (JSON.parse(await readFile(found, 'utf8')) as { weightsManifest?: Array<{ paths?: unknown }> }).weightsManifest ?? [];
    paths = manifest.flatMap((group) => (Array.isArray(group.paths) ? group.paths.map(String) : []));
  } catch (error) {
    throw userError({ where: found, expected: 'a readable TensorFlow.js model.json in the model store', received: error instanceof Error ? error.message : String(error) }, error);
  }
  const bad = paths.find((path) => !isPlainRelativePath(path));
  if (bad !== undefined) throw userError({ where: `${found} weightsManifest`, expected: 'shard paths inside the entry folder', received: JSON.stringify(bad) });
  return { name: digest, source: found, folder: [{ source: found, path: TFJS_FILE }, ...paths.map((path) => ({ source: join(root, path), path }))] };
}

/**
 * Copies the store entry of `digest` from the first of `from` (output folders, e.g. the shards' own)
 * that has one into `<output>/model-store/`, checked against the digest (merge gathers a sharded
 * build's weights this way). Undefined when no folder has it; `skipped` when a copy failed.
 */
export async function gatherStoredModel(digest: string, from: readonly string[], output: string, signal?: AbortSignal): Promise<KeptModel | undefined> {
  const present = await findStoredModel(output, digest);
  if (present) return { path: present, added: false };
  for (const folder of from) {
    const found = await findStoredModel(folder, digest);
    if (!found) continue;
    try {
      const plan = await storedEntryPlan(found, digest);
      const added = await placeEntry(plan, modelStoreDir(output), digest, signal);
      return { path: join(modelStoreDir(output), plan.name, plan.folder ? TFJS_FILE : ''), added };
    } catch (error) {
      if (error instanceof FilterAtlasError) return { skipped: `${found}: ${firstLine(error.message)}` };
      throw error;
    }
  }
  return undefined;
}
