/**
 * Values given outside the config file that replace its `model`, `atlas` and `title` (`build --model
 * PATH --atlas ID --title TEXT`: one config, many model versions). Each passes the schema of the field
 * it replaces (schema.ts), and its errors name where it came from (the flag) instead of a config line.
 * load.ts puts the checked values in place of the fields before the config is parsed, so everything
 * after that (defaults, the title made from the model, record keys) treats them as if written there.
 */
import type { z } from 'zod';
import { FilterAtlasError, userError } from '../errors.js';
import { describeIssues } from './issues.js';
import { atlasIdSchema, configSchema, isReservedAtlasId, RESERVED_ATLAS_IDS } from './schema.js';

/** One replacement value and where it came from, e.g. `{ value: 'mymodel.onnx', where: '--model' }`. */
export interface ConfigOverride {
  value: string;
  where: string;
}

/**
 * The config fields a command may replace. `model` is a built-in name or a path relative to the
 * current folder (not to the config file: it was typed where the command runs).
 */
export interface ConfigOverrides {
  model?: ConfigOverride;
  atlas?: ConfigOverride;
  title?: ConfigOverride;
}

/** The rule of each replaceable field, as `configSchema` applies it to the field written in a file. */
const FIELD_SCHEMAS = {
  model: configSchema.shape.model,
  atlas: atlasIdSchema,
  title: configSchema.shape.title,
} as const satisfies Record<keyof ConfigOverrides, z.ZodType>;

/**
 * Checks every override against its field's schema (the same messages as a config field's, with the
 * flag in place of "file:line: field") and the atlas id against the reserved ids. Throws the first problem.
 */
export function checkOverrides(overrides: ConfigOverrides): void {
  for (const field of ['model', 'atlas', 'title'] as const) {
    const override = overrides[field];
    if (override === undefined) continue;
    const schema = FIELD_SCHEMAS[field];
    const result = schema.safeParse(override.value);
    if (!result.success) {
      const [problem] = describeIssues(result.error.issues, schema, override.value, [override.where]);
      throw new FilterAtlasError(problem.text);
    }
  }
  const atlas = overrides.atlas;
  if (atlas && isReservedAtlasId(atlas.value)) {
    throw userError({
      where: atlas.where,
      expected: `an atlas id other than ${RESERVED_ATLAS_IDS.map((id) => JSON.stringify(id)).join(', ')}`,
      received: JSON.stringify(atlas.value),
      fix: '<output>/diffs, <output>/histories and <output>/model-store hold other things, so the site would skip this atlas. Give another id.',
    });
  }
}

/** The config as written with the overrides in place of its fields (a config that is not a mapping is left to the schema's error). */
export function applyOverrides(input: unknown, overrides: ConfigOverrides): unknown {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return input;
  const replaced: Record<string, unknown> = { ...(input as Record<string, unknown>) };
  for (const field of ['model', 'atlas', 'title'] as const) {
    const override = overrides[field];
    if (override !== undefined) replaced[field] = override.value;
  }
  return replaced;
}
