/**
 * `npm run model:train-demo`: trains the LLaMA-family demo model from scratch on the world's trained
 * author items and utility items (seeded init and batch order, loss on answer tokens), with the
 * engine's TransformerModel in training mode (scripts/train-demo-model.ts), and saves the
 * Hugging Face layout to models/demo/. State is checkpointed to --state-dir every epoch-chunk so an
 * interrupted run resumes (--resume) where it stopped, with the same result.
 *
 * Options: --epochs N  --out DIR  --state-dir DIR  --resume  --max-steps N (quick runs)  --utility-repeat N
 *   --lr X  --batch N  --d-model N  --layers N  --d-ff N  --polish-epochs N  --polish-lr X  --polish-utility-repeat N
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/backend.js';
import { ensureGradients } from '../src/engine/gradients.js';
import { saveCheckpoint } from '../src/engine/checkpoint.js';
import { parseSafetensors, serializeSafetensors } from '../src/engine/safetensors.js';
import { generateWorld, paraphraseItems, trainedItems, trainingItems, utilityItems } from '../src/bench/world.js';
import { encodeItems, epochBatches, loadDemoTokenizer, makeBatch, type EncodedItem } from './train-demo-data.js';
import {
  batchLoss, createDemoModel, DEMO_TRAINING, type DemoModelConfig, DemoOptimizer, hfConfig, initWeights, learningRate, targetLogits,
} from './train-demo-model.js';

const SHAPE = DEMO_TRAINING.model(0);
const { values: args } = parseArgs({
  options: {
    epochs: { type: 'string', default: '60' }, out: { type: 'string', default: 'models/demo' },
    'state-dir': { type: 'string', default: '/tmp/lethe-demo-train' }, resume: { type: 'boolean', default: false },
    'max-steps': { type: 'string' }, lr: { type: 'string', default: String(DEMO_TRAINING.peakLr) }, batch: { type: 'string', default: String(DEMO_TRAINING.batch) },
    'utility-repeat': { type: 'string', default: '1' },
    'polish-epochs': { type: 'string', default: '0' }, 'polish-lr': { type: 'string', default: '3e-4' },
    'polish-utility-repeat': { type: 'string', default: '4' },
    'd-model': { type: 'string', default: String(SHAPE.dModel) }, layers: { type: 'string', default: String(SHAPE.nLayers) },
    'd-ff': { type: 'string', default: String(SHAPE.dFf) },
  },
});

const { seed: SEED, clip: CLIP } = DEMO_TRAINING;
const EPOCHS = Number(args.epochs);
const BATCH = Number(args.batch);
const PEAK_LR = Number(args.lr);
const EVAL_EVERY = 5;

await ensureGradients();
await initBackend((process.env.LETHE_BACKEND as 'wasm' | undefined) ?? 'wasm');
const { tok, tokJson, tokConfig, eosId: EOS, padId: PAD, vocabSize } = loadDemoTokenizer();
const cfg: DemoModelConfig = { ...DEMO_TRAINING.model(vocabSize), dModel: Number(args['d-model']), nLayers: Number(args.layers), dFf: Number(args['d-ff']) };

const world = generateWorld();
// utility items can be repeated within an epoch: they are few (214) next to 3,000 author questions
const utilityRepeat = Number(args['utility-repeat']);
const train = encodeItems(tok, [...trainingItems(world), ...Array.from({ length: utilityRepeat - 1 }, () => utilityItems(world)).flat()], EOS);
// optional polish phase after the cosine schedule: constant small LR, utility items oversampled
const POLISH_EPOCHS = Number(args['polish-epochs']);
const POLISH_LR = Number(args['polish-lr']);
const polishTrain = encodeItems(
  tok, [...trainingItems(world), ...Array.from({ length: Number(args['polish-utility-repeat']) - 1 }, () => utilityItems(world)).flat()], EOS,
);
const monitor = {
  trained: encodeItems(tok, trainedItems(world).filter((_, i) => i % 10 === 0), EOS),
  paraphrase: encodeItems(tok, paraphraseItems(world), EOS),
  utility: encodeItems(tok, utilityItems(world), EOS),
};

const init = initWeights(cfg, SEED);
const model = createDemoModel(cfg, init, EOS, PAD);
tf.dispose([...init.values()]);
/** Every trained tensor by HF name (fast layout), in a stable order: optimizer state follows it. */
const vars = [...model.params].map(([name, v]) => [name, v as tf.Variable] as const);
const optimizer = new DemoOptimizer(vars.map(([, v]) => v), CLIP);
const { m, s } = optimizer;
let step = 0;
let startEpoch = 0;

