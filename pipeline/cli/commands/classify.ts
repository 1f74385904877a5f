/**
 * `filter-atlas classify <model> <image...>`: top classes per image with the model's own
 * head. With --evaluate <folder> it scores a folder of `<wnid>_<name>.JPEG` images instead
 * (top-1 / top-5), e.g. the ImageNet sample. An unreadable image is reported on stderr and the
 * others go on; the exit code is then 1.
 */
import { Option } from 'commander';
import { userError } from '../../errors.js';
import type { EngineName } from '../../engine/engine.js';
import type { Preprocessing } from '../../model/graph.js';
import { announceDevice, deviceEngineOptions, deviceOption, verboseOption, type DeviceFlags } from './device-flags.js';
import type { DefineCommand } from './define.js';

interface ClassifyFlags extends DeviceFlags {
  arch?: 'vgg16_bn' | 'vgg16';
  top: string;
  batch: string;
  json?: boolean;
  engine: EngineName;
  resize?: Preprocessing['resize'];
  evaluate?: string;
  limit?: string;
}

function positiveInteger(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) throw userError({ where: flag, expected: 'a positive integer', received: JSON.stringify(value) });
  return number;
}

export const defineClassifyCommand: DefineCommand = (program) => {
  program
    .command('classify')
    .description("Classify photos with a model's own output layer (top classes and probabilities), or score a labelled folder with --evaluate.")
    .argument('<model>', 'built-in model name, or a path to .onnx, model.json or .safetensors (with --arch)')
    .argument('[image...]', 'JPEG, PNG or WebP photos')
    .addOption(new Option('--arch <arch>', 'architecture of a .safetensors file').choices(['vgg16_bn', 'vgg16']))
    .option('--top <k>', 'classes to show per image', '5')
    .option('--batch <n>', 'images per engine call', '8')
    .option('--json', 'one JSON object per line per image: {"image","top":[{"index","label","prob"}]}')
    .addOption(new Option('--engine <engine>', 'numerical engine').choices(['ort', 'tfjs']).default('ort'))
    .addOption(deviceOption())
    .addOption(verboseOption())
    .addOption(new Option('--resize <mode>', "override how images reach the model's input size").choices(['stretch', 'center-crop']))
    .option('--evaluate <folder>', 'top-1 / top-5 accuracy over a folder of <wnid>_<name>.JPEG images')
    .option('--limit <n>', 'with --evaluate: only the first n images')
    .action(async (modelSpec: string, images: string[], flags: ClassifyFlags) => {
      const top = positiveInteger(flags.top, '--top')!;
      const batch = positiveInteger(flags.batch, '--batch')!;
      const limit = positiveInteger(flags.limit, '--limit');
      if ((images.length === 0) === (flags.evaluate === undefined)) {
        throw userError({
          where: 'classify arguments',
          expected: 'either image paths or --evaluate <folder>',
          received: images.length === 0 ? 'neither' : 'both',
          fix: 'For example: filter-atlas classify darknet-tiny photo.jpg',
        });
      }
      const [{ loadModel }, { createEngine }] = await Promise.all([import('../../model/load.js'), import('../../engine/create.js')]);
      const model = await loadModel(modelSpec, {
        ...(flags.arch ? { arch: flags.arch } : {}),
        ...(flags.resize ? { preprocessing: { resize: flags.resize } } : {}),
      });
      const engine = await createEngine(model, { engine: flags.engine, ...deviceEngineOptions(flags) });
      announceDevice(engine.info);
      try {
        if (flags.evaluate !== undefined) {
          const { evaluateDataset } = await import('../../classify/evaluate.js');
          const started = Date.now();
          const result = await evaluateDataset(engine, model, flags.evaluate, { batch, limit });
          const seconds = (Date.now() - started) / 1000;
          const summary = { model: model.name, resize: model.preprocessing.resize, engine: engine.info.device, images: result.images, top1: result.top1, top5: result.top5, skipped: result.skipped.length, unreadable: result.unreadable.length, seconds };
          for (const { error } of result.unreadable) process.stderr.write(`filter-atlas: ${error}\n`);
          if (result.unreadable.length > 0) process.exitCode = 1;
          if (flags.json) process.stdout.write(JSON.stringify(summary) + '\n');
          else {
            const percent = (v: number) => `${(100 * v).toFixed(1)} %`;
            process.stdout.write(
              `${model.name} (${model.preprocessing.resize}) on ${result.images} images: top-1 ${percent(result.top1)}, top-5 ${percent(result.top5)}` +
                `${result.skipped.length ? ` (${result.skipped.length} images of classes the model lacks skipped)` : ''}; ${seconds.toFixed(1)} s, ${engine.info.device}\n`,
            );
          }
          return;
        }
        const { classifyStream } = await import('../../classify/classify.js');
        const failed: string[] = [];
        for await (const result of classifyStream(engine, model, images, { top, batch })) {
          if ('error' in result) {
            // Report it and go on: the other images' results are still worth having.
            failed.push(result.image);
            if (flags.json) process.stdout.write(JSON.stringify(result) + '\n');
            process.stderr.write(`filter-atlas: ${result.error}\n`);
            continue;
          }
          if (flags.json) {
            process.stdout.write(JSON.stringify(result) + '\n');
            continue;
          }
          const lines = [`${result.image}:`];
          for (const entry of result.top) lines.push(`  ${(100 * entry.prob).toFixed(1).padStart(5)} %  ${String(entry.index).padStart(4)}  ${entry.label}`);
          process.stdout.write(lines.join('\n') + '\n');
        }
        if (failed.length > 0) {
          process.stderr.write(`filter-atlas: ${failed.length} of ${images.length} images could not be read (listed above); the others were classified.\n`);
          process.exitCode = 1;
        }
      } finally {
        await engine.dispose();
      }
    });
};
