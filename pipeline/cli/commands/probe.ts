/**
 * `filter-atlas probe <model> <image> --layer L`: the article's hypothesis test on one photo.
 * Prints the channels with the highest mean activation; --svg writes the bar chart, --json the numbers.
 */
import { Option } from 'commander';
import { basename } from 'node:path';
import { userError } from '../../errors.js';
import { num } from '../../util/number-format.js';
import type { EngineName } from '../../engine/engine.js';
import { announceDevice, deviceEngineOptions, deviceOption, verboseOption, type DeviceFlags } from './device-flags.js';
import type { DefineCommand } from './define.js';

interface ProbeFlags extends DeviceFlags {
  layer: string;
  arch?: 'vgg16_bn' | 'vgg16';
  top: string;
  svg?: string;
  engine: EngineName;
  json?: boolean;
}

export const defineProbeCommand: DefineCommand = (program) => {
  program
    .command('probe')
    .description('Hypothesis test: which filters of a layer respond most to one photo (mean activation per channel).')
    .argument('<model>', 'built-in model name, or a path to .onnx, model.json or .safetensors (with --arch)')
    .argument('<image>', 'a JPEG, PNG or WebP photo')
    .requiredOption('--layer <name>', 'layer name or index (see `filter-atlas layers <model>`)')
    .addOption(new Option('--arch <arch>', 'architecture of a .safetensors file').choices(['vgg16_bn', 'vgg16']))
    .option('--top <k>', 'how many filters to list and highlight', '5')
    .option('--svg <file>', 'write the bar chart of every channel as SVG')
    .addOption(new Option('--engine <engine>', 'numerical engine').choices(['ort', 'tfjs']).default('ort'))
    .addOption(deviceOption())
    .addOption(verboseOption())
    .option('--json', 'print {"model","layer","image","means","top"} as one JSON line')
    .action(async (modelSpec: string, imagePath: string, flags: ProbeFlags) => {
      const topK = Number(flags.top);
      if (!Number.isInteger(topK) || topK < 1) {
        throw userError({ where: '--top', expected: 'a positive integer', received: JSON.stringify(flags.top), fix: 'For example --top 5.' });
      }
      const [{ loadModel }, { createEngine }, { probeImage }] = await Promise.all([
        import('../../model/load.js'),
        import('../../engine/create.js'),
        import('../../probe/probe.js'),
      ]);
      const model = await loadModel(modelSpec, flags.arch ? { arch: flags.arch } : undefined);
      const engine = await createEngine(model, { engine: flags.engine, ...deviceEngineOptions(flags) });
      announceDevice(engine.info);
      let result;
      try {
        result = await probeImage(engine, model, imagePath, flags.layer, topK);
      } finally {
        await engine.dispose();
      }
      if (flags.svg) {
        const [{ renderProbeChart }, { writeFileAtomic }] = await Promise.all([import('../../render/chart.js'), import('../../util/fs.js')]);
        const title = `${model.name} ${flags.layer}: ${basename(imagePath)}`;
        await writeFileAtomic(flags.svg, renderProbeChart({ means: result.means, top: result.top, title }));
      }
      if (flags.json) {
        process.stdout.write(JSON.stringify({ model: model.name, layer: flags.layer, image: imagePath, means: result.means, top: result.top }) + '\n');
        return;
      }
      const lines = [`top ${result.top.length} of ${result.means.length} filters of ${model.name} ${flags.layer} for ${imagePath} (${engine.info.device}):`];
      for (const [rank, entry] of result.top.entries()) {
        lines.push(`  ${String(rank + 1).padStart(2)}. filter ${String(entry.filter).padStart(4)}  mean ${num(entry.mean, 4).padStart(10)}${entry.label ? `  ${entry.label}` : ''}`);
      }
      if (flags.svg) lines.push(`chart: ${flags.svg}`);
      process.stdout.write(lines.join('\n') + '\n');
    });
};
