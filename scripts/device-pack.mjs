#!/usr/bin/env node
/**
 * Stages what the device check runs on a machine without Node or npm (scripts/device-check.sh pack):
 *   <stage>/node                       this Node binary
 *   <stage>/app/package.json           {"type": "module"}
 *   <stage>/app/<file>.js              the project's modules the check imports, TypeScript stripped
 *                                      file by file (same layout, so data files beside them still resolve)
 *   <stage>/app/pipeline/**            the data files those modules read (ImageNet classes, manifests)
 *   <stage>/app/node_modules/<pkg>     only the packages those modules import; of onnxruntime-node only
 *                                      its JavaScript and the linux-x64 binaries
 * The import graph comes from esbuild (tsx's own dependency, so nothing new is installed): a bundle
 * of the entry with a metafile, not written, lists every project file and package reached.
 *
 *   node scripts/device-pack.mjs <stage>     stage it
 *   node scripts/device-pack.mjs --list      print the project files and packages it would take (a test reads it)
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ENTRY = 'bench/device/check.ts';
/** Native or unused on this path: never taken, and the check fails here if one is imported statically. */
const EXTERNAL = ['onnxruntime-node', 'sharp', '@tensorflow/*'];
/** Data files the project's modules read at run time, by the folder of the module that reads them. */
const DATA = { 'pipeline/model': ['pipeline/model/data'], 'pipeline/assets': ['pipeline/assets/manifests'] };

const requireFromTsx = createRequire(createRequire(join(root, 'package.json')).resolve('tsx/package.json'));
const esbuild = await import(requireFromTsx.resolve('esbuild'));

/**
 * The folder of package `name` as Node would find it from `from` (a folder): the nearest
 * node_modules/<name> upwards. Looked up by hand: `require.resolve('<name>/package.json')` fails for
 * packages whose "exports" leave package.json out (onnxruntime-common).
 */
function packageDir(name, from) {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}

/** Project files and package names the entry reaches. */
async function importGraph() {
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: [ENTRY],
    bundle: true,
    write: false,
    metafile: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: EXTERNAL,
    logLevel: 'error',
  });
  const files = Object.keys(result.metafile.inputs);
  const project = files.filter((f) => !f.includes('node_modules/')).sort();
  const packages = new Set();
  for (const file of files.filter((f) => f.includes('node_modules/'))) {
    const rest = file.slice(file.lastIndexOf('node_modules/') + 'node_modules/'.length).split('/');
    packages.add(rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]);
  }
  // Externals the bundle still imports statically would be loaded at start: only onnxruntime-node may be.
  const externals = new Set(Object.values(result.metafile.outputs).flatMap((o) => o.imports.filter((i) => i.external && i.kind === 'import-statement').map((i) => i.path)));
  const stray = [...externals].filter((p) => !p.startsWith('node:') && p !== 'onnxruntime-node');
  if (stray.length) throw new Error(`the device check imports ${stray.join(', ')} statically; the pack leaves them out`);
  return { project, packages: withDependencies([...packages]).sort() };
}

/**
 * The packages and what they declare as dependencies, transitively: a package may load one the
 * bundler cannot see (protobufjs looks for `long` with a hidden require). Type packages are left out.
 */
function withDependencies(names) {
  const seen = new Set();
  const visit = (name, from) => {
    if (seen.has(name) || name.startsWith('@types/')) return;
    const dir = packageDir(name, from);
    if (!dir) return; // an optional dependency that is not installed
    seen.add(name);
    const { dependencies = {} } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    for (const dependency of Object.keys(dependencies)) visit(dependency, dir);
  };
  for (const name of names) visit(name, root);
  return [...seen];
}

/** onnxruntime-node without the other platforms' binaries (the package holds darwin, win32 and linux arm64 too). */
function copyOnnxruntime(target) {
  const from = packageDir('onnxruntime-node', root);
  const to = join(target, 'onnxruntime-node');
  mkdirSync(to, { recursive: true });
  cpSync(join(from, 'package.json'), join(to, 'package.json'));
  cpSync(join(from, 'dist'), join(to, 'dist'), { recursive: true, filter: (f) => !f.endsWith('.map') && !f.endsWith('.d.ts') });
  cpSync(join(from, 'bin/napi-v6/linux/x64'), join(to, 'bin/napi-v6/linux/x64'), { recursive: true });
  // Its only run-time dependency (adm-zip and global-agent serve the install script).
  const common = packageDir('onnxruntime-common', from);
  cpSync(common, join(target, 'onnxruntime-common'), { recursive: true, filter: (f) => !f.endsWith('.map') && !f.endsWith('.d.ts') && !f.includes('/lib/') });
}

async function stage(dir) {
  const { project, packages } = await importGraph();
  const app = join(dir, 'app');
  mkdirSync(app, { recursive: true });
  writeFileSync(join(app, 'package.json'), JSON.stringify({ type: 'module', private: true }) + '\n');
  for (const file of project) {
    const out = join(app, file.replace(/\.ts$/, '.js'));
    mkdirSync(dirname(out), { recursive: true });
    if (!file.endsWith('.ts')) {
      cpSync(join(root, file), out);
      continue;
    }
    // Types stripped file by file; imports already name the .js files.
    await esbuild.build({ absWorkingDir: root, entryPoints: [file], outfile: out, bundle: false, platform: 'node', format: 'esm', target: 'node20', logLevel: 'error' });
  }
  for (const [folder, data] of Object.entries(DATA)) {
    if (project.some((f) => f.startsWith(`${folder}/`))) for (const d of data) cpSync(join(root, d), join(app, d), { recursive: true });
  }
  const modules = join(app, 'node_modules');
  for (const name of packages) {
    const from = packageDir(name, root);
    cpSync(from, join(modules, name), { recursive: true, filter: (f) => !f.endsWith('.map') && !f.endsWith('.d.ts') && !f.endsWith('.md') });
  }
  copyOnnxruntime(modules);
  cpSync(process.execPath, join(dir, 'node'));
  const size = (p) => (statSync(p).isDirectory() ? readdirSync(p).reduce((sum, f) => sum + size(join(p, f)), 0) : statSync(p).size);
  process.stderr.write(`device-pack: ${project.length} project files, packages ${packages.join(', ')} + onnxruntime-node (linux-x64) + onnxruntime-common; app ${(size(app) / 2 ** 20).toFixed(1)} MiB, node ${(size(join(dir, 'node')) / 2 ** 20).toFixed(1)} MiB\n`);
}

const [arg] = process.argv.slice(2);
if (arg === '--list') {
  process.stdout.write(JSON.stringify(await importGraph()) + '\n');
} else if (arg && !existsSync(join(arg, 'app'))) {
  await stage(resolve(arg));
} else {
  process.stderr.write('usage: node scripts/device-pack.mjs <empty stage folder> | --list\n');
  process.exit(2);
}
