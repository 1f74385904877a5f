/**
 * Renders deploy/kubernetes/kustomization.yaml in the test, without a kustomize binary, for exactly
 * the fields it uses: `resources` (multi-document YAML files), `configMapGenerator` with `envs`
 * and `files`, `generatorOptions.disableNameSuffixHash` and `images` (name -> newName, newTag or
 * digest, on every container and init container of the resources). Any other field is refused, so a
 * kustomization that grows past this renderer fails the test instead of being rendered wrong.
 * kubernetes.test.ts compares it with `kubectl kustomize` where kubectl is installed.
 */
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';

export interface KubernetesObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; [field: string]: unknown };
  [field: string]: unknown;
}

interface Kustomization {
  resources?: string[];
  images?: Array<{ name: string; newName?: string; newTag?: string; digest?: string }>;
  configMapGenerator?: Array<{ name: string; envs?: string[]; files?: string[] }>;
  generatorOptions?: { disableNameSuffixHash?: boolean };
}

const SUPPORTED = new Set(['apiVersion', 'kind', 'resources', 'images', 'configMapGenerator', 'generatorOptions']);

/** KEY=VALUE lines of a kustomize env file; blank lines and # comments skipped. */
export function parseEnvFile(text: string, file: string): Record<string, string> {
  const data: Record<string, string> = {};
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const at = line.indexOf('=');
    if (at <= 0) throw new Error(`${file}:${i + 1}: expected KEY=VALUE, received ${JSON.stringify(line)}`);
    data[line.slice(0, at)] = line.slice(at + 1);
  }
  return data;
}

function containersOf(object: KubernetesObject): Array<{ image?: string }> {
  const pods: unknown[] = [];
  const spec = object.spec as Record<string, any> | undefined;
  if (object.kind === 'CronJob') pods.push(spec?.jobTemplate?.spec?.template?.spec);
  else if (spec?.template?.spec) pods.push(spec.template.spec);
  return pods.flatMap((pod) => {
    const p = pod as { containers?: Array<{ image?: string }>; initContainers?: Array<{ image?: string }> } | undefined;
    return [...(p?.initContainers ?? []), ...(p?.containers ?? [])];
  });
}

/** The objects `kubectl apply -k <dir>` would apply. */
export function renderKustomization(dir: string): KubernetesObject[] {
  const kustomization = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as Kustomization & Record<string, unknown>;
  const unsupported = Object.keys(kustomization).filter((k) => !SUPPORTED.has(k));
  if (unsupported.length > 0) throw new Error(`kustomization.yaml: fields this renderer does not know: ${unsupported.join(', ')}`);
  if (kustomization.configMapGenerator && kustomization.generatorOptions?.disableNameSuffixHash !== true) {
    throw new Error('kustomization.yaml: generated names get a hash suffix unless generatorOptions.disableNameSuffixHash is true');
  }
  const objects: KubernetesObject[] = [];
  for (const file of kustomization.resources ?? []) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, file), 'utf8'))) {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0].message}`);
      const object = doc.toJS() as KubernetesObject | null;
      if (object) objects.push(object);
    }
  }
  for (const generator of kustomization.configMapGenerator ?? []) {
    const data: Record<string, string> = {};
    for (const file of generator.envs ?? []) Object.assign(data, parseEnvFile(readFileSync(join(dir, file), 'utf8'), file));
    for (const file of generator.files ?? []) data[basename(file)] = readFileSync(join(dir, file), 'utf8');
    objects.push({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: generator.name }, data });
  }
  for (const image of kustomization.images ?? []) {
    for (const container of objects.flatMap(containersOf)) {
      const [name, tag] = (container.image ?? '').split(/(?=[:@])/);
      if (name !== image.name) continue;
      container.image = `${image.newName ?? name}${image.digest ? `@${image.digest}` : image.newTag ? `:${image.newTag}` : (tag ?? '')}`;
    }
  }
  return objects;
}
