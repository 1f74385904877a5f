/**
 * URL path segments for atlas ids and layer names. Layer names come from the model's source
 * (`conv2d_12`, `features.40`, ONNX names like `/features/features.0/Conv_output_0`), so they are
 * turned into safe, lower-case segments (case-insensitive file systems would merge `Conv1` and
 * `conv1` in dist/) and made unique; names that collide with the site's own routes get a suffix.
 */

/** Root-level segments the site uses itself (atlas ids must avoid them). */
export const RESERVED_ROOT = ['search', 'diffs', 'histories', 'files', 'pagefind', '_astro', '404', 'favicon.svg', 'ort'] as const;
/** Segments inside an atlas that are not layers. */
export const RESERVED_IN_ATLAS = ['probes', 'probe'] as const;

/** A readable, safe path segment: letters, digits, `.`, `_`, `-`; never empty, never `.`/`..`. */
export function slugify(name: string): string {
  const slug = name
    .normalize('NFKD')
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/-{2,}/g, '-')
    // Leading/trailing dots or dashes make hidden files or ugly URLs.
    .replace(/^[.-]+|[.-]+$/g, '');
  return slug === '' ? 'x' : slug;
}

/**
 * Maps every name to a unique slug, in order: the first name keeps the plain slug, later
 * collisions get `-2`, `-3`... A reserved slug gets a `-1` suffix so it never shadows a route.
 */
export function assignSlugs(names: readonly string[], reserved: readonly string[] = []): Map<string, string> {
  const taken = new Set<string>(reserved);
  const result = new Map<string, string>();
  for (const name of names) {
    if (result.has(name)) continue;
    const base = slugify(name);
    let slug = base;
    for (let n = reserved.includes(base) ? 1 : 2; taken.has(slug); n++) slug = `${base}-${n}`;
    taken.add(slug);
    result.set(name, slug);
  }
  return result;
}
