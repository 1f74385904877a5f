/**
 * `filter-atlas visualize <model> --layer L --filters 0,5,9`: the visualisation of some filters by the
 * article's method (default) or the lucid one (`--method lucid`), one PNG each
 * (<out>/<model>-<layer>-<filter>.png); --json prints one line per filter.
 */
import { Option } from 'commander';
import { join } from 'node:path';
import { describeValue, userError } from '../../errors.js';
import type { EngineName } from '../../engine/engine.js';
import type { MethodParams } from '../../schema/article-params.js';
import type { AtlasFilter } from '../../schema/atlas.js';
import { safeFileName } from '../../util/file-names.js';
import { num } from '../../util/number-format.js';
import { isDeadInLayer, layerActivationScale } from '../../visualize/quality.js';
import { announceDevice, deviceEngineOptions, deviceOption, verboseOption, type DeviceFlags } from './device-flags.js';
import type { Method, MethodKind } from '../../schema/method.js';
import type { DefineCommand } from './define.js';
import { deprecatedOut, outputFlag } from './output-flag.js';

interface VisualizeFlags extends DeviceFlags {
  layer: string;
  filters: string;
  arch?: 'vgg16_bn' | 'vgg16';
  output: string;
  /** Deprecated spelling of --output. */
  out?: string;
  seed: string;
  engine: EngineName;
  batch?: string;
  scales?: string;
  steps?: string;
  size?: string;
  upscale?: string;
  lr?: string;
  weightDecay?: string;
  blur?: string;
  noise?: string;
  space?: 'imagenet' | 'model';
  clip: boolean;
  method: MethodKind;
  objective?: 'channel' | 'neuron';
  diversity?: string;
  json?: boolean;
}

/** Method flags and the parameter each overrides (for parsing and for error messages). */
const METHOD_FLAGS = [
  ['scales', '--scales', 'scales'],
  ['steps', '--steps', 'stepsPerScale'],
  ['size', '--size', 'startSize'],
  ['upscale', '--upscale', 'upscale'],
  ['lr', '--lr', 'learningRate'],
  ['weightDecay', '--weight-decay', 'weightDecay'],
  ['blur', '--blur', 'blurSize'],
] as const;

function number(flag: string, text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value)) throw userError({ where: flag, expected: 'a number', received: describeValue(text) });
  return value;
}

/** A non-negative integer flag (seed, batch size). */
export function parseCount(flag: string, text: string, min = 0): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < min) {
    throw userError({ where: flag, expected: `an integer >= ${min}`, received: describeValue(text) });
  }
  return value;
}

/** The method parameters from the defaults and the flags given; zod's complaint is reported against the flag. */
export async function methodFromFlags(flags: Partial<VisualizeFlags>): Promise<MethodParams> {
  const { methodParamsSchema, noiseLevelsSchema } = await import('../../schema/article-params.js');
  const overrides: Record<string, unknown> = {};
  for (const [key, flag, field] of METHOD_FLAGS) {
    const text = flags[key];
    if (text !== undefined) overrides[field] = number(flag, text);
  }
  if (flags.noise !== undefined) {
    // The same unit as the config's `noise`: grey levels from 0 to 255.
    const levels = flags.noise.split(',').map((v) => (v.trim() === '' ? Number.NaN : Number(v)));
    const parsed = noiseLevelsSchema.safeParse(levels);
    if (!parsed.success || levels.some((v) => !Number.isFinite(v))) {
      const why = parsed.success ? 'expected two grey levels' : parsed.error.issues[0].message;
      throw userError({ where: '--noise', expected: `${why.replace(/^expected /, '').replace(/\[low, high\]/, '"low,high"').replace(/\[150, 180\]/, '150,180')}`, received: describeValue(flags.noise) });
    }
    overrides.noise = parsed.data;
  }
  if (flags.space !== undefined) overrides.space = flags.space;
  if (flags.clip === false) overrides.clipBetweenScales = false;
  const parsed = methodParamsSchema.safeParse(overrides);
  if (parsed.success) return parsed.data;
  // The schema's messages read "expected ..."; report them against the flag the user typed.
  const issue = parsed.error.issues[0];
  const field = String(issue.path[0] ?? '');
  const flag = METHOD_FLAGS.find(([, , f]) => f === field);
  throw userError({
    where: flag?.[1] ?? field,
    expected: issue.message.replace(/^expected /, ''),
    received: flag ? describeValue(flags[flag[0]]) : describeValue(overrides[field]),
  });
}

/** Flags of the article's schedule only: given with `--method lucid` they would be silently ignored, so they are refused. */
const ARTICLE_ONLY = [
  ['scales', '--scales'],
  ['upscale', '--upscale'],
  ['weightDecay', '--weight-decay'],
  ['blur', '--blur'],
  ['noise', '--noise'],
  ['space', '--space'],
] as const;

/** Flags of the lucid method and the parameter each sets; --steps, --size and --lr mean the lucid fields here. */
const LUCID_FLAGS = [
  ['steps', '--steps', 'steps'],
  ['size', '--size', 'size'],
  ['lr', '--lr', 'learningRate'],
] as const;

