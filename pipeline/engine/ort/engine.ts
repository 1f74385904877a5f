/**
 * The ONNX Runtime engine: forward activations and objective gradients for any CnnModel,
 * through ONNX programs built from the model graph at each image size (programs.ts) and
 * cached sessions.
 */
import { rm } from 'node:fs/promises';
import { userError } from '../../errors.js';
import type { CnnModel, Pair } from '../../model/graph.js';
import { SizedGraphs, type SizedGraph } from '../../model/sized.js';
import type { BytesMoved, DeviceAscent, DeviceAscentInit, Engine, EngineInfo, EngineOptions, FeatureMaps, ImageBatch, ObjectiveGradient, PlacementReport } from '../engine.js';
import { featureMapsOf } from '../layer-output.js';
import { layerChannels } from '../../model/layers.js';
import { BATCH_DIM, buildAttributionProgram, buildBackwardProgram, buildForwardProgram, buildGradientProgram, buildRowAttributionProgram, emissionFor, type EmitOptions, type Program } from './programs.js';
import { checkEarlier, checkLength, checkRowImages } from '../checks.js';
import { planFor, resolveLayers } from './plan.js';
import { finishProfile, startProfile, type PendingProfile } from './placement.js';
import { ASCENT_STATE, buildAscentProgram, buildReadbackProgram, type AscentStateName } from './ascent-program.js';
import { ascentOnDeviceByDefault, stateLocation } from './residency.js';
import { loadRuntime, type Runtime, type Session } from './runtime.js';
import { SessionCache } from './session-cache.js';

type Tensor = import('onnxruntime-node').Tensor;
type SessionOptions = import('onnxruntime-node').InferenceSession.SessionOptions;

export interface OrtEngineOptions extends EngineOptions {
  /**
   * Sessions kept at once (see session-cache.ts). The article's schedule visits 12 image
   * sizes per layer; fewer slots than that would rebuild every session for every batch of
   * filters (a VGG session costs 2-4 s to build and ~100 MB to keep). @default 16
   */
  maxSessions?: number;
  /**
   * Run the visualisation's ascent with its state in the provider's buffers (Engine.startAscent,
   * residency.ts). @default true on WebGPU only; true on the CPU provider runs the same program with
   * host tensors (tests compare it with the host Adam).
   */
  ascentOnDevice?: boolean;
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
/** Bytes of the tensors held by the host (a 'gpu-buffer' tensor stays on the device). */
const hostBytes = (tensors: readonly Tensor[]): number => tensorBytes(tensors.filter((t) => t.location === 'cpu'));

/** A session and what travels with it: its program's names, and its profile until the first run has reported the placement. */
type Held<P> = Session & { program: P; profile?: PendingProfile };

class OrtEngine implements Engine {
  readonly info: EngineInfo;
  /** With each session: its program's names (of the program that key builds), and its pending profile. */
  private readonly sessions: SessionCache<{ program: unknown; profile?: PendingProfile }>;
  private readonly sized: SizedGraphs;
  /** FLOPs of one run of each program (by key) from its profiled first run, and the batch it ran: Engine.flopsComputed. */
  private readonly runFlops = new Map<string, { flops: number; units: number }>();
  private flops = 0;
  /** The programs' emission for this engine's provider (programs.ts, EmitOptions). */
  private readonly emission: EmitOptions;
  /** Bytes of host tensors fed to, and brought back from, a GPU provider's runs (Engine.bytesMoved). */
  private readonly moved: BytesMoved = { toDevice: 0, toHost: 0 };
  readonly startAscent?: (init: DeviceAscentInit) => Promise<DeviceAscent>;
  readonly bytesMoved?: () => BytesMoved;

  constructor(
    private readonly model: CnnModel,
    private readonly runtime: Runtime,
    maxSessions: number,
    private readonly onPlacement?: (report: PlacementReport) => void,
    ascentOnDevice = ascentOnDeviceByDefault(runtime.provider),
  ) {
    this.info = { name: 'ort', device: runtime.device, deviceKind: runtime.provider, ...(runtime.selection ? { selection: runtime.selection } : {}) };
    this.sessions = new SessionCache(maxSessions);
    this.sized = new SizedGraphs(model);
    this.emission = emissionFor(runtime.provider);
    if (ascentOnDevice) this.startAscent = (init) => this.ascent(init);
    // On the CPU nothing crosses a bus.
    if (runtime.provider !== 'cpu') this.bytesMoved = () => ({ ...this.moved });
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
    const held = this.hold(key, build);
    try {
      const session = await held.session;
      const inputs = feeds(session.program.inputs);
      const results = await this.runHeld(key, session, inputs, session.program.outputs, units, (outputs) => ({ toDevice: tensorBytes(Object.values(inputs)), toHost: tensorBytes(outputs) }));
      return session.program.outputs.map((name) => results[name]);
    } finally {
      await held.release();
    }
  }

