/**
 * Layer and cycle rules, checked by `npm run lint:deps` (part of `npm test`). See docs/engine.md
 * ("Code layout and dependency rules"): framework-free folders never import Nest, TypeORM or the
 * Postgres drivers; only benchmarks and scripts import src/bench; no import cycles anywhere.
 */
const FRAMEWORK_FREE = '^src/(engine|ood|routing|icm|unlearning|serving|world)/';

module.exports = {
  forbidden: [
    {
      name: 'no-bench-in-product',
      comment: 'Only benchmarks (src/bench) and scripts import src/bench; shared pieces live in src/world or src/engine.',
      severity: 'error',
      from: { pathNot: '^(src/bench|scripts)/' },
      to: { path: '^src/bench/' },
    },
    {
      name: 'framework-free-core',
      comment: 'src/engine, ood, routing, icm, unlearning, serving and world stay free of Nest, TypeORM and Postgres drivers (DESIGN §1).',
      severity: 'error',
      from: { path: FRAMEWORK_FREE },
      to: { path: '(^|/)node_modules/(@nestjs/|typeorm/|pg/|pg-boss/|@electric-sql/)' },
    },
    {
      name: 'framework-free-core-modules',
      comment: 'Framework-free folders do not import the Nest wiring in src/modules, src/config or the app.',
      severity: 'error',
      from: { path: FRAMEWORK_FREE },
      to: { path: '^src/(modules|config)/|^src/(app\\.module|main)\\.ts$' },
    },
    {
      name: 'no-circular',
      comment: 'No import cycles (type-only imports count: a cycle of types is still a knot in the design).',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'Every import resolves.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|web/dist|test-artifacts|scratch)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.mjs', '.js', '.d.ts'],
    },
    moduleSystems: ['es6', 'cjs'],
  },
};
