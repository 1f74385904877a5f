/**
 * What may be published: atlas.json and diff.json name files, and whoever wrote them (or restored an
 * output folder from a cache) may point them anywhere. A file is published only when its real path
 * (symbolic links resolved) lies inside the output folder, it is a regular file, its name is an image
 * type the pages show, and its bytes are that type: a PNG, WebP or JPEG by its signature, an SVG only
 * when it holds the drawing elements and attributes charts use and nothing that runs script or loads
 * anything, an ONNX model only when it decodes as one. Each file is opened once, without following
 * a link, and every check and every copy reads that one handle (no check-then-open race). Anything
 * else fails the site build with the file that named it, before a page is written.
 */
import { realpath } from 'node:fs/promises';
import { extname } from 'node:path';
import onnxProto from 'onnx-proto';
import { userError } from '../../../pipeline/errors.js';
import { openWithoutLinks, type OpenedFile } from '../../../pipeline/util/open-file.js';
import { insideFolder } from '../../../pipeline/util/paths.js';

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

/**
 * The attributes those elements may carry: what pipeline/render/chart.ts writes (and the site
 * tests' charts), the geometry of the other drawing elements, and plain paint. No `style` (CSS can
 * load), no `href`, no `xml:*`, no other namespace.
 */
const SVG_ATTRIBUTES = new Set([
  'xmlns', 'version', 'width', 'height', 'viewbox', 'preserveaspectratio', 'role', 'aria-label',
  'x', 'y', 'x1', 'x2', 'y1', 'y2', 'dx', 'dy', 'cx', 'cy', 'r', 'rx', 'ry', 'd', 'points', 'transform',
  'fill', 'fill-opacity', 'stroke', 'stroke-width', 'stroke-opacity', 'stroke-dasharray', 'stroke-linecap', 'stroke-linejoin', 'opacity', 'paint-order',
  'font-family', 'font-size', 'font-weight', 'font-style', 'text-anchor', 'dominant-baseline',
]);
const SVG_NAMESPACE = 'http://www.w3.org/2000/svg';

