import { describeValue, userError } from '../errors.js';

/** One Keras layer as the converter needs it: class, name, config and the layers it reads. */
export interface KerasLayer {
  className: string;
  name: string;
  config: Record<string, unknown>;
  inbound: string[];
}

export interface KerasTopology {
  layers: KerasLayer[];
  /** The layer that feeds the model (an InputLayer, or the first layer of a Sequential). */
  input: string;
  output: string;
  /** [height, width, channels] when declared; null entries are dynamic. */
  inputShape?: (number | null)[];
}

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

function fail(file: string, expected: string, received: string): never {
  throw userError({
    where: `${file} modelTopology`,
    expected,
    received,
    fix: 'Export the model with tensorflowjs_converter --output_format tfjs_layers_model (a Keras Sequential or functional Model).',
  });
}

/** Names of the layers in one Keras-3 call argument tree (`keras_history: [name, node, tensor]`). */
function historyNames(value: unknown, out: string[]): void {
  if (Array.isArray(value)) for (const item of value) historyNames(item, out);
  else if (isObject(value)) {
    const history = isObject(value.config) ? value.config.keras_history : undefined;
    if (Array.isArray(history) && typeof history[0] === 'string') out.push(history[0]);
    else for (const item of Object.values(value)) historyNames(item, out);
  }
}

/** Keras 2: [[["name", node, tensor, {}], ...]]; Keras 3: [{args: [...], kwargs: {}}]. One call only. */
function inboundOf(layer: Json, name: string, file: string): string[] {
  const nodes = layer.inbound_nodes;
  if (!Array.isArray(nodes) || nodes.length === 0) return [];
  if (nodes.length > 1) fail(file, `layer ${name} called once (shared layers are not supported)`, `${nodes.length} calls`);
  const call = nodes[0];
  const names: string[] = [];
  if (Array.isArray(call)) {
    for (const entry of call) {
      if (!Array.isArray(entry) || typeof entry[0] !== 'string') fail(file, `inbound entries [name, node, tensor] in layer ${name}`, describeValue(entry));
      if (entry[1] !== 0 || entry[2] !== 0) fail(file, `layer ${name} to read the first output of ${entry[0]}`, `node ${entry[1]}, tensor ${entry[2]}`);
      names.push(entry[0]);
    }
  } else historyNames(isObject(call) ? call.args : call, names);
  return names;
}

function layerRecord(raw: unknown, file: string): KerasLayer {
  if (!isObject(raw) || typeof raw.class_name !== 'string' || !isObject(raw.config)) fail(file, 'layers with class_name and config', describeValue(raw));
  const name = typeof raw.name === 'string' ? raw.name : typeof raw.config.name === 'string' ? raw.config.name : undefined;
  if (!name) fail(file, `a name for every layer`, `a ${raw.class_name} without one`);
  return { className: raw.class_name, name, config: raw.config, inbound: inboundOf(raw, name, file) };
}

/** `[["name", 0, 0]]` (Keras 2) or `["name", 0, 0]` (Keras 3, single tensor) -> names. */
function endpointNames(value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  if (typeof value[0] === 'string') return [value[0]];
  return value.filter((v): v is unknown[] => Array.isArray(v) && typeof v[0] === 'string').map((v) => v[0] as string);
}

function shapeOf(config: Json): (number | null)[] | undefined {
  const shape = config.batch_input_shape ?? config.batch_shape;
  return Array.isArray(shape) ? shape.slice(1).map((d) => (typeof d === 'number' ? d : null)) : undefined;
}

/** Orders layers so each comes after the layers it reads (file order where already valid). */
function topologicalOrder(layers: KerasLayer[], file: string): KerasLayer[] {
  const known = new Set(layers.map((l) => l.name));
  for (const layer of layers) {
    const missing = layer.inbound.find((name) => !known.has(name));
    if (missing) fail(file, `layer ${layer.name} to read a layer of the model`, `unknown layer ${JSON.stringify(missing)}`);
  }
  const done = new Set<string>();
  const ordered: KerasLayer[] = [];
  let pending = layers;
  while (pending.length > 0) {
    const next = pending.filter((l) => !l.inbound.every((name) => done.has(name)));
    const ready = pending.filter((l) => l.inbound.every((name) => done.has(name)));
    if (ready.length === 0) fail(file, 'an acyclic layer graph', `a cycle through ${next.map((l) => l.name).join(', ')}`);
    for (const layer of ready) {
      done.add(layer.name);
      ordered.push(layer);
    }
    pending = next;
  }
  return ordered;
}

/** Parses `modelTopology` of a TensorFlow.js layers model.json (Sequential or functional Model). */
export function parseTopology(modelTopology: unknown, file: string): KerasTopology {
  if (!isObject(modelTopology)) fail(file, 'a modelTopology object', describeValue(modelTopology));
  const root = isObject(modelTopology.model_config) ? modelTopology.model_config : modelTopology;
  const className = root.class_name;
  const config = root.config;
  if (className === 'Sequential') {
    const rawLayers = Array.isArray(config) ? config : isObject(config) ? config.layers : undefined;
    if (!Array.isArray(rawLayers) || rawLayers.length === 0) fail(file, 'Sequential config.layers', describeValue(rawLayers));
    const layers = rawLayers.map((raw) => layerRecord(raw, file));
    // A Sequential reads each layer from the one before it; the first declares the input shape.
    layers.forEach((layer, i) => (layer.inbound = i === 0 ? [] : [layers[i - 1].name]));
    return { layers, input: layers[0].name, output: layers[layers.length - 1].name, inputShape: shapeOf(layers[0].config) };
  }
  if (className !== 'Model' && className !== 'Functional') fail(file, 'class_name Sequential, Model or Functional', describeValue(className));
  if (!isObject(config) || !Array.isArray(config.layers)) fail(file, 'config.layers of the functional model', describeValue(isObject(config) ? config.layers : config));
  const layers = topologicalOrder(config.layers.map((raw) => layerRecord(raw, file)), file);
  const inputs = endpointNames(config.input_layers);
  const outputs = endpointNames(config.output_layers);
  if (inputs.length !== 1) fail(file, 'exactly one input layer', `${inputs.length} (${inputs.join(', ')})`);
  if (outputs.length !== 1) fail(file, 'exactly one output layer', `${outputs.length} (${outputs.join(', ')})`);
  const input = layers.find((l) => l.name === inputs[0]);
  if (!input) fail(file, 'input_layers to name a layer', JSON.stringify(inputs[0]));
  if (!layers.some((l) => l.name === outputs[0])) fail(file, 'output_layers to name a layer', JSON.stringify(outputs[0]));
  return { layers, input: input.name, output: outputs[0], inputShape: shapeOf(input.config) };
}
