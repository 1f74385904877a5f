/**
 * Build stage 3: the hypothesis test for each configured probe photo: the mean activation of every
 * channel of a layer, a bar chart, and the photo itself (as WebP) for the probe page.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import sharp from 'sharp';
import type { Engine } from '../engine/engine.js';
import type { CnnModel } from '../model/graph.js';
import { findLayer } from '../model/layers.js';
import { probeImage } from '../probe/probe.js';
import { renderProbeChart } from '../render/chart.js';
import { safeFileName } from '../util/file-names.js';
import { probeKey } from './keys.js';
import { probeFiles, probeRecordSchema } from './records.js';
import type { AtlasProbe } from '../schema/atlas.js';
import type { AtlasStore } from './store.js';

export interface ProbePlan {
  id?: string;
  /** Absolute path of the photo, and how the config named it. */
  path: string;
  source: string;
  layer: string;
  top: number;
}

/** The probe's id (atlas.json, the site's page name): the config's `id`, else `<photo stem>-<layer>` made a safe file name. */
export function probeId(plan: ProbePlan, layerName: string): string {
  return plan.id ?? safeFileName(`${basename(plan.source, extname(plan.source))}-${layerName}`);
}

/** A probe's result: the probe, or why there is none (its activations were not finite: NaN weights). */
export type ProbeOutcome = { probe: AtlasProbe; computed: boolean; key: string } | { skipped: string; computed: false };

export async function runProbe(model: CnnModel, engine: Engine, store: AtlasStore, plan: ProbePlan): Promise<ProbeOutcome> {
  const layer = findLayer(model, plan.layer).node.name;
  const photo = await readFile(plan.path);
  const name = basename(plan.source);
  const key = probeKey({
    model: model.name,
    labels: model.labels,
    weights: model.weightsDigest,
    preprocessing: model.preprocessing,
    photo: createHash('sha256').update(photo).digest('hex'),
    photoName: name,
    layer,
    top: plan.top,
    engine: engine.info,
  });
  const id = probeId(plan, layer);
  const existing = await store.readComplete(key, probeRecordSchema, probeFiles);
  if (existing) return { probe: { ...existing, id, source: plan.source }, computed: false, key };

  const result = await probeImage(engine, model, plan.path, layer, plan.top);
  const nonFinite = result.means.filter((mean) => !Number.isFinite(mean)).length;
  if (nonFinite > 0) {
    return { skipped: `${nonFinite} of the ${result.means.length} channel means of ${layer} are not finite (NaN or infinite weights?)`, computed: false };
  }
  const image = await store.writeFile(
    `files/${key}/photo.webp`,
    await sharp(photo).rotate().resize(512, 512, { fit: 'inside', withoutEnlargement: true }).webp({ quality: 85 }).toBuffer(),
  );
  const chart = await store.writeFile(
    `files/${key}/chart.svg`,
    renderProbeChart({ means: result.means, top: result.top, title: `${model.name} ${layer}: mean activation per channel for ${name}`, labels: model.labels?.length === result.means.length ? model.labels : undefined }),
  );
  const probe: AtlasProbe = { id, image, source: plan.source, layer, chart, means: result.means, top: result.top };
  await store.writeRecord(key, probe);
  return { probe, computed: true, key };
}
