/** `filter-atlas models [--json]`: the built-in models, their input and classes, and whether their files are cached. */
import type { DefineCommand } from './define.js';

/** Left-aligned columns, the last one unpadded. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  const line = (cells: string[]): string => cells.map((c, i) => (i < cells.length - 1 ? c.padEnd(widths[i]) : c)).join('  ');
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

export const defineModelsCommand: DefineCommand = (program) => {
  program
    .command('models')
    .description('List the built-in models (any .onnx, TensorFlow.js model.json or VGG-16 .safetensors file also works as <model>)')
    .option('--json', 'print JSON instead of a table')
    .action(async (options: { json?: boolean }) => {
      const { BUILTIN_MODELS } = await import('../../model/builtins.js');
      const { describeAssets } = await import('../../assets/index.js');
      const cached = new Map(describeAssets().map((a) => [a.name, a.cached]));
      const rows = BUILTIN_MODELS.map((m) => ({
        name: m.name,
        description: m.description,
        format: m.format,
        inputSize: m.inputSize,
        classes: m.classes,
        // vgg16 has no downloadable weights: the user passes a file with --arch.
        weights: m.asset ? 'download' : 'your file',
        cached: m.asset ? (cached.get(m.asset) ?? false) : false,
      }));
      if (options.json) {
        process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
        return;
      }
      const table = rows.map((r) => [
        r.name,
        `${r.inputSize[0]}x${r.inputSize[1]}`,
        String(r.classes),
        r.format,
        r.weights === 'download' ? (r.cached ? 'cached' : 'not cached') : 'your file',
        r.description,
      ]);
      process.stdout.write(formatTable(['model', 'input', 'classes', 'format', 'weights', 'description'], table));
      process.stdout.write('\nAlso accepted as <model>: a .onnx file, a TensorFlow.js model.json (or its folder), a .safetensors state dict with --arch vgg16_bn|vgg16.\n');
    });
};
