/** The answer-scoring rule lives beside generation (src/engine/answer-scoring.ts); benchmarks import it from here. */
export { accuracy, cutAtStop, normaliseAnswer, scoreAnswer } from '../engine/answer-scoring.js';
