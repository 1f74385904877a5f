/**
 * One error type and one message builder for everything a user can get wrong:
 * what was expected, where (file / field / flag), what was received, how to fix it.
 */
export interface ErrorParts {
  /** What the program expected, e.g. "a positive integer". */
  expected: string;
  /** Where: a file, a config field, a CLI flag, a model node. */
  where: string;
  /** What it got instead (already formatted). */
  received?: string;
  /** How to fix it, when there is a useful hint. */
  fix?: string;
}

export class FilterAtlasError extends Error {
  override readonly name = 'FilterAtlasError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export function formatError(parts: ErrorParts): string {
  let message = `${parts.where}: expected ${parts.expected}`;
  if (parts.received !== undefined) message += `, received ${parts.received}`;
  if (parts.fix) message += `. ${parts.fix}`;
  return message;
}

export function userError(parts: ErrorParts, cause?: unknown): FilterAtlasError {
  return new FilterAtlasError(formatError(parts), cause === undefined ? undefined : { cause });
}

/** Formats any value for an error message: short, typed, never "[object Object]". */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? value.slice(0, 77) + '...' : value);
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'number' || typeof value === 'boolean') return `${value} (${typeof value})`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  return typeof value;
}