  /** The session of `key`, held until released (SessionCache.acquire); `extra`: more session options. */
  private hold<P extends { bytes: Uint8Array }>(key: string, build: () => P, extra: (program: Omit<P, 'bytes'>) => Partial<SessionOptions> = () => ({})): { session: Promise<Held<Omit<P, 'bytes'>>>; release(): Promise<void> } {
    const create = async () => {
      const { bytes, ...program } = build();
      // The first run of each program is profiled once per engine, for its FLOPs (and its placement when asked).
      const profile = this.onPlacement || !this.runFlops.has(key) ? await startProfile(bytes) : undefined;
      try {
        return Object.assign(await this.runtime.createSession(bytes, { ...extra(program), ...profile?.options }), { program: program as unknown, profile });
      } catch (error) {
        if (profile) await rm(profile.folder, { recursive: true, force: true });
        throw error;
      }
    };
    // The program under a key is always the one `build` makes for it.
    return this.sessions.acquire(key, create) as { session: Promise<Held<Omit<P, 'bytes'>>>; release(): Promise<void> };
  }

  /**
   * One run of a held session: counts the host bytes that cross to and from a GPU provider, and on
   * the session's first run reports its placement (`transfers` says what crosses per run or step).
   */
  private async runHeld(
    key: string,
    session: Held<unknown>,
    inputs: Record<string, Tensor>,
    fetches: readonly string[],
    units: number,
    transfers: (outputs: Tensor[]) => NonNullable<PlacementReport['transfers']>,
    graph = key,
  ): Promise<Record<string, Tensor>> {
    const results = await session.run(inputs, fetches);
    const outputs = fetches.map((name) => results[name]);
    if (this.runtime.provider !== 'cpu') {
      this.moved.toDevice += hostBytes(Object.values(inputs));
      this.moved.toHost += hostBytes(outputs);
    }
    const { profile } = session;
    if (profile) {
      // One profiled run says where every node ran; later runs are not slowed by profiling.
      session.profile = undefined;
      const report = await finishProfile(graph, session, profile);
      if (!this.runFlops.has(key)) this.runFlops.set(key, { flops: Object.values(report.providers).reduce((sum, p) => sum + p.flops, 0), units });
      if (this.runtime.provider !== 'cpu') report.transfers = transfers(outputs);
      this.onPlacement?.(report);
    }
    const counted = this.runFlops.get(key);
    if (counted) this.flops += (counted.flops * units) / counted.units;
    return results;
  }

  /** Device tensors of an ascent's images and `seen` flags, copied to the host by the read-back program. */
  private async readBack(params: Tensor, seen: Tensor, n: number): Promise<[Tensor, Tensor]> {
    const held = this.hold('readback', buildReadbackProgram);
    try {
      const session = await held.session;
      const { inputs, outputs } = session.program;
      const fetches = [outputs.params, outputs.seen];
      const results = await this.runHeld('readback', session, { [inputs.params]: params, [inputs.seen]: seen }, fetches, n, (out) => ({ toDevice: 0, toHost: hostBytes(out) }));
      return [results[outputs.params], results[outputs.seen]];
    } finally {
      await held.release();
    }
  }