/** The lucid parameters from Lucid's defaults and the flags given. */
export async function lucidFromFlags(flags: Partial<VisualizeFlags>): Promise<Method> {
  const { lucidParamsSchema } = await import('../../schema/lucid-params.js');
  for (const [key, flag] of ARTICLE_ONLY) {
    if (flags[key] !== undefined) throw userError({ where: flag, expected: 'a flag of the lucid method (--steps, --size, --lr, --objective, --diversity)', received: `${flag}, a flag of the article's schedule`, fix: `Drop ${flag}, or use --method article.` });
  }
  if (flags.clip === false) throw userError({ where: '--no-clip', expected: 'a flag of the lucid method', received: "--no-clip, a flag of the article's schedule (lucid pictures never leave [0, 1]: a sigmoid)", fix: 'Drop --no-clip.' });
  const overrides: Record<string, unknown> = {};
  for (const [key, flag, field] of LUCID_FLAGS) {
    const text = flags[key];
    if (text !== undefined) overrides[field] = number(flag, text);
  }
  if (flags.objective !== undefined) overrides.objective = flags.objective;
  if (flags.diversity !== undefined) overrides.diversity = { layer: flags.diversity };
  const parsed = lucidParamsSchema.safeParse(overrides);
  if (parsed.success) return { kind: 'lucid', params: parsed.data };
  const issue = parsed.error.issues[0];
  const field = String(issue.path[0] ?? '');
  const flag = LUCID_FLAGS.find(([, , f]) => f === field);
  throw userError({ where: flag?.[1] ?? `--${field}`, expected: issue.message.replace(/^expected /, ''), received: flag ? describeValue(flags[flag[0]]) : describeValue(overrides[field]) });
}

/** The method the flags ask for: the article's (default) or lucid. */
export async function methodOfFlags(flags: Partial<VisualizeFlags>): Promise<Method> {
  return flags.method === 'lucid' ? lucidFromFlags(flags) : { kind: 'article', params: await methodFromFlags(flags) };
}

const DEFAULT_OUTPUT = join('output', 'visualize');

/** The file of one filter's picture: `<model>-<layer>` by the file-name rule (ONNX names may hold slashes), then the filter. */
export function pictureFileName(model: string, layer: string, filter: number): string {
  return `${safeFileName(`${model}-${layer}`)}-${filter}.png`;
}

