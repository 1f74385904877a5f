/** `filter-atlas layers <model> [--arch A] [--json]`: every layer with type, channels, output size and receptive field. */
import type { DefineCommand } from './define.js';

export const defineLayersCommand: DefineCommand = (program) => {
  program
    .command('layers')
    .description("List a model's layers: index, name (aliases), type, channels, output size at the model's input size, receptive field")
    .argument('<model>', 'built-in model name (see `filter-atlas models`) or a .onnx / model.json / .safetensors path')
    .option('--arch <arch>', 'architecture of a .safetensors state dict: vgg16_bn or vgg16')
    .option('--json', 'print JSON instead of a table')
    .action(async (spec: string, options: { arch?: string; json?: boolean }) => {
      const { loadModel } = await import('../../model/load.js');
      const { describeLayers } = await import('../../model/describe.js');
      const { countParameters } = await import('../../model/params.js');
      const { formatTable } = await import('./models.js');
      const model = await loadModel(spec, { arch: options.arch as 'vgg16_bn' | 'vgg16' | undefined });
      const layers = describeLayers(model);
      const [height, width] = model.preprocessing.inputSize;
      if (options.json) {
        const out = { model: model.name, version: model.version, weightsDigest: model.weightsDigest, inputSize: model.preprocessing.inputSize, parameters: countParameters(model.graph), output: model.graph.output, layers };
        process.stdout.write(JSON.stringify(out, null, 2) + '\n');
        return;
      }
      const rows = layers.map((l) => [
        String(l.index),
        l.aliases.length ? `${l.name} (${l.aliases.join(', ')})` : l.name,
        l.type,
        l.layer ? String(l.channels) : '',
        l.layer ? `${l.height}x${l.width}` : `(${l.shape.join(', ')})`,
        l.receptiveField ? `${l.receptiveField.size} px (stride ${l.receptiveField.jump})` : '',
      ]);
      process.stdout.write(`${model.name} (${model.source.format}, ${countParameters(model.graph).toLocaleString('en-US')} parameters), input ${height}x${width}, output ${model.graph.output}\n\n`);
      process.stdout.write(formatTable(['#', 'layer', 'type', 'channels', 'output', 'receptive field'], rows));
    });
};
