/**
 * The ONNX Runtime engine: forward activations and objective gradients for any CnnModel,
 * through ONNX programs built from the model graph at each image size (programs.ts) and
 * cached sessions.
 */
import { rm } from 'node:fs/promises';
import { userError } from '../../errors.js';
import type { CnnModel, Pair } from '../../model/graph.js';
import { SizedGraphs, type SizedGraph } from '../../model/sized.js';
import type { Engine, EngineInfo, EngineOptions, FeatureMaps, ImageBatch, ObjectiveGradient, PlacementReport } from '../engine.js';
import { featureMapsOf } from '../layer-output.js';
import { layerChannels } from '../../model/layers.js';
import { BATCH_DIM, buildAttributionProgram, buildBackwardProgram, buildForwardProgram, buildGradientProgram, buildRowAttributionProgram, emissionFor, type EmitOptions, type Program } from './programs.js';
import { checkEarlier, checkLength, checkRowImages } from '../checks.js';
import { planFor, resolveLayers } from './plan.js';
import { finishProfile, startProfile, type PendingProfile } from './placement.js';
import { loadRuntime, type Runtime } from './runtime.js';
import { SessionCache } from './session-cache.js';

type Tensor = import('onnxruntime-node').Tensor;

export interface OrtEngineOptions extends EngineOptions {
  /**
   * Sessions kept at once (see session-cache.ts). The article's schedule visits 12 image
   * sizes per layer; fewer slots than that would rebuild every session for every batch of
   * filters (a VGG session costs 2-4 s to build and ~100 MB to keep). @default 16
   */
  maxSessions?: number;
}

function checkBatch(batch: ImageBatch): void {
  const { n, height, width, data } = batch;
  const valid = [n, height, width].every((v) => Number.isInteger(v) && v >= 1) && data.length === n * 3 * height * width;
  if (!valid) {
    throw userError({
      where: 'engine input batch',
      expected: 'n x 3 x height x width float32 values (RGB in [0, 1], NCHW) with positive integer n, height, width',
      received: `n=${n}, height=${height}, width=${width} and ${data.length} values`,
    });
  }
}

const tensorBytes = (tensors: readonly Tensor[]): number => tensors.reduce((sum, t) => sum + (t.data as ArrayBufferView).byteLength, 0);

class OrtEngine implements Engine {
  readonly info: EngineInfo;
  /** With each session: its program's names, and its profile until the first run has reported the placement. */
  private readonly sessions: SessionCache<{ program: Omit<Program, 'bytes'>; profile?: PendingProfile }>;
  private readonly sized: SizedGraphs;
  /** FLOPs of one run of each program (by key) from its profiled first run, and the batch it ran: Engine.flopsComputed. */
  private readonly runFlops = new Map<string, { flops: number; units: number }>();
  private flops = 0;
  /** The programs' emission for this engine's provider (programs.ts, EmitOptions). */
  private readonly emission: EmitOptions;

  constructor(
    private readonly model: CnnModel,
    private readonly runtime: Runtime,
    maxSessions: number,
    private readonly onPlacement?: (report: PlacementReport) => void,
  ) {
    this.info = { name: 'ort', device: runtime.device, deviceKind: runtime.provider, ...(runtime.selection ? { selection: runtime.selection } : {}) };
    this.sessions = new SessionCache(maxSessions);
    this.sized = new SizedGraphs(model);
    this.emission = emissionFor(runtime.provider);
  }

  async forward(batch: ImageBatch, layers: readonly string[]): Promise<Map<string, FeatureMaps>> {
    checkBatch(batch);
    const sized = this.at([batch.height, batch.width], layers);
    const nodes = resolveLayers(sized.graph, layers);
    const key = `forward|${nodes.map((n) => n.name).join('\u0000')}|${sized.size.join('x')}`;
    const results = await this.run(key, () => buildForwardProgram(this.model, sized, layers, BATCH_DIM, this.emission), (inputs) => ({ [inputs.image]: this.imageTensor(batch) }), batch.n);
    const byNode = new Map(nodes.map((node, i) => [node.name, featureMapsOf(results[i].data as Float32Array, results[i].dims as number[])]));
    // Answer under the names the caller used (a name and its alias may both be asked for).
    return new Map(layers.map((layer) => [layer, byNode.get(resolveLayers(sized.graph, [layer])[0].name)!]));
  }

