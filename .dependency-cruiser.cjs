/**
 * Which module may import which (docs/design.md, "Map"). `npm run lint:deps` checks pipeline/ and
 * site/src/ against these rules; type-only imports count like any other.
 *
 * The pipeline's folders sit in layers (scripts/dependency-layers.cjs, top first). A module imports
 * only from its own folder, from the layers below it, and (for the stage layers) not from a sibling
 * folder of its own layer.
 */
const { LAYERS } = require('./scripts/dependency-layers.cjs');

const path = (folder) => (folder.endsWith('.ts') ? `^pipeline/${folder.replace('.', '[.]')}$` : `^pipeline/${folder}/`);
const anyOf = (folders) => folders.map(path).join('|');

const upward = LAYERS.slice(1).map((layer, i) => {
  const above = LAYERS.slice(0, i + 1).flatMap((l) => l.folders);
  return {
    name: `no-upward-from-${layer.id}`,
    comment: `${layer.name} (${layer.folders.join(', ')}) may not import a layer above it: ${above.join(', ')}`,
    severity: 'error',
    from: { path: anyOf(layer.folders) },
    to: { path: anyOf(above) },
  };
});

const siblings = LAYERS.filter((l) => l.siblingsApart).flatMap((layer) =>
  layer.folders.map((folder) => ({
    name: `sibling-${folder}`,
    comment: `${folder}/ may not import another folder of its layer (${layer.folders.join(', ')}): move the shared part down, to schema/ or model/`,
    severity: 'error',
    from: { path: path(folder) },
    to: { path: anyOf(layer.folders.filter((f) => f !== folder)) },
  })),
);

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'No import circles, type-only imports included: move the shared part to a leaf module',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    ...upward,
    ...siblings,
    {
      name: 'config-is-the-edge',
      comment: 'config/ composes the schemas; it imports no stage, only schema/, util/, errors.ts and the two name tables it checks names against',
      severity: 'error',
      from: { path: '^pipeline/config/' },
      to: { path: '^pipeline/', pathNot: '^pipeline/(config/|schema/|util/|errors[.]ts$|model/builtins[.]ts$|assets/manifest[.]ts$)' },
    },
    {
      name: 'pipeline-not-site',
      comment: 'The pipeline never imports the site: atlas.json is the only contract between them',
      severity: 'error',
      from: { path: '^pipeline/' },
      to: { path: '^site/' },
    },
    {
      name: 'site-reads-the-contract',
      comment: 'The site imports from the pipeline only the schemas, errors, util and the two shared helpers (the probe page resizes like the CLI; the merge notice words)',
      severity: 'error',
      from: { path: '^site/src/' },
      to: { path: '^pipeline/', pathNot: '^pipeline/(schema/|diff/schema[.]ts$|errors[.]ts$|util/|image/resize[.]ts$|atlas/missing[.]ts$)' },
    },
    {
      name: 'site-lib-below-pages',
      comment: 'site/src/lib serves pages, components, layouts and scripts; it imports none of them',
      severity: 'error',
      from: { path: '^site/src/lib/' },
      to: { path: '^site/src/(pages|components|layouts|scripts)/' },
    },
    {
      name: 'site-types-is-a-leaf',
      comment: 'site/src/lib/site-types.ts holds types every site module imports; it imports only the pipeline schemas',
      severity: 'error',
      from: { path: '^site/src/lib/site-types[.]ts$' },
      to: { path: '^(site/|pipeline/)', pathNot: '^pipeline/(schema/|diff/schema[.]ts$)' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    includeOnly: '^(pipeline|site/src)/',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.js', '.mjs', '.json'] },
    reporterOptions: {
      dot: {
        collapsePattern: '^(pipeline/[^/]+|site/src/[^/]+)',
        theme: {
          graph: { rankdir: 'TB', splines: 'true', fontname: 'Helvetica', fontsize: '11' },
          node: { fontname: 'Helvetica', fontsize: '11' },
          edge: { arrowsize: '0.6' },
        },
      },
    },
  },
};