  /**
   * Engine.startAscent: the ascent program (ascent-program.ts) with its state outputs left where the
   * provider computed them (residency.ts) and fed back at the next step; only the objective is
   * asked for on the host. At the end, the images and `seen` come back through a read-back program.
   */
  private async ascent(init: DeviceAscentInit): Promise<DeviceAscent> {
    const { params, n, height, width, layer, channelWeights, space, frozen, adam } = init;
    checkBatch({ data: params, n, height, width });
    const sized = this.at([height, width], [layer]);
    const [node] = resolveLayers(sized.graph, [layer]);
    const channels = layerChannels(sized, node.name, layer);
    checkLength(`channel weights for layer ${JSON.stringify(layer)}`, [n, channels], channelWeights);
    if (frozen.length !== n) throw new RangeError(`ascent: expected ${n} frozen flags, received ${frozen.length}`);
    const { ort } = this.runtime;
    const location = stateLocation(this.runtime.provider);
    // The space and Adam's constants are baked into the program: they are part of its key.
    const graph = `ascent|${node.name}|${height}x${width}`;
    const key = `${graph}|${JSON.stringify([space.mean, space.std, adam])}`;
    const held = this.hold(
      key,
      () => buildAscentProgram(this.model, sized, node.name, space, adam, this.emission),
      // Every output where the provider computed it, but the objective, which the host reads each step.
      ({ outputs }) => (location === 'cpu' ? {} : { preferredOutputLocation: { ...Object.fromEntries(ASCENT_STATE.map((name) => [outputs[name], location])), [outputs.objective]: 'cpu' } }),
    );
    let session: Held<Omit<ReturnType<typeof buildAscentProgram>, 'bytes'>>;
    try {
      session = await held.session;
    } catch (error) {
      await held.release();
      throw error;
    }
    const image = [n, 3, height, width];
    let state: Record<AscentStateName, Tensor> = {
      params: new ort.Tensor('float32', params, image),
      m: new ort.Tensor('float32', new Float32Array(params.length), image),
      v: new ort.Tensor('float32', new Float32Array(params.length), image),
      channel_weights: new ort.Tensor('float32', channelWeights, [n, channels]),
      active: new ort.Tensor('float32', Float32Array.from(frozen, (f) => (f ? 0 : 1)), [n]),
      seen: new ort.Tensor('float32', new Float32Array(n), [n]),
    };
    const startBytes = tensorBytes(Object.values(state));
    const { inputs, outputs } = session.program;
    const fetches = ['objective' as const, ...ASCENT_STATE].map((name) => outputs[name]);
    const releaseDevice = (tensors: Iterable<Tensor>) => {
      for (const tensor of tensors) if (tensor.location !== 'cpu') tensor.dispose();
    };
    let done = false;
    const dispose = async () => {
      if (done) return;
      done = true;
      releaseDevice(Object.values(state));
      // The device buffers are gone before the session that allocated them can be released.
      await held.release();
    };
    return {
      step: async (stepSize, sqrtCorrection2) => {
        if (done) throw new Error('ascent: step after dispose');
        const scalar = (value: number) => new ort.Tensor('float32', Float32Array.of(value), []);
        const feeds: Record<string, Tensor> = { [inputs.stepSize]: scalar(stepSize), [inputs.correction]: scalar(sqrtCorrection2) };
        for (const name of ASCENT_STATE) feeds[inputs[name]] = state[name];
        const results = await this.runHeld(key, session, feeds, fetches, n, (out) => {
          // Per step: the two scalars in, and whatever comes back on the host (fed back in at the next step).
          const stateBack = hostBytes(out.slice(1));
          const resident = out.slice(1).every((t) => t.location !== 'cpu');
          return { toDevice: 8 + stateBack, toHost: hostBytes(out), scale: { toDevice: startBytes, toHost: resident ? 4 * (params.length + n) : 0 } };
        }, graph);
        const previous = Object.values(state);
        state = Object.fromEntries(ASCENT_STATE.map((name) => [name, results[outputs[name]]])) as Record<AscentStateName, Tensor>;
        releaseDevice(previous);
        return results[outputs.objective].data as Float32Array;
      },
      finish: async () => {
        if (done) throw new Error('ascent: finish after dispose');
        let [x, seen] = [state.params, state.seen];
        if (x.location !== 'cpu') [x, seen] = await this.readBack(x, seen, n);
        const result = { params: Float32Array.from(x.data as Float32Array), gradientSeen: Array.from(seen.data as Float32Array, (s) => s > 0) };
        await dispose();
        return result;
      },
      dispose,
    };
  }
}

export async function createOrtEngine(model: CnnModel, options: OrtEngineOptions): Promise<Engine> {
  const runtime = await loadRuntime({ threads: options.threads, device: options.device });
  return new OrtEngine(model, runtime, options.maxSessions ?? 16, options.onPlacement, options.ascentOnDevice);
}
