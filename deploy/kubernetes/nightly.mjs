#!/usr/bin/env node
// `node deploy/kubernetes/nightly.mjs`: one night of the CronJob filter-atlas-nightly (cronjob.yaml),
// in its pod. In order:
//   1. creates tonight's shard Job from the template (/etc/filter-atlas-templates/shard-job.yaml) under
//      a name of its own, filter-atlas-shards-<YYYYMMDD-HHMM>, with this pod's image and pull secrets,
//      FILTER_ATLAS_SHARDS completions, ATLAS_VERSION=<ATLAS_ID>.<stamp> and its title; the Job is
//      owned by this pod's Job, so the CronJob's history limit removes both (and the template's TTL the shards'):
//      nothing to `kubectl delete` before the next night;
//   2. waits until that Job has ended, completed or failed, asking the API server with the pod's
//      service account (rbac.yaml: create and get jobs, get pods);
//   3. merges the shards' folders with --strict (a shard missing or a failed picture ends the night
//      here, with the error naming the shards to rerun: nothing is published);
//   4. keeps the last KEEP_VERSIONS versions (deploy/nightly-versions.mjs, as the GitHub workflow
//      does), diffs the last two and writes the history of the kept ones;
//   5. builds the site and publishes it: a copy in PUBLISH_DIR/<stamp>, then the link
//      PUBLISH_DIR/current switched to it at once (what a web server mounting the volume serves), then
//      PUBLISH_COMMAND if set (e.g. a sync to object storage), with SITE_DIR set to the copy.
// Parameters come from the environment (nightly.env, through the ConfigMap filter-atlas-nightly).
import { spawn } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { cp, readdir, readFile, rename, rm, stat, symlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse } from 'yaml';
import { prune, versionId, versionStamp, versionTitle } from '../nightly-versions.mjs';

const ACCOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';
const TEMPLATE = '/etc/filter-atlas-templates/shard-job.yaml';
const POLL_MS = 30_000;
const DATA = '/data';

/** True when a Job object (batch/v1) has ended: its Complete or Failed condition is True. */
export function jobEnded(job) {
  return endCondition(job) !== undefined;
}

function endCondition(job) {
  return (job?.status?.conditions ?? []).find((c) => c.status === 'True' && (c.type === 'Complete' || c.type === 'Failed'));
}

/** The parameters of a night, checked: each error names the variable and what it must be. */
export function readParameters(env) {
  const required = (name) => {
    const value = env[name]?.trim();
    if (!value) throw new Error(`${name}: not set (nightly.env, in the ConfigMap filter-atlas-nightly)`);
    return value;
  };
  const count = (name) => {
    const value = required(name);
    if (!/^[1-9]\d*$/.test(value)) throw new Error(`${name}: expected a whole number, 1 or more, received ${JSON.stringify(value)}`);
    return Number(value);
  };
  return {
    atlas: required('ATLAS_ID'),
    config: required('ATLAS_CONFIG'),
    model: required('ATLAS_MODEL'),
    shards: count('FILTER_ATLAS_SHARDS'),
    threads: count('ATLAS_THREADS'),
    keep: count('KEEP_VERSIONS'),
    publishDir: required('PUBLISH_DIR'),
    publishCommand: env.PUBLISH_COMMAND?.trim() || undefined,
    pod: required('POD_NAME'),
    namespace: required('POD_NAMESPACE'),
  };
}

/**
 * Tonight's shard Job: the template with a name of its own, the driver pod's image and pull secrets,
 * `shards` completions run at once, ATLAS_VERSION, and the driver's Job as its owner.
 */
export function shardJob(template, { stamp, version, title, shards, image, imagePullSecrets, owner }) {
  if (template?.kind !== 'Job' || template?.spec?.completionMode !== 'Indexed') throw new Error(`${TEMPLATE}: expected an Indexed Job (kind: Job, spec.completionMode: Indexed)`);
  const job = structuredClone(template);
  const pod = job.spec.template.spec;
  const container = pod.containers.find((c) => c.name === 'shard');
  if (!container) throw new Error(`${TEMPLATE}: expected a container named "shard" in spec.template.spec.containers`);
  job.metadata = { ...job.metadata, name: `${job.metadata?.name ?? 'filter-atlas-shards'}-${stamp}` };
  if (owner) job.metadata.ownerReferences = [{ apiVersion: 'batch/v1', kind: 'Job', name: owner.name, uid: owner.uid }];
  job.spec.completions = shards;
  job.spec.parallelism = shards;
  // Every container of the pod runs this image: the shards and the merge must be one code version.
  for (const c of pod.containers) c.image = image;
  const set = new Set(['ATLAS_VERSION', 'ATLAS_TITLE']);
  container.env = [...(container.env ?? []).filter((e) => !set.has(e.name)), { name: 'ATLAS_VERSION', value: version }, { name: 'ATLAS_TITLE', value: title }];
  if (imagePullSecrets?.length) pod.imagePullSecrets = imagePullSecrets;
  return job;
}