  async objectiveGradient(batch: ImageBatch, layer: string, channelWeights: Float32Array): Promise<ObjectiveGradient> {
    checkBatch(batch);
    const sized = this.at([batch.height, batch.width], [layer]);
    const [node] = resolveLayers(sized.graph, [layer]);
    const channels = layerChannels(sized, node.name, layer);
    if (channelWeights.length !== batch.n * channels) {
      throw userError({
        where: `channel weights for layer ${JSON.stringify(layer)}`,
        expected: `n x channels = ${batch.n} x ${channels} = ${batch.n * channels} values`,
        received: `${channelWeights.length} values`,
      });
    }
    const key = `gradient|${node.name}|${sized.size.join('x')}`;
    const { ort } = this.runtime;
    const [objective, gradient] = await this.run(
      key,
      () => buildGradientProgram(this.model, sized, node.name, BATCH_DIM, this.emission),
      (inputs) => ({
        [inputs.image]: this.imageTensor(batch),
        [inputs.weights!]: new ort.Tensor('float32', channelWeights, [batch.n, channels]),
      }),
      batch.n,
    );
    return { objective: objective.data as Float32Array, gradient: gradient.data as Float32Array };
  }

  async backward(batch: ImageBatch, layer: string, layerGradient: Float32Array): Promise<{ activation: FeatureMaps; gradient: Float32Array }> {
    checkBatch(batch);
    const sized = this.at([batch.height, batch.width], [layer]);
    const [node] = resolveLayers(sized.graph, [layer]);
    const dims = [batch.n, ...sized.shapes.get(node.name)!.dims];
    checkLength(`gradient of layer ${JSON.stringify(layer)}`, dims, layerGradient);
    const [activation, gradient] = await this.run(
      `backward|${node.name}|${sized.size.join('x')}`,
      () => buildBackwardProgram(this.model, sized, node.name, BATCH_DIM, this.emission),
      (inputs) => ({ [inputs.image]: this.imageTensor(batch), [inputs.layerGradient!]: new this.runtime.ort.Tensor('float32', layerGradient, dims) }),
      batch.n,
    );
    return { activation: featureMapsOf(activation.data as Float32Array, activation.dims as number[]), gradient: gradient.data as Float32Array };
  }

  async attribution(batch: ImageBatch, layer: string, channelWeights: Float32Array, from: string): Promise<{ objective: Float32Array; attribution: Float32Array }> {
    checkBatch(batch);
    const sized = this.at([batch.height, batch.width], [layer, from]);
    const [node, source] = resolveLayers(sized.graph, [layer, from]);
    checkEarlier(sized, node.name, source.name);
    const channels = layerChannels(sized, node.name, layer);
    checkLength(`channel weights for layer ${JSON.stringify(layer)}`, [batch.n, channels], channelWeights);
    const [objective, attribution] = await this.run(
      `attribution|${node.name}|${source.name}|${sized.size.join('x')}`,
      () => buildAttributionProgram(this.model, sized, node.name, source.name, BATCH_DIM, this.emission),
      (inputs) => ({ [inputs.image]: this.imageTensor(batch), [inputs.weights!]: new this.runtime.ort.Tensor('float32', channelWeights, [batch.n, channels]) }),
      batch.n,
    );
    return { objective: objective.data as Float32Array, attribution: attribution.data as Float32Array };
  }

