/**
 * The pipeline's layers, top first (docs/design.md, "Map"): a folder imports only from layers below its
 * own. .dependency-cruiser.cjs turns this list into rules; scripts/dependency-graph.mjs draws it.
 * `siblingsApart`: the folders of that layer do not import each other either.
 */
module.exports.LAYERS = [
  { id: 'cli', name: 'entry points', folders: ['cli'] },
  { id: 'diff', name: 'diff', folders: ['diff'] },
  { id: 'atlas', name: 'atlas', folders: ['atlas'] },
  { id: 'config', name: 'config and atlas-level stages', folders: ['config', 'labels', 'classify'], siblingsApart: true },
  { id: 'stages', name: 'stages', folders: ['visualize', 'dataset', 'probe', 'render', 'variants'], siblingsApart: true },
  { id: 'engine', name: 'engines and images', folders: ['engine', 'image'], siblingsApart: true },
  { id: 'model', name: 'model', folders: ['model'] },
  { id: 'assets', name: 'assets', folders: ['assets'] },
  { id: 'schema', name: 'schemas', folders: ['schema'] },
  { id: 'util', name: 'util', folders: ['util'] },
  { id: 'errors', name: 'errors', folders: ['errors.ts'] },
];