export const defineVisualizeCommand: DefineCommand = (program) => {
  program
    .command('visualize')
    .description("Visualise filters with the article's method (multi-scale gradient ascent from noise) or the lucid one (--method lucid): one PNG per filter")
    .argument('<model>', 'built-in model name, or a path to .onnx, model.json or .safetensors (with --arch)')
    .requiredOption('--layer <name>', 'layer name or index (see `filter-atlas layers <model>`)')
    .requiredOption('--filters <list>', 'filter indices: "0,5,9", ranges "0-7,12" or "all"')
    .addOption(new Option('--arch <arch>', 'architecture of a .safetensors file').choices(['vgg16_bn', 'vgg16']))
    .option('--output <dir>', 'output folder', DEFAULT_OUTPUT)
    .addOption(deprecatedOut())
    .option('--seed <n>', 'seed of the start noise (same seed + engine + batch = same image)', '0')
    .addOption(new Option('--engine <engine>', 'numerical engine').choices(['ort', 'tfjs']).default('ort'))
    .addOption(deviceOption())
    .addOption(verboseOption())
    .option('--batch <n>', "filters optimised together (default: what fits in build's default 1024 MiB at the final size, so build and visualize cut the same batches)")
    .addOption(new Option('--method <kind>', 'article: multi-scale ascent on pixels; lucid: Fourier + decorrelated colour + sigmoid, transforms every step').choices(['article', 'lucid']).default('article'))
    .option('--scales <n>', 'number of scales (article: 12)')
    .option('--steps <n>', 'Adam steps per scale (article: 20); with --method lucid, all steps (default 128; Lucid: 512)')
    .option('--size <px>', 'start image size (article: 56); with --method lucid, the picture size (224)')
    .option('--upscale <f>', 'size factor between scales (article: 1.2)')
    .option('--lr <f>', 'Adam learning rate (article: 0.1; Lucid: 0.05)')
    .option('--weight-decay <f>', 'Adam L2 weight decay (article: 1e-6)')
    .option('--blur <k>', 'box blur size between scales, 0 = none (article: 5)')
    .option('--noise <low,high>', 'start noise grey levels (article: 150,180)')
    .addOption(new Option('--space <space>', 'optimise ImageNet-normalised pixels or the model input').choices(['imagenet', 'model']))
    .option('--no-clip', 'do not clip the image to [0, 1] between scales (the article does not)')
    .addOption(new Option('--objective <what>', "lucid: the channel's spatial mean or its centre unit").choices(['channel', 'neuron']))
    .option('--diversity <layer>', 'lucid: 4 images per filter pushed apart by a diversity penalty on this layer (weight 100)')
    .option('--json', 'print one JSON line per filter: {"model","layer","filter","activation","seconds","image","engine","device","status"}')
    .action(async (modelSpec: string, flags: VisualizeFlags) => {
      const seed = parseCount('--seed', flags.seed);
      const batchFlag = flags.batch === undefined ? undefined : parseCount('--batch', flags.batch, 1);
      if (flags.method !== 'lucid' && (flags.objective !== undefined || flags.diversity !== undefined)) {
        throw userError({ where: flags.objective !== undefined ? '--objective' : '--diversity', expected: 'a flag of the article method', received: 'a flag of the lucid method', fix: 'Add --method lucid.' });
      }
      const method = await methodOfFlags(flags);
      const output = outputFlag(flags, DEFAULT_OUTPUT)!;
      const [{ loadModel }, { createEngine }, { findLayer }, { resolveFilters }, { sweepFilters }, { planBatchSize }, { describe: describeMethod }] =
        await Promise.all([
          import('../../model/load.js'),
          import('../../engine/create.js'),
          import('../../model/layers.js'),
          import('../../config/filters.js'),
          import('../../visualize/sweep.js'),
          import('../../visualize/batch-plan.js'),
          import('../../schema/method.js'),
        ]);
      const [{ encodePng }, { writeFileAtomic }, { createProgress }] = await Promise.all([
        import('../../render/images.js'),
        import('../../util/fs.js'),
        import('../../util/progress.js'),
      ]);
      const controller = new AbortController();
      const interrupt = (): void => controller.abort();
      process.once('SIGINT', interrupt);
      try {
        const model = await loadModel(modelSpec, { ...(flags.arch ? { arch: flags.arch } : {}), signal: controller.signal });
        const { node, channels } = findLayer(model, flags.layer);
        const filters = resolveFilters(flags.filters, channels, `--filters for layer ${JSON.stringify(flags.layer)}`);
        if (method.kind === 'lucid' && method.params.diversity) {
          method.params.diversity.layer = findLayer(model, method.params.diversity.layer).node.name;
        }
        // build's rule and default budget: the same seed then gives the same batches and the same pictures.
        const batchSize = Math.min(planBatchSize(model, node.name, method, { size: batchFlag ?? 'auto' }), filters.length);
        const progress = createProgress(`visualize ${model.name} ${flags.layer}`, filters.length);
        const engine = await createEngine(model, { engine: flags.engine, ...deviceEngineOptions(flags, (line) => progress.log(line)) });
        announceDevice(engine.info, (line) => progress.log(line));
        progress.log(`${filters.length} filter(s), batches of ${batchSize}, ${engine.info.device}. ${describeMethod(method)}`);
        const written: Array<{ filter: number; status: AtlasFilter['status']; activation: number; start: number; seconds: number; image: string | null }> = [];
        try {
          await sweepFilters(engine, {
            layer: node.name,
            channels,
            filters,
            method,
            seed,
            batchSize,
            signal: controller.signal,
            preprocessing: model.preprocessing,
            onResult: async (result) => {
              let image: string | null = null;
              if (result.image) {
                image = join(output, pictureFileName(model.name, flags.layer, result.filter));
                await writeFileAtomic(image, await encodePng(result.image));
              }
              if (result.status !== 'ok') progress.log(`filter ${result.filter}: ${result.status}${result.flags.diverged ? ' (diverged)' : ''}`);
              written.push({ filter: result.filter, status: result.status, activation: result.activation, start: result.startActivation, seconds: result.seconds, image });
              if (flags.json) {
                const line = { model: model.name, layer: flags.layer, filter: result.filter, activation: result.activation, seconds: result.seconds, image, engine: engine.info.name, device: engine.info.deviceKind, status: result.status };
                process.stdout.write(JSON.stringify(line) + '\n');
              }
            },
            // A batch's filters finish together: count them together, so the rate and ETA are in filters per second.
            onBatch: (filtersInBatch) => progress.tick(filtersInBatch),
          });
        } finally {
          progress.stop();
          await engine.dispose();
        }
        if (!flags.json) {
          // Dead relative to the layer, as an atlas judges it (quality.ts), over the filters of this run.
          const objectives = written.map((w) => ({ status: w.status, startActivation: w.start, activation: w.activation }));
          const scale = layerActivationScale(objectives);
          for (const [i, w] of written.entries()) {
            const numbers = w.status === 'failed' ? 'failed (NaN twice)' : `activation ${num(w.activation, 4)} (start ${num(w.start, 4)})`;
            process.stdout.write(`filter ${String(w.filter).padStart(4)}: ${numbers}, ${w.seconds.toFixed(2)} s${w.image ? `  ${w.image}` : ''}${isDeadInLayer(objectives[i], scale) ? '  [dead]' : ''}\n`);
          }
        }
      } finally {
        process.removeListener('SIGINT', interrupt);
      }
    });
};