const stateFile = join(args['state-dir'], 'state.safetensors');
function saveState(epoch: number): void {
  mkdirSync(args['state-dir'], { recursive: true });
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  vars.forEach(([name, v], i) => {
    tensors.set(`p.${name}`, { shape: v.shape, data: v.dataSync() as Float32Array });
    tensors.set(`m.${name}`, { shape: v.shape, data: m[i].dataSync() as Float32Array });
    tensors.set(`s.${name}`, { shape: v.shape, data: s[i].dataSync() as Float32Array });
  });
  writeFileSync(`${stateFile}.tmp`, serializeSafetensors(tensors, { epoch: String(epoch), step: String(step) }));
  writeFileSync(stateFile, readFileSync(`${stateFile}.tmp`));
}
if (args.resume && existsSync(stateFile)) {
  const st = parseSafetensors(new Uint8Array(readFileSync(stateFile)));
  vars.forEach(([name, v], i) => {
    v.assign(tf.tensor(st.tensors.get(`p.${name}`)!.data, v.shape));
    m[i].assign(tf.tensor(st.tensors.get(`m.${name}`)!.data, v.shape));
    s[i].assign(tf.tensor(st.tensors.get(`s.${name}`)!.data, v.shape));
  });
  startEpoch = Number(st.metadata.epoch);
  step = Number(st.metadata.step);
  console.log(`resumed at epoch ${startEpoch}, step ${step}`);
}

/** Teacher-forced exact match: every target token is the argmax (= greedy generation answers exactly). */
function exactMatch(items: EncodedItem[]): number {
  let correct = 0;
  for (let i = 0; i < items.length; i += 128) {
    const chunk = items.slice(i, i + 128);
    const batch = makeBatch(chunk, PAD);
    const pred = tf.tidy(() => tf.argMax(targetLogits(model, batch), -1));
    const p = pred.dataSync();
    pred.dispose();
    const ok = new Array(chunk.length).fill(true);
    for (let r = 0; r < batch.rows.length; r++) if (p[r] !== batch.labels[r]) ok[Math.floor(batch.rows[r] / batch.seq)] = false;
    correct += ok.filter(Boolean).length;
  }
  return correct / items.length;
}

const stepsPerEpoch = Math.ceil(train.length / BATCH);
const totalSteps = Number(args['max-steps'] ?? EPOCHS * stepsPerEpoch);
const lrAt = (t: number): number => learningRate(t, PEAK_LR, totalSteps);
const nParams = vars.reduce((a, [, v]) => a + v.size, 0);
console.log(`config ${JSON.stringify(cfg)}, ${nParams} params, ${train.length} items, ${stepsPerEpoch} steps/epoch, ${totalSteps} steps`);

const started = Date.now();
let tokens = 0;
let lossSum = 0;
let lossN = 0;
const maxSteps = Number(args['max-steps'] ?? Infinity);
for (let epoch = startEpoch; epoch < EPOCHS + POLISH_EPOCHS && step < maxSteps; epoch++) {
  const polish = epoch >= EPOCHS;
  for (const batch of epochBatches(polish ? polishTrain : train, BATCH, SEED, epoch, PAD)) {
    if (step >= maxSteps) break;
    const lr = polish ? POLISH_LR : lrAt(step);
    lossSum += optimizer.step(() => batchLoss(model, batch), lr, step);
    lossN++;
    tokens += batch.b * batch.seq;
    step++;
    if (step % 25 === 0) {
      const sec = (Date.now() - started) / 1000;
      console.log(`step ${step}/${totalSteps} epoch ${epoch} loss ${(lossSum / lossN).toFixed(4)} lr ${lr.toExponential(2)} ${(tokens / sec).toFixed(0)} tok/s ${sec.toFixed(0)}s tensors ${tf.memory().numTensors}`);
      lossSum = 0;
      lossN = 0;
    }
  }
  if ((epoch + 1) % EVAL_EVERY === 0 || epoch + 1 === EPOCHS || epoch + 1 === EPOCHS + POLISH_EPOCHS) {
    const acc = { trained: exactMatch(monitor.trained), paraphrase: exactMatch(monitor.paraphrase), utility: exactMatch(monitor.utility) };
    console.log(`epoch ${epoch + 1} teacher-forced exact match ${JSON.stringify(acc)}`);
    saveState(epoch + 1);
  }
}

await saveCheckpoint(args.out, {
  config: hfConfig(cfg, EOS, PAD), weights: model.exportWeights(), tokenizerJson: tokJson, tokenizerConfig: tokConfig,
  generationConfig: { bos_token_id: EOS, eos_token_id: EOS, pad_token_id: PAD, do_sample: false, max_new_tokens: 16 },
});
console.log(`saved ${args.out} after ${step} steps in ${((Date.now() - started) / 1000).toFixed(0)}s`);
