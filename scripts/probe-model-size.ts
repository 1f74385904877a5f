/**
 * Sizes of the browser probe's model (pipeline/atlas/stage-probe-model.ts) without a build: the
 * forward program cut after the given layers, at float32 and with float16 weights.
 *     npx tsx scripts/probe-model-size.ts darknet-tiny leaky_re_lu_2 conv2d_16
 *     npx tsx scripts/probe-model-size.ts vgg16_bn-generated 42     (bench/models.ts: the real shapes, generated weights)
 */
import { generatedVgg16Bn } from '../bench/models.js';
import { buildForwardProgram } from '../pipeline/engine/ort/programs.js';
import { findLayer } from '../pipeline/model/layers.js';
import { loadModel } from '../pipeline/model/load.js';
import { toFloat16Weights } from '../pipeline/model/onnx-fp16.js';
import { graphAtSize } from '../pipeline/model/sized.js';

const [spec, ...layers] = process.argv.slice(2);
if (!spec || layers.length === 0) throw new Error('usage: npx tsx scripts/probe-model-size.ts <model> <layer...>');
const model = spec === 'vgg16_bn-generated' ? await generatedVgg16Bn() : await loadModel(spec);
const nodes = layers.map((layer) => findLayer(model, layer).node.name);
const program = buildForwardProgram(model, graphAtSize(model, model.preprocessing.inputSize), nodes);
console.log(JSON.stringify({ model: model.name, layers: nodes, fp32Bytes: program.bytes.byteLength, fp16Bytes: toFloat16Weights(program.bytes).byteLength }));
