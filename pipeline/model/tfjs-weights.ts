import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describeValue, userError } from '../errors.js';
import type { Tensor } from './graph.js';
import { checkedDims } from './dims.js';
import { halfToFloat } from './half.js';

/** One entry of a TensorFlow.js weightsManifest group. */
interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; scale?: number; min?: number };
}

interface WeightGroup {
  paths: string[];
  weights: WeightSpec[];
}

export interface TfjsWeights {
  /** Weight name (as in the manifest, e.g. `conv2d_1/kernel`) -> tensor in the manifest's own layout. */
  tensors: Map<string, Tensor>;
  /** Shard files in manifest order (absolute), for the weights digest. */
  files: string[];
}

function parseGroups(manifest: unknown, modelJson: string): WeightGroup[] {
  const bad = (received: string) =>
    userError({
      where: `${modelJson} weightsManifest`,
      expected: 'an array of {paths: string[], weights: [{name, shape, dtype}]}',
      received,
      fix: 'Convert the model with tensorflowjs_converter (layers format); weight files must sit next to model.json.',
    });
  if (!Array.isArray(manifest)) throw bad(describeValue(manifest));
  return manifest.map((group: unknown, index) => {
    const g = group as Partial<WeightGroup> | null;
    if (!g || !Array.isArray(g.paths) || !Array.isArray(g.weights)) throw bad(`group ${index}: ${describeValue(group)}`);
    if (!g.paths.every((p) => typeof p === 'string')) throw bad(`group ${index}: paths ${describeValue(g.paths)} that are not all strings`);
    for (const w of g.weights) {
      if (typeof w?.name !== 'string' || !Array.isArray(w.shape) || typeof w.dtype !== 'string') {
        throw bad(`group ${index} weight ${describeValue(w?.name)}`);
      }
      checkedDims(w.shape, `${modelJson} weight ${w.name}`, 'Convert the model again with tensorflowjs_converter (layers format).');
    }
    return g as WeightGroup;
  });
}


/** Decodes one weight starting at byteOffset; returns the tensor and the bytes it used. */
function decode(spec: WeightSpec, buffer: Buffer, byteOffset: number, where: string): { tensor: Tensor; bytes: number } {
  const count = spec.shape.reduce((a, b) => a * b, 1);
  const q = spec.quantization;
  const storage = q ? q.dtype : spec.dtype;
  const width = storage === 'uint8' ? 1 : storage === 'uint16' || storage === 'float16' ? 2 : storage === 'float32' || storage === 'int32' ? 4 : 0;
  if (width === 0 || (!q && spec.dtype !== 'float32' && spec.dtype !== 'int32')) {
    throw userError({
      where: `${where} weight ${spec.name}`,
      expected: 'dtype float32 or int32, or quantization uint8 / uint16 / float16',
      received: q ? `quantization ${describeValue(q.dtype)}` : `dtype ${describeValue(spec.dtype)}`,
    });
  }
  const bytes = count * width;
  if (byteOffset + bytes > buffer.length) {
    throw userError({
      where: `${where} weight ${spec.name}`,
      expected: `${bytes} bytes at offset ${byteOffset} of the group's shards`,
      received: `shards of ${buffer.length} bytes`,
      fix: 'The weight files are truncated or do not belong to this model.json; download them again.',
    });
  }
  const view = new DataView(buffer.buffer, buffer.byteOffset + byteOffset, bytes);
  const data = new Float32Array(count);
  const scale = q?.scale ?? 1;
  const min = q?.min ?? 0;
  for (let i = 0; i < count; i++) {
    if (storage === 'float32') data[i] = view.getFloat32(4 * i, true);
    else if (storage === 'int32') data[i] = view.getInt32(4 * i, true);
    else if (storage === 'float16') data[i] = halfToFloat(view.getUint16(2 * i, true));
    else if (storage === 'uint16') data[i] = view.getUint16(2 * i, true) * scale + min;
    else data[i] = view.getUint8(i) * scale + min;
  }
  return { tensor: { shape: [...spec.shape], data }, bytes };
}

/** Reads every weight of a TensorFlow.js weightsManifest; shard paths are relative to model.json's folder. */
export async function readTfjsWeights(manifest: unknown, modelDir: string, modelJson: string): Promise<TfjsWeights> {
  const groups = parseGroups(manifest, modelJson);
  const tensors = new Map<string, Tensor>();
  const files: string[] = [];
  for (const group of groups) {
    const shards: Buffer[] = [];
    for (const relative of group.paths) {
      const path = join(modelDir, relative);
      try {
        shards.push(await readFile(path));
      } catch (error) {
        throw userError(
          { where: path, expected: `a weight shard listed in ${modelJson}`, received: (error as NodeJS.ErrnoException).code ?? String(error), fix: 'Keep the weight files next to model.json.' },
          error,
        );
      }
      files.push(path);
    }
    const buffer = Buffer.concat(shards);
    let offset = 0;
    for (const spec of group.weights) {
      const { tensor, bytes } = decode(spec, buffer, offset, modelJson);
      tensors.set(spec.name, tensor);
      offset += bytes;
    }
    if (offset !== buffer.length) {
      throw userError({
        where: `${modelJson} weight group ${group.paths.join(', ')}`,
        expected: `${offset} bytes of weights`,
        received: `${buffer.length} bytes in the shards`,
        fix: 'The weight files do not match model.json; download the model again.',
      });
    }
  }
  return { tensors, files };
}
