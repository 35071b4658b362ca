/**
 * `npm run eval:demo`: greedy answers of the demo model on the world, scored with src/bench/scoring.ts,
 * written to bench-results/demo-model.json as { trainedAccuracy, paraphraseAccuracy, utilityAccuracy,
 * heldOutAuthorsAccuracy } (+ counts and timing).
 *
 * Options: --model DIR (default models/demo)  --out FILE  --limit N (first N items per split, quick runs)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/backend.js';
import { loadCheckpoint } from '../src/engine/checkpoint.js';
import { generate } from '../src/engine/generate.js';
import { parseModelConfig } from '../src/engine/model-config.js';
import { TransformerModel } from '../src/engine/transformer.js';
import { accuracy, scoreAnswer } from '../src/bench/scoring.js';
import { generateWorld, heldOutAuthorItems, paraphraseItems, trainedItems, utilityItems, type WorldItem } from '../src/bench/world.js';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/demo' }, out: { type: 'string', default: 'bench-results/demo-model.json' },
    limit: { type: 'string' },
  },
});

const backend = await initBackend((process.env.LETHE_BACKEND as 'wasm' | undefined) ?? 'wasm');
const ckpt = await loadCheckpoint(args.model);
const model = TransformerModel.create(parseModelConfig(ckpt.config), ckpt.weights);
for (const t of ckpt.weights.values()) t.dispose();
const tok = ckpt.tokenizer;
const textTokenizer = {
  encode: (text: string) => tok.encode(text, { addSpecialTokens: false }),
  decode: (ids: number[]) => tok.decode(ids, { skipSpecialTokens: true }),
  eosTokenId: tok.eosId,
};

const world = generateWorld();
const limit = args.limit ? Number(args.limit) : Infinity;
const splits: Record<string, WorldItem[]> = {
  trained: trainedItems(world), paraphrase: paraphraseItems(world), utility: utilityItems(world), heldOutAuthors: heldOutAuthorItems(world),
};

const started = Date.now();
const results: Record<string, { accuracy: number; n: number; examples: { prompt: string; expected: string; got: string }[] }> = {};
for (const [name, all] of Object.entries(splits)) {
  const items = all.slice(0, limit);
  const ok: boolean[] = [];
  const examples: { prompt: string; expected: string; got: string }[] = [];
  for (let i = 0; i < items.length; i += 128) {
    const chunk = items.slice(i, i + 128);
    // greedy (temperature 0), stop at the first newline: the scoring rule's cut
    const gen = await generate(model, textTokenizer, chunk.map((it) => it.prompt), { maxTokens: 16, temperature: 0, stop: ['\n'] });
    chunk.forEach((it, k) => {
      const text = gen[k].text;
      const good = scoreAnswer(text, it.answer);
      ok.push(good);
      if (!good && examples.length < 5) examples.push({ prompt: it.question, expected: it.answer, got: text });
    });
  }
  results[name] = { accuracy: accuracy(ok), n: items.length, examples };
  console.log(`${name}: ${(results[name].accuracy * 100).toFixed(1)}% of ${items.length}`, examples.slice(0, 2));
}

const report = {
  trainedAccuracy: results.trained.accuracy,
  paraphraseAccuracy: results.paraphrase.accuracy,
  utilityAccuracy: results.utility.accuracy,
  heldOutAuthorsAccuracy: results.heldOutAuthors.accuracy,
  counts: Object.fromEntries(Object.entries(results).map(([k, v]) => [k, v.n])),
  failures: Object.fromEntries(Object.entries(results).map(([k, v]) => [k, v.examples])),
  model: args.model,
  backend: backend.name,
  seconds: (Date.now() - started) / 1000,
  tensorsLeft: tf.memory().numTensors,
};
mkdirSync(dirname(args.out), { recursive: true });
writeFileSync(args.out, `${JSON.stringify(report, null, 2)}\n`);
console.log(`wrote ${args.out} in ${report.seconds}s`);
