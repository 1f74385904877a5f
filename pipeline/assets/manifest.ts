/**
 * Named assets: each is a list of files with a pinned upstream URL and a sha256, stored as
 * JSON data in ./manifests/ (generated from the mirror's SHA256SUMS and SOURCES.md).
 * The schema is checked when a manifest is read, so a hand edit that breaks it fails loudly.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { userError } from '../errors.js';

export const assetNames = ['darknet-tiny', 'mobilenet-v1-0.25', 'vgg16_bn', 'imagenet-sample', 'photos'] as const;
export type AssetName = (typeof assetNames)[number];

export function isAssetName(value: unknown): value is AssetName {
  return typeof value === 'string' && (assetNames as readonly string[]).includes(value);
}

/** A relative POSIX path without `..`, absolute parts or empty segments: it is joined under the cache. */
const safeRelativePath = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith('/') && !p.includes('\\') && p.split('/').every((s) => s !== '' && s !== '.' && s !== '..'), {
    message: 'must be a relative path inside the asset folder',
  });

const assetFileSchema = z.object({
  /** Path inside the asset folder (cache and mirror). */
  path: safeRelativePath,
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** Size in bytes, when known: checked before hashing and shown by `fetch`. */
  bytes: z.number().int().nonnegative().optional(),
  /** Pinned upstream address (used when no mirror is set). */
  url: z.string().url(),
  /**
   * The published file is the first N lines of the upstream file (darknet's label lists are
   * the first 1000 lines of its 21k-line lists); the hash is of the result.
   */
  firstLines: z.number().int().positive().optional(),
  /** The published file is built from the upstream file by a named derivation (see derive.ts). */
  derive: z.enum(['imagenet-classes-tsv']).optional(),
});

const manifestSchema = z.object({
  /** Built-in manifests use AssetName; tests use their own names. */
  name: z.string().regex(/^[\w.-]+$/),
  kind: z.enum(['model', 'dataset', 'photos']),
  description: z.string().min(1),
  license: z.string().min(1),
  /** Sub-folder of a mirror laid out like the shared assets folder, with a trailing slash. */
  mirrorPath: z
    .string()
    .regex(/^(?:[\w.-]+\/)+$/, 'must be a relative folder path ending with "/"')
    .refine((p) => !p.split('/').some((s) => s === '.' || s === '..'), 'must not contain "." or ".." segments'),
  files: z.array(assetFileSchema).min(1),
});

export type AssetFile = z.infer<typeof assetFileSchema>;
export type AssetManifest = z.infer<typeof manifestSchema>;

/** Parses and validates one manifest; `where` names its source in errors. */
export function parseManifest(data: unknown, where: string): AssetManifest {
  const parsed = manifestSchema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw userError({
      where: `${where} (${issue?.path.join('.') || 'root'})`,
      expected: 'a valid asset manifest',
      received: issue?.message ?? 'invalid data',
      fix: 'Regenerate the manifest from the mirror SHA256SUMS; do not edit it by hand.',
    });
  }
  const seen = new Set<string>();
  for (const file of parsed.data.files) {
    if (seen.has(file.path)) throw userError({ where, expected: 'each file listed once', received: `${file.path} twice` });
    seen.add(file.path);
  }
  return parsed.data;
}

/** Reads built-in manifests from ./manifests/ (synchronous and small; pass the names needed to skip the rest). */
export function builtinManifests(names: readonly AssetName[] = assetNames): Map<string, AssetManifest> {
  const manifests = new Map<string, AssetManifest>();
  for (const name of names) {
    const url = new URL(`./manifests/${name}.json`, import.meta.url);
    const data: unknown = JSON.parse(readFileSync(url, 'utf8'));
    const manifest = parseManifest(data, `pipeline/assets/manifests/${name}.json`);
    if (manifest.name !== name) {
      throw userError({ where: url.pathname, expected: `"name": "${name}"`, received: JSON.stringify(manifest.name) });
    }
    manifests.set(name, manifest);
  }
  return manifests;
}
