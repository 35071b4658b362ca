/**
 * `npm run model:train-demo`: trains the LLaMA-family demo model from scratch on the world's trained
 * author items and utility items (seeded init and batch order, loss on answer tokens), and saves the
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
import { Tokenizer } from '@huggingface/tokenizers';
import { initBackend } from '../src/engine/backend.js';
import { ensureGradients } from '../src/engine/gradients.js';
import { saveCheckpoint } from '../src/engine/checkpoint.js';
import { parseSafetensors, serializeSafetensors } from '../src/engine/safetensors.js';
import { generateWorld, paraphraseItems, trainedItems, trainingItems, utilityItems } from '../src/bench/world.js';
import { encodeItems, epochBatches, makeBatch, type Batch, type EncodedItem } from './train-demo-data.js';
import { type DemoModelConfig, forwardHidden, headLogits, hfConfig, initParams, namedParams, toHfWeights } from './train-demo-model.js';

const { values: args } = parseArgs({
  options: {
    epochs: { type: 'string', default: '60' }, out: { type: 'string', default: 'models/demo' },
    'state-dir': { type: 'string', default: '/tmp/lethe-demo-train' }, resume: { type: 'boolean', default: false },
    'max-steps': { type: 'string' }, lr: { type: 'string', default: '3e-3' }, batch: { type: 'string', default: '64' },
    'utility-repeat': { type: 'string', default: '1' },
    'polish-epochs': { type: 'string', default: '0' }, 'polish-lr': { type: 'string', default: '3e-4' },
    'polish-utility-repeat': { type: 'string', default: '4' },
    'd-model': { type: 'string', default: '128' }, layers: { type: 'string', default: '4' }, 'd-ff': { type: 'string', default: '384' },
  },
});

const SEED = 20260;
const EPOCHS = Number(args.epochs);
const BATCH = Number(args.batch);
const PEAK_LR = Number(args.lr);
const WARMUP = 100;
const CLIP = 1.0;
const EVAL_EVERY = 5;

await ensureGradients();
await initBackend((process.env.LETHE_BACKEND as 'wasm' | undefined) ?? 'wasm');
const tokJson = JSON.parse(readFileSync('models/demo/tokenizer.json', 'utf8'));
const tokConfig = JSON.parse(readFileSync('models/demo/tokenizer_config.json', 'utf8'));
const tok = new Tokenizer(tokJson, tokConfig);
const EOS = tokJson.model.vocab['<|endoftext|>'] as number;
const PAD = tokJson.model.vocab['<|pad|>'] as number;
const cfg: DemoModelConfig = {
  vocabSize: Object.keys(tokJson.model.vocab).length, dModel: Number(args['d-model']), nLayers: Number(args.layers),
  nHeads: 4, nKvHeads: 2, dFf: Number(args['d-ff']), maxPositions: 128, ropeTheta: 10000, normEps: 1e-5,
};

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

const params = initParams(cfg, SEED);
const vars = namedParams(params);
const m = vars.map(([, v]) => tf.variable(tf.zerosLike(v)));
const s = vars.map(([, v]) => tf.variable(tf.zerosLike(v)));
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

/** Mean cross-entropy on the batch's target tokens. */
function batchLoss(batch: Batch): tf.Scalar {
  const ids = tf.tensor2d(batch.ids, [batch.b, batch.seq], 'int32');
  const logits = headLogits(params, forwardHidden(params, cfg, ids), tf.tensor1d(batch.rows, 'int32'));
  const onehot = tf.oneHot(tf.tensor1d(batch.labels, 'int32'), cfg.vocabSize);
  return tf.div(tf.neg(tf.sum(tf.mul(tf.logSoftmax(logits), onehot))), batch.labels.length) as tf.Scalar;
}

/** Teacher-forced exact match: every target token is the argmax (= greedy generation answers exactly). */
function exactMatch(items: EncodedItem[]): number {
  let correct = 0;
  for (let i = 0; i < items.length; i += 128) {
    const chunk = items.slice(i, i + 128);
    const batch = makeBatch(chunk, PAD);
    const pred = tf.tidy(() => {
      const ids = tf.tensor2d(batch.ids, [batch.b, batch.seq], 'int32');
      return tf.argMax(headLogits(params, forwardHidden(params, cfg, ids), tf.tensor1d(batch.rows, 'int32')), -1);
    });
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
const lrAt = (t: number): number =>
  t < WARMUP ? (PEAK_LR * (t + 1)) / WARMUP : PEAK_LR * (0.1 + 0.45 * (1 + Math.cos((Math.PI * (t - WARMUP)) / Math.max(1, totalSteps - WARMUP))));
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
    const { value, grads } = tf.variableGrads(() => batchLoss(batch), vars.map(([, v]) => v));
    tf.tidy(() => {
      const gs = vars.map(([, v]) => grads[v.name]);
      const norm = Math.sqrt(tf.addN(gs.map((g) => tf.sum(tf.square(g)))).dataSync()[0]);
      const scale = Math.min(1, CLIP / (norm + 1e-6));
      const b1 = 0.9, b2 = 0.98, t = step + 1;
      vars.forEach(([, v], i) => {
        const g = tf.mul(gs[i], scale);
        m[i].assign(tf.add(tf.mul(m[i], b1), tf.mul(g, 1 - b1)));
        s[i].assign(tf.add(tf.mul(s[i], b2), tf.mul(tf.square(g), 1 - b2)));
        const denom = tf.add(tf.sqrt(tf.div(s[i], 1 - b2 ** t)), 1e-8);
        v.assign(tf.sub(v, tf.mul(tf.div(tf.div(m[i], 1 - b1 ** t), denom), lr)));
      });
    });
    lossSum += value.dataSync()[0];
    lossN++;
    tf.dispose([value, ...Object.values(grads)]);
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
  config: hfConfig(cfg, EOS, PAD), weights: toHfWeights(params), tokenizerJson: tokJson, tokenizerConfig: tokConfig,
  generationConfig: { bos_token_id: EOS, eos_token_id: EOS, pad_token_id: PAD, do_sample: false, max_new_tokens: 16 },
});
console.log(`saved ${args.out} after ${step} steps in ${((Date.now() - started) / 1000).toFixed(0)}s`);
