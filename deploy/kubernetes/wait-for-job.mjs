#!/usr/bin/env node
// `node deploy/kubernetes/wait-for-job.mjs <job>`: waits inside a pod until the Kubernetes Job <job>
// of the pod's namespace has ended, completed or failed (the merge Job of atlas-job.yaml runs after the
// shards either way: a merge without a shard marks the atlas incomplete). It asks the API server with
// the pod's service account (which needs get on jobs), so the image needs nothing besides Node: no
// kubectl image to pull and keep up to date.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const ACCOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';
const POLL_MS = 30_000;

/** True when a Job object (batch/v1) has ended: its Complete or Failed condition is True. */
export function jobEnded(job) {
  return (job?.status?.conditions ?? []).some((c) => c.status === 'True' && (c.type === 'Complete' || c.type === 'Failed'));
}

async function main(name) {
  if (!name) throw new Error('usage: wait-for-job.mjs <job name>');
  const token = readFileSync(`${ACCOUNT}/token`, 'utf8').trim();
  const namespace = readFileSync(`${ACCOUNT}/namespace`, 'utf8').trim();
  const host = process.env.KUBERNETES_SERVICE_HOST ?? 'kubernetes.default.svc';
  const port = process.env.KUBERNETES_SERVICE_PORT ?? '443';
  const url = `https://${host.includes(':') ? `[${host}]` : host}:${port}/apis/batch/v1/namespaces/${namespace}/jobs/${name}`;
  for (;;) {
    const response = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    if (!response.ok) throw new Error(`GET ${url}: ${response.status} ${await response.text()}`);
    const job = await response.json();
    if (jobEnded(job)) {
      const ended = job.status.conditions.find((c) => c.status === 'True' && (c.type === 'Complete' || c.type === 'Failed'));
      process.stdout.write(`job ${name}: ${ended.type}\n`);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv[2]).catch((error) => {
    process.stderr.write(`wait-for-job: ${error.message}\n`);
    process.exit(1);
  });
}
