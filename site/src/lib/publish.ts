/**
 * What may be published: atlas.json and diff.json name files, and whoever wrote them (or restored an
 * output folder from a cache) may point them anywhere. A file is published only when its real path
 * (symbolic links resolved) lies inside the output folder, it is a regular file, its name is an image
 * type the pages show, and its bytes are that type: a PNG, WebP or JPEG by its signature, an SVG only
 * when it holds drawing elements and nothing that runs script or loads anything, an ONNX model only
 * when it decodes as one. Anything else fails
 * the site build with the file that named it, before a page is written.
 */
import { open, readFile, realpath, stat } from 'node:fs/promises';
import { extname, isAbsolute, relative } from 'node:path';
import onnxProto from 'onnx-proto';
import { userError } from '../../../pipeline/errors.js';

/** The types pages show (visualisations, thumbnails, crops, probe photos and charts) and the browser probe's ONNX models. */
export const PUBLISHED_TYPES: Record<string, (head: Buffer) => boolean> = {
  '.png': (b) => b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
  '.webp': (b) => b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP',
  '.jpg': (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff,
  '.jpeg': (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff,
  '.svg': () => true,
  '.onnx': () => true,
};

/**
 * Why a file is not an ONNX model a page may hand to onnxruntime-web, or undefined when it decodes
 * as one (a ModelProto with a graph that has inputs and outputs); the browser probe's models only.
 */
export function notOnnx(bytes: Uint8Array): string | undefined {
  try {
    const model = onnxProto.onnx.ModelProto.decode(bytes);
    const graph = model.graph;
    if (!model.irVersion || !graph || !graph.input?.length || !graph.output?.length) return 'a protobuf that is not an ONNX model with inputs and outputs';
    return undefined;
  } catch {
    return 'bytes that are not an ONNX model';
  }
}

/** SVG elements a chart is drawn with; nothing that scripts, links, embeds or animates. */
const SVG_ELEMENTS = new Set(['svg', 'g', 'rect', 'line', 'path', 'text', 'tspan', 'title', 'desc', 'circle', 'ellipse', 'polyline', 'polygon']);

/** One tag, strictly: a name, attributes with quoted or plain values, an optional self-close. */
const TAG = /<(\/?)([A-Za-z][\w.:-]*)((?:\s+[^\s"'<>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?)*)\s*\/?>/y;
const ATTRIBUTE = /([^\s"'<>/=]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s"'=<>`]+))?/g;

/**
 * Why an SVG is not safe to serve from the site's origin (opened directly, an SVG runs its scripts),
 * or undefined when it is only drawing: allowed elements, no event handler, no link, no external
 * reference, no doctype, entity, CDATA or processing instruction. Every `<` must start a tag this
 * reads, so markup a browser would read differently is refused rather than guessed at.
 */
export function unsafeSvg(text: string): string | undefined {
  const body = text.replace(/^\uFEFF?\s*<\?xml\s[^<>]*\?>/, '').replace(/<!--[\s\S]*?-->/g, '');
  let sawSvg = false;
  for (let at = body.indexOf('<'); at >= 0; at = body.indexOf('<', at + 1)) {
    TAG.lastIndex = at;
    const tag = TAG.exec(body);
    if (!tag) return `markup that is not a plain tag at ${JSON.stringify(body.slice(at, at + 30))}`;
    const name = tag[2].toLowerCase();
    if (!SVG_ELEMENTS.has(name)) return `a <${tag[2]}> element`;
    sawSvg ||= name === 'svg';
    for (const [, attribute, value = ''] of tag[3].matchAll(ATTRIBUTE)) {
      const key = attribute.toLowerCase();
      if (key.startsWith('on')) return `an event handler (${attribute})`;
      if (key === 'href' || key.endsWith(':href') || key === 'src') return `a link (${attribute})`;
      if (/url\s*\(|javascript:|data:/i.test(value)) return `an external reference in ${attribute}`;
    }
  }
  return sawSvg ? undefined : 'no <svg> element';
}

/** Why the file's bytes are not the image type its name says, or undefined when they are. */
async function contentProblem(path: string, extension: string): Promise<string | undefined> {
  if (extension === '.svg') {
    const reason = unsafeSvg(await readFile(path, 'utf8'));
    return reason && `an SVG with ${reason}`;
  }
  if (extension === '.onnx') return notOnnx(await readFile(path));
  const handle = await open(path, 'r');
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(16), 0, 16, 0);
    return PUBLISHED_TYPES[extension]!(buffer.subarray(0, bytesRead)) ? undefined : `bytes that are not a ${extension.slice(1).toUpperCase()} image`;
  } finally {
    await handle.close();
  }
}

function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

export interface PublishCheck {
  /** The output folder's real path (realpath of FILTER_ATLAS_OUTPUT). */
  outputReal: string;
  /** The path the atlas or diff names, already checked to stay inside its folder by name. */
  path: string;
  /** The name as written, and the atlas.json or diff.json that names it (for errors). */
  file: string;
  source: string;
  /** What to do when the file is missing. */
  missingFix: string;
}

/** The real path and size of a file that may be published; a user error naming `source` otherwise. */
export async function publishable(check: PublishCheck): Promise<{ real: string; size: number }> {
  const refuse = (received: string, fix = 'Rebuild the atlas (`filter-atlas build`) or the diff (`filter-atlas diff`) into this output folder; do not point their files elsewhere.') =>
    userError({ where: check.source, expected: `the file it references, ${JSON.stringify(check.file)}, to be a published image inside the output folder ${check.outputReal}`, received, fix });
  let real: string;
  try {
    real = await realpath(check.path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw userError({ where: check.source, expected: `the file it references, ${JSON.stringify(check.file)}`, received: 'no such file', fix: check.missingFix });
    }
    throw refuse(`a path that cannot be resolved (${code ?? String(error)})`);
  }
  if (!inside(check.outputReal, real)) throw refuse(`a link to ${real}, outside it`);
  const info = await stat(real);
  if (!info.isFile()) throw refuse(info.isDirectory() ? 'a folder' : 'a special file (not a regular file)');
  const extension = extname(check.file).toLowerCase();
  if (!(extension in PUBLISHED_TYPES)) throw refuse(`a ${extension || 'extensionless'} file (only ${Object.keys(PUBLISHED_TYPES).join(', ')} are published)`);
  const problem = await contentProblem(real, extension);
  if (problem) throw refuse(problem);
  return { real, size: info.size };
}
