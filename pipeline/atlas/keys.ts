import { createHash } from 'node:crypto';

/** JSON with sorted object keys, so equal content always hashes the same. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/**
 * Content key of an artifact: a hash of everything that determines it. Bump the version
 * when the code that produces an artifact changes its result, so old artifacts are not reused.
 */
export function contentKey(kind: string, parts: Record<string, unknown>): string {
  return `${kind}-${createHash('sha256').update(canonicalJson({ v: 1, kind, ...parts })).digest('hex').slice(0, 20)}`;
}
