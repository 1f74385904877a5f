/**
 * `filter-atlas variant <model> --output DIR [--quantize int8] [--permute LAYER] [--perturb LAYER:SCALE] [--seed N]`:
 * writes a modified copy of a TensorFlow.js layers model (a second version to diff against).
 */
import type { DefineCommand } from './define.js';
import { deprecatedOut, outputFlag } from './output-flag.js';

interface VariantFlags {
  output?: string;
  /** Deprecated spelling of --output. */
  out?: string;
  quantize?: string;
  permute: string[];
  perturb: string[];
  seed: string;
  name?: string;
  json?: boolean;
}

const collect = (value: string, previous: string[]) => [...previous, value];

export const defineVariantCommand: DefineCommand = (program) => {
  program
    .command('variant')
    .description(
      'Write a modified copy of a TensorFlow.js layers model (model.json + one shard) or of an ONNX model (<output>/<name>.onnx) to diff against the original: int8 quantise-dequantise every kernel, permute a conv\'s output channels (same function, units reordered), or perturb a kernel with seeded noise.',
    )
    .argument('<model>', 'darknet-tiny, mobilenet-v1-0.25, a TensorFlow.js model.json (or its folder), or an .onnx file')
    .option('--output <dir>', 'output folder (required; for TF.js: model.json and the shard are replaced; for ONNX: <folder>/<the source file name>.onnx)')
    .addOption(deprecatedOut())
    .option('--quantize <scheme>', 'int8: symmetric per-output-channel quantise-dequantise of every kernel')
    .option('--permute <layer>', "reorder a conv's output channels and what reads them (repeatable; ONNX: a Conv node name such as /layer1/layer1.0/conv1/Conv)", collect, [])
    .option('--perturb <layer:scale>', "add seeded Gaussian noise of relative rms SCALE to a layer's kernel (repeatable)", collect, [])
    .option('--seed <n>', 'seed of the permutation and the noise', '0')
    .option('--name <name>', 'model name recorded in the model (default: "<model> (<operations>)"; an ONNX model is shown by its file name)')
    .option('--json', 'print the result as JSON')
    .action(async (spec: string, flags: VariantFlags) => {
      const [{ createVariant, parsePerturbFlag }, { loadModel }, { userError }] = await Promise.all([
        import('../../variants/create.js'),
        import('../../model/load.js'),
        import('../../errors.js'),
      ]);
      const out = outputFlag(flags);
      if (out === undefined) throw userError({ where: '--output', expected: 'the folder to write the variant to', received: 'nothing', fix: 'For example --output output/variant-models/permuted.' });
      const seed = Number(flags.seed);
      if (!/^\d+$/.test(flags.seed) || !Number.isSafeInteger(seed)) throw userError({ where: '--seed', expected: 'a non-negative integer', received: JSON.stringify(flags.seed) });
      if (flags.quantize !== undefined && flags.quantize !== 'int8') throw userError({ where: '--quantize', expected: '"int8"', received: JSON.stringify(flags.quantize) });
      const result = await createVariant(
        spec,
        { out, quantize: flags.quantize, permute: flags.permute, perturb: flags.perturb.map(parsePerturbFlag), seed, name: flags.name },
        { loadModel },
      );
      if (flags.json) {
        process.stdout.write(JSON.stringify({ dir: result.dir, model: result.modelFile, name: result.variant.name, weightsDigest: result.variant.weightsDigest, operations: result.operations }, null, 1) + '\n');
        return;
      }
      const lines = result.operations.map((op) => {
        if (op.kind === 'permute') return `  permuted ${op.layer} (${op.order.length} channels; ${[...op.batchNorms, op.next].join(', ')} follow): order ${op.order.join(',')}`;
        if (op.kind === 'perturb') return `  perturbed ${op.layer}: noise ${op.scale} x kernel rms (measured |noise|/|kernel| ${op.relativeNorm.toFixed(3)})`;
        return `  int8 quantised ${op.kernels.length} kernels (largest weight error ${op.maxAbsError.toExponential(2)})`;
      });
      process.stdout.write(`${result.variant.name} written to ${result.modelFile} (weights sha256 ${result.variant.weightsDigest.slice(0, 12)})\n${lines.join('\n')}\n`);
    });
};
