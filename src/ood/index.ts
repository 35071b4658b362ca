/** Public API of the framework-free O3 pieces (DESIGN §3). */
export * from './contrastive-entropy.js';
export * from './detector-codec.js';
export * from './detector.js';
export * from './entity-match.js';
export * from './gate.js';
export * from './glocal.js';
export * from './metrics.js';
export * from './one-class.js';
export * from './orthogonality.js';
export * from './relabel.js';
export * from './detector-bank.js';
