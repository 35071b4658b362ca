/**
 * `npm run bench:engine [-- --quick]`: engine benchmark of issue 3 on the demo model
 * (models/demo, or a random checkpoint of the same config while it is missing). Prints a table and
 * writes bench-results/engine.json with exactly the keys. --quick shrinks every loop so CI
 * can run it in seconds; its numbers are smoke values, not measurements.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import {
  adapterFlopsPerToken,
  forwardFlops,
  matmulCeiling,
  measureDecode,
  measureLoraTraining,
  measureMemory,
  measurePrefill,
  mergedOverhead,
  randomTokens,
  stackedOverhead,
} from '../src/bench/engine-bench.js';
import { initBackend, type BackendName } from '../src/engine/backend.js';
import { loadCheckpoint } from '../src/engine/checkpoint.js';
import { parseModelConfig } from '../src/engine/model-config.js';
import { randomAdapter } from '../src/engine/testing/random-adapter.js';
import { randomCheckpoint } from '../src/engine/testing/random-checkpoint.js';
import { TextTokenizer } from '../src/engine/tokenizer.js';
import { TransformerModel } from '../src/engine/transformer.js';
import { installWasmKernels, uninstallWasmKernels } from '../src/engine/wasm-kernels.js';

const { values: args } = parseArgs({ options: { quick: { type: 'boolean', default: false }, out: { type: 'string', default: 'bench-results/engine.json' } } });
const quick = args.quick!;
const backend = await initBackend(process.env.LETHE_BACKEND as BackendName | undefined);
const DEMO = 'models/demo';

// The demo model, or a random checkpoint of its config (LLaMA, d 128, 4 layers, 4/2 heads, dFf 384).
let model: TransformerModel;
let tokenizer: TextTokenizer;
let source: string;
if (existsSync(`${DEMO}/config.json`) && (existsSync(`${DEMO}/model.safetensors`) || existsSync(`${DEMO}/model.safetensors.index.json`))) {
  const ckpt = await loadCheckpoint(DEMO);
  model = TransformerModel.create(parseModelConfig(ckpt.config), ckpt.weights);
  ckpt.weights.forEach((t) => t.dispose());
  tokenizer = ckpt.tokenizer;
  source = DEMO;
} else {
  tokenizer = existsSync(`${DEMO}/tokenizer.json`)
    ? await TextTokenizer.fromFile(`${DEMO}/tokenizer.json`)
    : TextTokenizer.fromJson({ model: { type: 'WordLevel', vocab: { '<unk>': 0 }, unk_token: '<unk>' } });
  const vocabSize = Math.max(tokenizer.vocabSize, 64);
  const ckpt = randomCheckpoint('llama', { vocabSize, dModel: 128, nLayers: 4, nHeads: 4, nKvHeads: 2, dFf: 384, maxPositions: 64, std: 0.02 });
  model = TransformerModel.create(ckpt.modelConfig, ckpt.weights);
  ckpt.weights.forEach((t) => t.dispose());
  source = 'random checkpoint with the demo config (models/demo has no weights yet)';
}
const c = model.config;
const reps = quick ? 3 : 15;
const [batch, seq] = quick ? [2, 16] : [16, 48];
const prompts = randomTokens(c.vocabSize, batch, seq, 1);

// The ceiling: plain matMul on the reference shape and on the model's own prefill shapes.
const best = matmulCeiling(
  quick ? [[64, 128, 128]] : [[768, 128, 512], [batch * seq, c.dModel, c.dFf], [batch * seq, c.dModel, c.dModel]],
  reps,
);
const prefill = measurePrefill(model, prompts, best.shape, reps);
const ceiling = prefill.matmulGflops;
const decodeTokensPerSec = await measureDecode(model, tokenizer, prompts[0].slice(0, 16), quick ? 4 : 32, quick ? 1 : 5);
const trainOpts = { batch: quick ? 2 : 8, seq: quick ? 16 : 48, steps: quick ? 2 : 10, rank: 8 };
const training = await measureLoraTraining(model, trainOpts);
let trainingWithoutKernels: number | undefined;
if (backend.name === 'wasm') {
  // The effect of the faster WASM kernels: the same training with the backend's own kernels.
  uninstallWasmKernels();
  trainingWithoutKernels = (await measureLoraTraining(model, { ...trainOpts, steps: quick ? 1 : 3 })).tokensPerSec;
  installWasmKernels();
}

const adapters = Array.from({ length: 16 }, (_, i) => randomAdapter(c, { rank: 8, alpha: 16, std: 0.02 }, 100 + i));
const baseFlopsPerToken = forwardFlops(c, batch, seq, batch) / (batch * seq);
const adapterOverhead: Record<string, number> = {};
const adapterFlopRatio: Record<string, number> = {};
for (const k of [1, 4, 16]) {
  // ABBA blocks, twice the samples: a small difference of two ~0.1 s runs on a shared machine.
  adapterOverhead[k] = stackedOverhead(model, prompts, adapters.slice(0, k), 2 * reps);
  adapterFlopRatio[k] = adapterFlopsPerToken(c, k, 8, adapters[0]) / baseFlopsPerToken;
}
const merged = mergedOverhead(model, prompts, adapters.slice(0, 4), reps);
const memory = await measureMemory(model, tokenizer, quick ? 20 : 1000);

const results = {
  backend: backend.name,
  matmulGflops: ceiling,
  prefillGflops: prefill.gflops,
  prefillRatio: prefill.ratio,
  decodeTokensPerSec,
  loraTrainTokensPerSec: training.tokensPerSec,
  loraTrainGflops: training.gflops,
  adapterOverhead,
  adapterFlopRatio,
  mergedOverhead: merged.overhead,
  mergeMs: merged.mergeMs,
  memory,
};
mkdirSync('bench-results', { recursive: true });
writeFileSync(args.out!, `${JSON.stringify(results, null, 2)}\n`);

const f = (x: number, d = 2) => x.toFixed(d);
const rows: [string, string, string][] = [
  ['backend', backend.name, ''],
  ['model', `${c.family} d${c.dModel} L${c.nLayers} V${c.vocabSize}`, source],
  ['matmulGflops (ceiling)', f(ceiling), `[${best.shape.join('×')}], paired with prefill`],
  ['prefillGflops', f(prefill.gflops), `${batch}×${seq} tokens, ${f(prefill.ms, 1)} ms`],
  ['prefillRatio', f(results.prefillRatio), 'median of paired ratios, target ≥ 0.5'],
  ['decodeTokensPerSec', f(decodeTokensPerSec, 1), 'greedy, KV cache, batch 1'],
  ['loraTrainTokensPerSec', f(training.tokensPerSec, 0), trainingWithoutKernels ? `${f(trainingWithoutKernels, 0)} with tfjs's own wasm kernels` : ''],
  ['loraTrainGflops', f(training.gflops), 'forward + backward'],
  ...[1, 4, 16].map((k): [string, string, string] => [
    `adapterOverhead[${k}]`,
    f(adapterOverhead[k], 3),
    `flop ratio ${f(adapterFlopRatio[k], 3)}, target ≤ ${f(adapterFlopRatio[k] + 0.05, 3)}`,
  ]),
  ['mergedOverhead', f(merged.overhead, 3), 'target ≤ 0.03'],
  ['mergeMs', f(merged.mergeMs, 1), '4 adapters'],
  ['tensors before/after', `${memory.tensorsBefore}/${memory.tensorsAfter}`, `${quick ? 20 : 1000} generations`],
  ['rss MB before/after', `${f(memory.rssBeforeMb, 0)}/${f(memory.rssAfterMb, 0)}`, ''],
];
const w = [Math.max(...rows.map((r) => r[0].length)), Math.max(...rows.map((r) => r[1].length))];
for (const [k, v, note] of rows) console.log(`${k.padEnd(w[0])}  ${v.padStart(w[1])}  ${note}`);
console.log(`wrote ${args.out}${quick ? ' (quick mode: smoke values)' : ''}`);
for (const a of adapters) for (const m of a.modules.values()) tf.dispose([m.a, m.b]);
model.dispose();