/** One tag, strictly: a name, attributes with quoted or plain values, an optional self-close. */
const TAG = /<(\/?)([A-Za-z][\w.:-]*)((?:\s+[^\s"'<>/=]+(?:\s*=\s*(?:"[^"<]*"|'[^'<]*'|[^\s"'=<>`]+))?)*)\s*\/?>/y;
const ATTRIBUTE = /([^\s"'<>/=]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s"'=<>`]+))?/g;
/** The only references XML knows without a DTD; anything else (`&#114;`, `&#x72;`, `&name;`) is refused, never decoded. */
const NAMED_REFERENCES: Record<string, string> = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&apos;': "'" };
const REFERENCE = /&(?:#x[0-9a-f]*|#[0-9]*|[a-z][\w.-]*)?;?/gi;

/**
 * Why an SVG is not safe to serve from the site's origin (opened directly, an SVG runs its scripts),
 * or undefined when it is only drawing: allowed elements with allowed attributes (an allow-list of
 * what the tool's charts hold), the SVG namespace only, no character reference but the five XML
 * names (so `u&#114;l(` cannot spell `url(`), no event handler, no link, no external reference, no
 * doctype, entity, CDATA or processing instruction. Every `<` must start a tag this reads, so
 * markup a browser would read differently is refused rather than guessed at.
 */
export function unsafeSvg(text: string): string | undefined {
  const body = text.replace(/^\uFEFF?\s*<\?xml\s[^<>]*\?>/, '').replace(/<!--[\s\S]*?-->/g, '');
  for (const [reference] of body.matchAll(REFERENCE)) if (!(reference in NAMED_REFERENCES)) return `a character reference (${reference})`;
  const decode = (value: string) => value.replace(REFERENCE, (reference) => NAMED_REFERENCES[reference]!);
  let sawSvg = false;
  for (let at = body.indexOf('<'); at >= 0; at = body.indexOf('<', TAG.lastIndex)) {
    TAG.lastIndex = at;
    const tag = TAG.exec(body);
    if (!tag) return `markup that is not a plain tag at ${JSON.stringify(body.slice(at, at + 30))}`;
    const name = tag[2].toLowerCase();
    if (!SVG_ELEMENTS.has(name)) return `a <${tag[2]}> element`;
    sawSvg ||= name === 'svg';
    const attributes = [...tag[3].matchAll(ATTRIBUTE)].map(([, attribute, quoted = '']) => ({ attribute, key: attribute.toLowerCase(), value: decode(quoted.replace(/^(["'])([\s\S]*)\1$/, '$2')) }));
    // What runs or loads first, named as such; then anything the charts do not write.
    for (const { attribute, key, value } of attributes) {
      if (key.startsWith('on')) return `an event handler (${attribute})`;
      if (key === 'href' || key.endsWith(':href') || key === 'src') return `a link (${attribute})`;
      if (/url\s*\(|javascript:|data:/i.test(value)) return `an external reference in ${attribute}`;
    }
    for (const { attribute, key, value } of attributes) {
      if (!SVG_ATTRIBUTES.has(key)) return `an attribute charts do not use (${attribute} on <${tag[2]}>)`;
      if (key === 'xmlns' && value !== SVG_NAMESPACE) return `a namespace other than SVG's (xmlns=${JSON.stringify(value)})`;
    }
  }
  return sawSvg ? undefined : 'no <svg> element';
}

/** Why the bytes are not the published type their name says (of an image, the first 16 bytes are enough), or undefined. */
function contentProblem(bytes: Buffer, extension: string): string | undefined {
  if (extension === '.svg') {
    const reason = unsafeSvg(bytes.toString('utf8'));
    return reason && `an SVG with ${reason}`;
  }
  if (extension === '.onnx') return notOnnx(bytes);
  return PUBLISHED_TYPES[extension]!(bytes) ? undefined : `bytes that are not a ${extension.slice(1).toUpperCase()} image`;
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

const LINKS_FIX = 'Rebuild the atlas (`filter-atlas build`) or the diff (`filter-atlas diff`) into this output folder; do not point their files elsewhere.';

function refusal(check: PublishCheck, received: string, fix = LINKS_FIX): Error {
  return userError({ where: check.source, expected: `the file it references, ${JSON.stringify(check.file)}, to be a published image inside the output folder ${check.outputReal}`, received, fix });
}

function missing(check: PublishCheck): Error {
  return userError({ where: check.source, expected: `the file it references, ${JSON.stringify(check.file)}`, received: 'no such file', fix: check.missingFix });
}

/**
 * The file, opened once (util/open-file.ts) after its real path was found inside the output folder,
 * and found there again by the kernel once open: a regular file of a published type. The caller
 * reads its content from this handle only, and closes it.
 */
async function openPublishable(check: PublishCheck): Promise<OpenedFile & { real: string; extension: string }> {
  let real: string;
  try {
    real = await realpath(check.path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw missing(check);
    throw refusal(check, `a path that cannot be resolved (${code ?? String(error)})`);
  }
  if (insideFolder(check.outputReal, real) === undefined) throw refusal(check, `a link to ${real}, outside it`);
  let file: OpenedFile;
  try {
    file = await openWithoutLinks(real);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw missing(check);
    if (code === 'ELOOP') throw refusal(check, `a link at ${real} (it became one after it was checked)`);
    if (code === 'ENXIO' || code === 'EOPNOTSUPP') throw refusal(check, 'a special file (not a regular file)');
    throw refusal(check, `a file that cannot be opened (${code ?? String(error)})`);
  }
  try {
    if (file.opened === undefined || insideFolder(check.outputReal, file.opened) === undefined) {
      throw refusal(check, `a link to ${file.opened ?? 'another file'}, outside it (the path changed while it was opened)`);
    }
    if (!file.stats.isFile()) throw refusal(check, file.stats.isDirectory() ? 'a folder' : 'a special file (not a regular file)');
    const extension = extname(check.file).toLowerCase();
    if (!(extension in PUBLISHED_TYPES)) throw refusal(check, `a ${extension || 'extensionless'} file (only ${Object.keys(PUBLISHED_TYPES).join(', ')} are published)`);
    return { ...file, real: file.opened, extension };
  } catch (error) {
    await file.handle.close();
    throw error;
  }
}

/**
 * The real path and size of a file that may be published; a user error naming `source` otherwise.
 * Images are judged by their first 16 bytes, SVGs and models by all of them, read from the one handle.
 */
export async function publishable(check: PublishCheck): Promise<{ real: string; size: number }> {
  const file = await openPublishable(check);
  try {
    const whole = file.extension === '.svg' || file.extension === '.onnx';
    const head = async () => {
      const { buffer, bytesRead } = await file.handle.read(Buffer.alloc(16), 0, 16, 0);
      return buffer.subarray(0, bytesRead);
    };
    const bytes = whole ? await file.handle.readFile() : await head();
    const problem = contentProblem(bytes, file.extension);
    if (problem) throw refusal(check, problem);
    return { real: file.real, size: file.stats.size };
  } finally {
    await file.handle.close();
  }
}

/**
 * The bytes of a file that may be published, read whole from the handle that passed the checks and
 * judged as they are: what a copy or the dev server sends is exactly what was checked, whatever
 * happens to the path meanwhile. A user error naming `source` otherwise.
 */
export async function readPublishable(check: PublishCheck): Promise<{ real: string; bytes: Buffer }> {
  const file = await openPublishable(check);
  try {
    const bytes = await file.handle.readFile();
    const problem = contentProblem(bytes, file.extension);
    if (problem) throw refusal(check, problem);
    return { real: file.real, bytes };
  } finally {
    await file.handle.close();
  }
}