  async rowAttribution(batch: ImageBatch, layer: string, channelWeights: Float32Array, from: string, rowImages: Int32Array): Promise<{ objective: Float32Array; attribution: Float32Array }> {
    checkBatch(batch);
    checkRowImages(rowImages, batch.n);
    const sized = this.at([batch.height, batch.width], [layer, from]);
    const [node, source] = resolveLayers(sized.graph, [layer, from]);
    checkEarlier(sized, node.name, source.name);
    const channels = layerChannels(sized, node.name, layer);
    const rows = rowImages.length;
    checkLength(`channel weights for layer ${JSON.stringify(layer)}`, [rows, channels], channelWeights);
    const { ort } = this.runtime;
    const [objective, attribution] = await this.run(
      `attribution-rows|${node.name}|${source.name}|${sized.size.join('x')}`,
      () => buildRowAttributionProgram(this.model, sized, node.name, source.name, this.emission),
      (inputs) => ({
        [inputs.image]: this.imageTensor(batch),
        [inputs.rowImages!]: new ort.Tensor('int64', BigInt64Array.from(rowImages, (i) => BigInt(i)), [rows]),
        [inputs.weights!]: new ort.Tensor('float32', channelWeights, [rows, channels]),
      }),
      // The rows' backward passes outweigh the images' forward passes: a run's FLOPs scale with its rows.
      rows,
    );
    return { objective: objective.data as Float32Array, attribution: attribution.data as Float32Array };
  }

  flopsComputed(): number {
    return this.flops;
  }

  async dispose(): Promise<void> {
    await this.sessions.dispose();
  }

  private imageTensor(batch: ImageBatch): Tensor {
    return new this.runtime.ort.Tensor('float32', batch.data, [batch.n, 3, batch.height, batch.width]);
  }

  /**
   * The graph at this size, checked for the layers asked for: one that cannot run there (an image
   * too small for its windows, a head sized for another input) is a user error naming the node.
   */
  private at(size: Pair, layers: readonly string[]): SizedGraph {
    const sized = this.sized.at(size);
    planFor(sized.graph, resolveLayers(sized.graph, layers));
    return sized;
  }

  /**
   * Runs the program cached under `key` (built by `build` on first use; its bytes are
   * dropped once the session holds them) and returns its outputs in program order. `units` is the
   * run's batch (images, or rows): its FLOPs are the profiled run's, scaled by it.
   */
  private async run(key: string, build: () => Program, feeds: (inputs: Program['inputs']) => Record<string, Tensor>, units: number): Promise<Tensor[]> {
    const create = async () => {
      const { bytes, ...program } = build();
      // The first run of each program is profiled once per engine, for its FLOPs (and its placement when asked).
      const profile = this.onPlacement || !this.runFlops.has(key) ? await startProfile(bytes) : undefined;
      try {
        return Object.assign(await this.runtime.createSession(bytes, profile?.options), { program, profile });
      } catch (error) {
        if (profile) await rm(profile.folder, { recursive: true, force: true });
        throw error;
      }
    };
    return this.sessions.with(key, create, async (session) => {
      const inputs = feeds(session.program.inputs);
      const results = await session.run(inputs, session.program.outputs);
      const outputs = session.program.outputs.map((name) => results[name]);
      const { profile } = session;
      if (profile) {
        // One profiled run says where every node ran; later runs are not slowed by profiling.
        session.profile = undefined;
        const report = await finishProfile(key, session, profile);
        if (!this.runFlops.has(key)) this.runFlops.set(key, { flops: Object.values(report.providers).reduce((sum, p) => sum + p.flops, 0), units });
        // Inputs are host tensors and outputs come back as host tensors: on a GPU, each crosses once per run.
        if (this.runtime.provider !== 'cpu') report.transfers = { toDevice: tensorBytes(Object.values(inputs)), toHost: tensorBytes(outputs) };
        this.onPlacement?.(report);
      }
      const counted = this.runFlops.get(key);
      if (counted) this.flops += (counted.flops * units) / counted.units;
      return outputs;
    });
  }
}

export async function createOrtEngine(model: CnnModel, options: OrtEngineOptions): Promise<Engine> {
  const runtime = await loadRuntime({ threads: options.threads, device: options.device });
  return new OrtEngine(model, runtime, options.maxSessions ?? 16, options.onPlacement);
}