/** The Kubernetes API from inside a pod: the service account's token is read again for every request (it is rotated). */
export function inClusterApi(env) {
  const host = env.KUBERNETES_SERVICE_HOST ?? 'kubernetes.default.svc';
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  const base = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const request = async (method, path, body) => {
    const token = (await readFile(`${ACCOUNT}/token`, 'utf8')).trim();
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
    return response.json();
  };
  return { get: (path) => request('GET', path), post: (path, body) => request('POST', path, body) };
}

/** Runs a command with the pod's output; rejects with its exit status. */
function runCommand(command, args, env = {}) {
  return new Promise((done, fail) => {
    process.stdout.write(`$ ${[command, ...args].join(' ')}\n`);
    const child = spawn(command, args, { stdio: 'inherit', env: { ...process.env, ...env } });
    child.on('error', fail);
    child.on('exit', (code, signal) => (code === 0 ? done() : fail(new Error(`${[command, ...args.slice(0, 2)].join(' ')}: exit ${code ?? signal}`))));
  });
}

/** Copies the built site to PUBLISH_DIR/<stamp>, switches PUBLISH_DIR/current to it, removes older copies. */
export async function publishSite(siteDir, publishDir, stamp) {
  const target = join(publishDir, stamp);
  await rm(target, { recursive: true, force: true });
  await cp(siteDir, target, { recursive: true });
  const link = join(publishDir, '.current.new');
  await rm(link, { force: true });
  await symlink(stamp, link);
  await rename(link, join(publishDir, 'current'));
  for (const name of await readdir(publishDir)) {
    if (/^\d{8}-\d{4}$/.test(name) && name !== stamp) await rm(join(publishDir, name), { recursive: true, force: true });
  }
  return target;
}

/**
 * One night. `api` is the Kubernetes API (get/post of a path), `run` runs a command, `sleep` waits;
 * tests pass their own. `data` is the shared volume's mount.
 */
export async function nightly({ env, api, run = runCommand, sleep = (ms) => new Promise((r) => setTimeout(r, ms)), now = new Date(), data = DATA, template, repo = process.cwd() }) {
  const p = readParameters(env);
  const stamp = versionStamp(now);
  const version = versionId(p.atlas, stamp);
  const log = (line) => process.stdout.write(`${line}\n`);

  const self = await api.get(`/api/v1/namespaces/${p.namespace}/pods/${p.pod}`);
  const driver = self.spec.containers.find((c) => c.name === 'nightly') ?? self.spec.containers[0];
  const owner = (self.metadata.ownerReferences ?? []).find((o) => o.kind === 'Job');
  const job = shardJob(template, { stamp, version, title: versionTitle(p.atlas, stamp), shards: p.shards, image: driver.image, imagePullSecrets: self.spec.imagePullSecrets, owner });
  await api.post(`/apis/batch/v1/namespaces/${p.namespace}/jobs`, job);
  log(`job ${job.metadata.name}: ${p.shards} shards of ${version}`);
  for (;;) {
    const state = await api.get(`/apis/batch/v1/namespaces/${p.namespace}/jobs/${job.metadata.name}`);
    const ended = endCondition(state);
    if (ended) {
      log(`job ${job.metadata.name}: ${ended.type}${ended.type === 'Failed' ? ' (merging what there is: merge --strict names what is missing)' : ''}`);
      break;
    }
    await sleep(POLL_MS);
  }

  const output = join(data, 'output');
  // Only the folders there are: merge reads the shard count from their manifests and names the
  // shards whose work is missing.
  const shardFolders = [];
  for (let i = 0; i < p.shards; i++) {
    const folder = join(data, 'shards', String(i), version);
    if (await stat(folder).then((s) => s.isDirectory(), () => false)) shardFolders.push(folder);
  }
  if (shardFolders.length === 0) throw new Error(`no shard wrote ${version} (${join(data, 'shards', '<index>', version)}): see the logs of job ${job.metadata.name}`);
  await run('npx', ['filter-atlas', 'merge', ...shardFolders, '--output', output, '--strict']);

  const kept = (await prune(output, p.atlas, p.keep)).map((v) => join(output, v));
  if (kept.length >= 2) {
    await run('npx', ['filter-atlas', 'diff', kept.at(-2), kept.at(-1)]);
    await run('npx', ['filter-atlas', 'history', ...kept, '--name', p.atlas, '--output', output]);
  } else {
    log(`${p.atlas}: one version so far, no diff or history yet`);
  }

  await run('npm', ['run', 'site:build'], { FILTER_ATLAS_OUTPUT: output });
  const published = await publishSite(resolve(repo, 'site/dist'), p.publishDir, stamp);
  log(`site published: ${published} (${join(p.publishDir, 'current')})`);
  if (p.publishCommand) await run('sh', ['-c', p.publishCommand], { SITE_DIR: published });
  return { job, version, kept };
}

// Run as a script (also through a symlinked folder: Node runs the real file).
if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  (async () => {
    const template = parse(await readFile(TEMPLATE, 'utf8'));
    await nightly({ env: process.env, api: inClusterApi(process.env), template });
  })().catch((error) => {
    process.stderr.write(`nightly: ${error.message}\n`);
    process.exit(1);
  });
}
