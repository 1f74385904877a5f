/**
 * deploy/kubernetes/: the kustomization renders to objects that pass the Kubernetes API schemas
 * (kubernetes-models: each object's validate()), the shard Job the driver creates from its template
 * passes them too, the objects name each other consistently (volume, ConfigMaps, service account and
 * its rights, the config's path, the thread count), and the driver (nightly.mjs) runs a night in order
 * against a fake API server: create a uniquely named Job, wait for it to end, merge --strict, keep the
 * last versions, diff, history, site, publish. Which filter-atlas commands and flags it calls is
 * checked against the real CLI in test/nightly/workflow.test.ts.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CronJob, Job } from 'kubernetes-models/batch/v1';
import { Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { ConfigMap, PersistentVolumeClaim, ServiceAccount } from 'kubernetes-models/v1';
import { parse, parseAllDocuments } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../pipeline/config/load.js';
import { parseEnvFile, renderKustomization, type KubernetesObject } from './kustomize.js';

const root = resolve(import.meta.dirname, '../..');
const dir = resolve(root, 'deploy/kubernetes');

/** The models of the kinds deploy/kubernetes uses; any other kind fails the test (no schema to check it). */
const MODELS: Record<string, new (data: any) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'v1/ServiceAccount': ServiceAccount,
  'batch/v1/CronJob': CronJob,
  'batch/v1/Job': Job,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
};

/** Throws what the API schema finds wrong in the object (kubernetes-models' validate()). */
function validate(object: KubernetesObject): void {
  const Model = MODELS[`${object.apiVersion}/${object.kind}`];
  if (!Model) throw new Error(`no schema for ${object.apiVersion} ${object.kind} ${object.metadata?.name}`);
  new Model(object).validate();
}

interface Driver {
  nightly(options: Record<string, unknown>): Promise<{ job: KubernetesObject; version: string; kept: string[] }>;
  shardJob(template: unknown, options: Record<string, unknown>): KubernetesObject;
  readParameters(env: Record<string, string | undefined>): { threads: number; shards: number; config: string };
  jobEnded(job: unknown): boolean;
}
const driver = (await import(pathToFileURL(resolve(dir, 'nightly.mjs')).href)) as Driver;

const objects = renderKustomization(dir);
const byKind = (kind: string) => objects.filter((o) => o.kind === kind);
const named = (kind: string, name: string) => {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} in the rendered kustomization`);
  return found as any;
};
const cronJob = byKind('CronJob')[0] as any;
const driverPod = cronJob.spec.jobTemplate.spec.template.spec;
const template = parse(named('ConfigMap', 'filter-atlas-templates').data['shard-job.yaml']);
const parameters = named('ConfigMap', 'filter-atlas-nightly').data as Record<string, string>;
const podEnv = { ...parameters, POD_NAME: 'filter-atlas-nightly-123-abcde', POD_NAMESPACE: 'atlas' };
const stamp = '20261207-0317';
const tonight = driver.shardJob(template, {
  stamp,
  version: `darknet-tiny.${stamp}`,
  title: 'darknet-tiny, 2026-12-07 03:17 UTC',
  shards: 3,
  image: 'registry.example.com/filter-atlas:0.1.0',
  imagePullSecrets: [{ name: 'registry' }],
  owner: { name: 'filter-atlas-nightly-123', uid: '0e5c6a0c-1111-2222-3333-444455556666' },
}) as any;

describe('Kubernetes manifests', () => {
  it('render to the objects kubectl kustomize makes (where kubectl is installed)', { skip: !hasKubectl() }, () => {
    const rendered = parseAllDocuments(execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8' })).map((d) => d.toJS() as KubernetesObject);
    const key = (o: KubernetesObject) => `${o.kind}/${o.metadata.name}`;
    const sorted = (list: KubernetesObject[]) => [...list].sort((a, b) => key(a).localeCompare(key(b)));
    expect(sorted(objects)).toEqual(sorted(rendered));
  });

  it('every rendered object, and the shard Job the driver creates, passes the Kubernetes API schemas', () => {
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
      'ConfigMap/filter-atlas-config',
      'ConfigMap/filter-atlas-nightly',
      'ConfigMap/filter-atlas-templates',
      'CronJob/filter-atlas-nightly',
      'PersistentVolumeClaim/filter-atlas-data',
      'Role/filter-atlas-nightly',
      'RoleBinding/filter-atlas-nightly',
      'ServiceAccount/filter-atlas-nightly',
    ]);
    for (const object of objects) expect(() => validate(object), `${object.kind}/${object.metadata.name}`).not.toThrow();
    expect(() => validate(template)).not.toThrow();
    expect(() => validate(tonight)).not.toThrow();
  });

  it('a broken manifest fails the validation', () => {
    const broken = structuredClone(cronJob);
    delete broken.spec.jobTemplate.spec.template.spec.containers[0].name;
    expect(() => validate(broken)).toThrow(/containers\/0 must have required property name/);
    const policy = structuredClone(cronJob);
    policy.spec.concurrencyPolicy = 'Sometimes';
    expect(() => validate(policy)).toThrow(/concurrencyPolicy must be equal to one of the allowed values/);
    const count = structuredClone(tonight);
    count.spec.completions = '3';
    expect(() => validate(count)).toThrow(/completions must be integer/);
  });

  it('take the image from kustomization.yaml, once: the driver gives the shard Job its own', () => {
    expect(driverPod.containers.map((c: { image: string }) => c.image)).toEqual(['registry.example.com/filter-atlas:0.1.0']);
    expect(tonight.spec.template.spec.containers.map((c: { image: string }) => c.image)).toEqual(['registry.example.com/filter-atlas:0.1.0']);
    expect(tonight.spec.template.spec.imagePullSecrets).toEqual([{ name: 'registry' }]);
  });

  it('give tonight\'s shard Job a name of its own, its owner, the shard count and the version', () => {
    expect(tonight.metadata.name).toBe(`filter-atlas-shards-${stamp}`);
    expect(tonight.metadata.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(tonight.metadata.ownerReferences).toEqual([{ apiVersion: 'batch/v1', kind: 'Job', name: 'filter-atlas-nightly-123', uid: '0e5c6a0c-1111-2222-3333-444455556666' }]);
    expect(tonight.spec).toMatchObject({ completionMode: 'Indexed', completions: 3, parallelism: 3 });
    expect(tonight.spec.ttlSecondsAfterFinished).toBeGreaterThan(0);
    expect(tonight.spec.template.spec.containers[0].env).toEqual([
      { name: 'ATLAS_VERSION', value: `darknet-tiny.${stamp}` },
      { name: 'ATLAS_TITLE', value: 'darknet-tiny, 2026-12-07 03:17 UTC' },
    ]);
    // The template itself is untouched.
    expect(template.metadata.name).toBe('filter-atlas-shards');
  });

  it('name each other: the volume, the ConfigMaps, the account and its rights', () => {
    const claim = byKind('PersistentVolumeClaim')[0] as any;
    expect(claim.spec.accessModes).toEqual(['ReadWriteMany']);
    for (const pod of [driverPod, template.spec.template.spec]) {
      for (const volume of pod.volumes) {
        if (volume.persistentVolumeClaim) expect(volume.persistentVolumeClaim.claimName).toBe(claim.metadata.name);
        if (volume.configMap) named('ConfigMap', volume.configMap.name);
      }
      for (const container of pod.containers) {
        for (const from of container.envFrom ?? []) named('ConfigMap', from.configMapRef.name);
        const mounts = container.volumeMounts.map((m: { name: string; mountPath: string }) => m.name);
        expect(mounts).toContain('data');
        expect(container.volumeMounts.find((m: { name: string }) => m.name === 'data').mountPath).toBe('/data');
      }
    }
    // The driver reads its own pod and creates and reads Jobs, with its own account.
    const account = driverPod.serviceAccountName;
    named('ServiceAccount', account);
    const binding = byKind('RoleBinding').find((b: any) => b.subjects.some((s: { kind: string; name: string }) => s.kind === 'ServiceAccount' && s.name === account)) as any;
    const role = named('Role', binding.roleRef.name);
    expect(role.rules).toContainEqual({ apiGroups: ['batch'], resources: ['jobs'], verbs: expect.arrayContaining(['create', 'get']) });
    expect(role.rules).toContainEqual({ apiGroups: [''], resources: ['pods'], verbs: expect.arrayContaining(['get']) });
    // Its command is the driver, and the template is where the driver reads it.
    expect(driverPod.containers[0].command).toEqual(['node', 'deploy/kubernetes/nightly.mjs']);
    const mounts = Object.fromEntries(driverPod.containers[0].volumeMounts.map((m: { name: string; mountPath: string }) => [m.name, m.mountPath]));
    expect(mounts.templates).toBe('/etc/filter-atlas-templates');
    expect(readFileSync(resolve(dir, 'nightly.mjs'), 'utf8')).toContain("'/etc/filter-atlas-templates/shard-job.yaml'");
  });

  it('run a night at a time on a schedule, never retried whole', () => {
    expect(cronJob.spec.concurrencyPolicy).toBe('Forbid');
    expect(cronJob.spec.jobTemplate.spec.backoffLimit).toBe(0);
    expect(cronJob.spec.successfulJobsHistoryLimit).toBeGreaterThan(0);
  });

  it('take the parameters from nightly.env: they pass the driver\'s checks, the config loads, the shard\'s cores match its threads', async () => {
    const p = driver.readParameters(podEnv);
    expect(p.shards).toBeGreaterThan(1);
    // The config's path is the ConfigMap's key under its mount.
    const configMount = template.spec.template.spec.containers[0].volumeMounts.find((m: { name: string }) => m.name === 'config').mountPath;
    expect(p.config).toBe(`${configMount}/atlas.yaml`);
    expect(Object.keys(named('ConfigMap', 'filter-atlas-config').data)).toEqual(['atlas.yaml']);
    const config = await loadConfig(resolve(dir, 'atlas.yaml'), {
      atlas: { value: `${parameters.ATLAS_ID}.${stamp}`, where: 'ATLAS_ID' },
      model: { value: parameters.ATLAS_MODEL, where: 'ATLAS_MODEL' },
    });
    expect(config.atlas).toBe(`darknet-tiny.${stamp}`);
    const resources = template.spec.template.spec.containers[0].resources;
    expect(Number(resources.requests.cpu)).toBe(p.threads);
    expect(Number(resources.limits.cpu)).toBe(p.threads);
    expect(() => driver.readParameters({ ...podEnv, KEEP_VERSIONS: 'three' })).toThrow(/KEEP_VERSIONS: expected a whole number/);
    expect(() => driver.readParameters({ ...podEnv, ATLAS_MODEL: '' })).toThrow(/ATLAS_MODEL: not set/);
  });

  it('parse nightly.env as kustomize does (comments and blank lines skipped)', () => {
    const env = parseEnvFile(readFileSync(resolve(dir, 'nightly.env'), 'utf8'), 'nightly.env');
    expect(env).toEqual(parameters);
    expect(env).not.toHaveProperty('PUBLISH_COMMAND');
    expect(() => parseEnvFile('JUST_A_NAME\n', 'x.env')).toThrow(/x.env:1: expected KEY=VALUE/);
  });
});

describe('the nightly driver (deploy/kubernetes/nightly.mjs), against a fake API server', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'nightly-driver-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  /** A fake API: the driver's pod, then the Job it created, still running for `polls` reads. */
  function fakeApi(polls: number, end: 'Complete' | 'Failed') {
    const calls: string[] = [];
    let created: KubernetesObject | undefined;
    let reads = 0;
    const api = {
      async get(path: string) {
        calls.push(`GET ${path}`);
        if (path === '/api/v1/namespaces/atlas/pods/filter-atlas-nightly-123-abcde') {
          return {
            metadata: { name: 'filter-atlas-nightly-123-abcde', ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: 'filter-atlas-nightly-123', uid: 'u-1' }] },
            spec: { containers: [{ name: 'nightly', image: 'registry.example.com/filter-atlas@sha256:abc' }], imagePullSecrets: [{ name: 'registry' }] },
          };
        }
        if (created && path === `/apis/batch/v1/namespaces/atlas/jobs/${created.metadata.name}`) {
          reads++;
          return reads <= polls ? { status: { active: 3 } } : { status: { conditions: [{ type: end, status: 'True' }] } };
        }
        throw new Error(`GET ${path}: 404`);
      },
      async post(path: string, body: KubernetesObject) {
        calls.push(`POST ${path}`);
        created = body;
        return body;
      },
    };
    return { api, calls, created: () => created };
  }

  function atlasJson(folder: string, digest: string) {
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'atlas.json'), JSON.stringify({ complete: true, model: { weightsDigest: digest } }));
  }

  it('creates the Job, waits for it, merges --strict, keeps the last versions, diffs, writes the history, builds and publishes', async () => {
    const data = join(scratch, 'night');
    const output = join(data, 'output');
    for (const [i, night] of ['20261204-0317', '20261205-0317', '20261206-0317'].entries()) atlasJson(join(output, `darknet-tiny.${night}`), String(i).repeat(64));
    for (let i = 0; i < 3; i++) mkdirSync(join(data, 'shards', String(i), `darknet-tiny.${stamp}`), { recursive: true });
    const repo = join(scratch, 'repo');
    const { api, calls, created } = fakeApi(2, 'Complete');
    const commands: string[][] = [];
    const sleeps: number[] = [];
    const run = async (command: string, args: string[], env?: Record<string, string>) => {
      commands.push([command, ...args]);
      if (args[1] === 'merge') atlasJson(join(output, `darknet-tiny.${stamp}`), '3'.repeat(64));
      if (args[1] === 'site:build') {
        expect(env?.FILTER_ATLAS_OUTPUT).toBe(output);
        mkdirSync(join(repo, 'site/dist'), { recursive: true });
        writeFileSync(join(repo, 'site/dist/index.html'), '<h1>atlas</h1>');
      }
    };
    const env = { ...podEnv, FILTER_ATLAS_SHARDS: '3', KEEP_VERSIONS: '3', PUBLISH_DIR: join(data, 'public'), PUBLISH_COMMAND: 'true' };
    const night = await driver.nightly({ env, api, run, sleep: async (ms: number) => void sleeps.push(ms), now: new Date('2026-12-07T03:17:42Z'), data, template, repo });

    expect(calls[0]).toBe('GET /api/v1/namespaces/atlas/pods/filter-atlas-nightly-123-abcde');
    expect(calls[1]).toBe('POST /apis/batch/v1/namespaces/atlas/jobs');
    expect(calls.slice(2)).toEqual(Array(3).fill(`GET /apis/batch/v1/namespaces/atlas/jobs/filter-atlas-shards-${stamp}`));
    expect(sleeps).toEqual([30_000, 30_000]);
    const job = created()!;
    expect(() => validate(job)).not.toThrow();
    expect((job as any).spec.template.spec.containers[0].image).toBe('registry.example.com/filter-atlas@sha256:abc');
    expect((job as any).spec.completions).toBe(3);
    expect((job as any).spec.template.spec.containers[0].env).toContainEqual({ name: 'ATLAS_TITLE', value: 'darknet-tiny, 2026-12-07 03:17 UTC' });

    const version = (night: string) => join(output, `darknet-tiny.${night}`);
    const kept = ['20261205-0317', '20261206-0317', stamp].map(version);
    expect(commands).toEqual([
      ['npx', 'filter-atlas', 'merge', ...[0, 1, 2].map((i) => join(data, 'shards', String(i), `darknet-tiny.${stamp}`)), '--output', output, '--strict'],
      ['npx', 'filter-atlas', 'diff', kept[1], kept[2]],
      ['npx', 'filter-atlas', 'history', ...kept, '--name', 'darknet-tiny', '--output', output],
      ['npm', 'run', 'site:build'],
      ['sh', '-c', 'true'],
    ]);
    expect(existsSync(version('20261204-0317'))).toBe(false);
    expect(night.kept).toEqual(kept);
    expect(readlinkSync(join(data, 'public', 'current'))).toBe(stamp);
    expect(readFileSync(join(data, 'public', 'current', 'index.html'), 'utf8')).toBe('<h1>atlas</h1>');
  });

  it('merges what there is after a failed shard Job, and publishes nothing when merge --strict fails', async () => {
    const data = join(scratch, 'failed');
    mkdirSync(join(data, 'shards', '0', `darknet-tiny.${stamp}`), { recursive: true });
    const { api } = fakeApi(0, 'Failed');
    const commands: string[][] = [];
    const run = async (command: string, args: string[]) => {
      commands.push([command, ...args]);
      if (args[1] === 'merge') throw new Error('npx merge: exit 1');
    };
    const env = { ...podEnv, FILTER_ATLAS_SHARDS: '2', PUBLISH_DIR: join(data, 'public') };
    await expect(driver.nightly({ env, api, run, sleep: async () => {}, now: new Date('2026-12-07T03:17:00Z'), data, template, repo: scratch })).rejects.toThrow(/merge: exit 1/);
    // Only the shard folder that exists: merge names the missing shard itself.
    expect(commands).toEqual([['npx', 'filter-atlas', 'merge', join(data, 'shards', '0', `darknet-tiny.${stamp}`), '--output', join(data, 'output'), '--strict']]);
    expect(existsSync(join(data, 'public'))).toBe(false);
  });

  it('waits for a Job that completed or failed, not one still running', () => {
    expect(driver.jobEnded({ status: { conditions: [{ type: 'Complete', status: 'True' }] } })).toBe(true);
    expect(driver.jobEnded({ status: { conditions: [{ type: 'FailureTarget', status: 'True' }, { type: 'Failed', status: 'True' }] } })).toBe(true);
    expect(driver.jobEnded({ status: { active: 3 } })).toBe(false);
    expect(driver.jobEnded({ status: { conditions: [{ type: 'Complete', status: 'False' }] } })).toBe(false);
  });
});

function hasKubectl(): boolean {
  try {
    execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
