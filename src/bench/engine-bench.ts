/**
 * Engine benchmark measurements (issue 3): matmul ceiling, prefill FLOP/s, decode tokens/s, LoRA
 * training throughput, unmerged/merged adapter overhead, memory over many generations.
 * FLOPs count multiply-adds as 2 and count what the kernels compute (full s×s attention scores).
 */
import * as tf from '@tensorflow/tfjs-core';
import { generate, type TextTokenizer } from '../engine/generate.js';
import { LoraFactorCache, mergeLora, stackLora, type LoraApplication } from '../engine/lora.js';
import { createTrainableLora } from '../engine/lora-trainable.js';
import type { LoraAdapter } from '../engine/lora-types.js';
import type { ModelConfig } from '../engine/model-config.js';
import { maskedCrossEntropy, train } from '../engine/trainer.js';
import { linearModules } from '../engine/transformer-weights.js';
import type { TransformerModel } from '../engine/transformer.js';

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Milliseconds of one call, forcing the result to be computed (dataSync) and freed. */
export function timeOnce(f: () => tf.Tensor | tf.Tensor[]): number {
  const t0 = performance.now();
  const out = f();
  const list = Array.isArray(out) ? out : [out];
  for (const t of list) t.dataSync();
  const ms = performance.now() - t0;
  tf.dispose(list);
  return ms;
}

/** Median milliseconds over `reps` runs after one warm-up. */
export function timeMedian(f: () => tf.Tensor | tf.Tensor[], reps: number): number {
  timeOnce(f);
  return median(Array.from({ length: reps }, () => timeOnce(f)));
}

/** Linear-layer FLOPs per token (all attention and MLP projections, every layer). */
export function linearFlopsPerToken(c: ModelConfig): number {
  return linearModules(c).reduce((sum, m) => sum + 2 * m.dIn * m.dOut, 0);
}

/**
 * Forward FLOPs of a batch of `batch` rows × `seq` tokens: projections, attention scores and
 * weighted sums over the full seq×seq matrix, and the LM head on `headTokens` positions.
 */
export function forwardFlops(c: ModelConfig, batch: number, seq: number, headTokens: number): number {
  const attention = c.nLayers * 4 * seq * seq * c.nHeads * c.headDim; // QKᵀ and AV per row
  return batch * (seq * linearFlopsPerToken(c) + attention) + headTokens * 2 * c.dModel * c.vocabSize;
}

/** Extra FLOPs per token of k unmerged rank-r adapters on `modules` (x·Aᵀ then ·Bᵀ). */
export function adapterFlopsPerToken(c: ModelConfig, k: number, rank: number, adapter: LoraAdapter): number {
  const dims = new Map(linearModules(c).map((m) => [m.name, m]));
  let per = 0;
  for (const name of adapter.modules.keys()) per += 2 * rank * (dims.get(name)!.dIn + dims.get(name)!.dOut);
  return k * per;
}

/** The [m, k, n] shape among `shapes` where plain matMul runs fastest, and its median GFLOP/s. */
export function matmulCeiling(shapes: [number, number, number][], reps: number): { shape: [number, number, number]; gflops: number } {
  let best = { shape: shapes[0], gflops: 0 };
  for (const shape of shapes) {
    const gflops = matmulRate(shape, reps);
    if (gflops > best.gflops) best = { shape, gflops };
  }
  return best;
}

function matmulRate([m, k, n]: [number, number, number], reps: number): number {
  const a = tf.randomNormal([m, k]);
  const b = tf.randomNormal([k, n]);
  const ms = timeMedian(() => tf.matMul(a, b), reps);
  tf.dispose([a, b]);
  return (2 * m * k * n) / ms / 1e6;
}

/** Seeded random token ids [batch, seq] (avoiding id 0..2, often special). */
export function randomTokens(vocab: number, batch: number, seq: number, seed: number): number[][] {
  let s = seed >>> 0;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  return Array.from({ length: batch }, () => Array.from({ length: seq }, () => 3 + Math.floor(next() * (vocab - 3))));
}

/**
 * Prefill (last-position logits) of a batch, paired with the ceiling matMul: each pair runs both
 * back to back, the ceiling as a run of back-to-back matMuls with the prefill's FLOPs, so both
 * last about as long and see the same load on a shared machine (a single ~4 ms matMul slips
 * between the scheduler's preemptions far more often than a ~70 ms prefill, which inflated the
 * ceiling and deflated the ratio). Returns the medians of the matMul rate, the prefill rate and the
 * per-pair ratio.
 */
export function measurePrefill(
  model: TransformerModel,
  tokens: number[][],
  ceilingShape: [number, number, number],
  reps: number,
): { ms: number; gflops: number; matmulGflops: number; ratio: number } {
  const ids = tf.tensor2d(tokens, undefined, 'int32');
  const [m, k, n] = ceilingShape;
  const a = tf.randomNormal([m, k]);
  const b = tf.randomNormal([k, n]);
  const flops = forwardFlops(model.config, tokens.length, tokens[0].length, tokens.length);
  const perMatMul = 2 * m * k * n;
  const count = Math.max(1, Math.round(flops / perMatMul));
  const prefill = () => timeOnce(() => model.forward({ tokenIds: ids }, { logits: 'last' }).logits!);
  const matmuls = () => {
    const t0 = performance.now();
    for (let i = 0; i < count; i++) {
      const y = tf.matMul(a, b);
      y.dataSync();
      y.dispose();
    }
    return performance.now() - t0;
  };
  prefill();
  matmuls();
  const ms: number[] = [];
  const mm: number[] = [];
  const ratios: number[] = [];
  for (let i = 0; i < reps; i++) {
    // Alternate the order so neither side always runs first after a pause.
    let tm: number;
    let tp: number;
    if (i % 2 === 0) {
      tm = matmuls();
      tp = prefill();
    } else {
      tp = prefill();
      tm = matmuls();
    }
    const ceiling = (count * perMatMul) / tm; // FLOP per ms
    ms.push(tp);
    mm.push(ceiling / 1e6);
    ratios.push(flops / tp / ceiling);
  }
  tf.dispose([ids, a, b]);
  return { ms: median(ms), gflops: flops / median(ms) / 1e6, matmulGflops: median(mm), ratio: median(ratios) };
}

/** Greedy decode tokens/s of one prompt with the KV cache (EOS disabled so every step runs). */
export async function measureDecode(model: TransformerModel, tokenizer: TextTokenizer, prompt: number[], maxTokens: number, reps: number): Promise<number> {
  const run = async () => {
    const t0 = performance.now();
    const [r] = await generate(model, tokenizer, [prompt], { maxTokens, eosTokenId: null });
    return r.completionTokens / ((performance.now() - t0) / 1000);
  };
  await run();
  const rates: number[] = [];
  for (let i = 0; i < reps; i++) rates.push(await run());
  return median(rates);
}

/**
 * Paired-run overhead of a LoRA application built per request by `makeApp` over the base model:
 * the median over samples of (t_adapter / t_base) − 1. Each sample is an ABBA block (base,
 * adapted, adapted, base; mirrored every other sample) and compares the two sums, so a load change
 * that drifts linearly through the block cancels instead of landing on one side.
 */
export function measureOverhead(
  model: TransformerModel,
  tokens: number[][],
  makeApp: () => { lora: LoraApplication; dispose(): void },
  reps: number,
): number {
  const ids = tf.tensor2d(tokens, undefined, 'int32');
  const base = () => timeOnce(() => model.forward({ tokenIds: ids }, { logits: 'last' }).logits!);
  const adapted = () => {
    const t0 = performance.now();
    const { lora, dispose } = makeApp();
    const logits = model.forward({ tokenIds: ids }, { lora, logits: 'last' }).logits!;
    logits.dataSync();
    const ms = performance.now() - t0;
    logits.dispose();
    dispose();
    return ms;
  };
  base();
  adapted();
  const ratios: number[] = [];
  for (let i = 0; i < reps; i++) {
    let a = 0;
    let b = 0;
    if (i % 2 === 0) {
      b += base();
      a += adapted();
      a += adapted();
      b += base();
    } else {
      a += adapted();
      b += base();
      b += base();
      a += adapted();
    }
    ratios.push(a / b);
  }
  ids.dispose();
  return median(ratios) - 1;
}

/** Unmerged overhead of the first k adapters, stacked per request (factor cache warm). */
export function stackedOverhead(model: TransformerModel, tokens: number[][], adapters: LoraAdapter[], reps: number): number {
  const cache = new LoraFactorCache();
  const plan = adapters.map((adapter) => ({ adapter, strength: 1 }));
  const result = measureOverhead(
    model,
    tokens,
    () => {
      const lora = stackLora(model, plan, { cache });
      return { lora, dispose: () => lora.dispose() };
    },
    reps,
  );
  cache.dispose();
  return result;
}

/** Overhead of a plan merged once into cached weights, and the time the merge takes. */
export function mergedOverhead(model: TransformerModel, tokens: number[][], adapters: LoraAdapter[], reps: number): { overhead: number; mergeMs: number } {
  const plan = adapters.map((adapter) => ({ adapter, strength: 1 }));
  mergeLora(model, plan).dispose(); // warm-up
  const mergeTimes: number[] = [];
  for (let i = 0; i < Math.max(3, Math.min(reps, 7)); i++) {
    const t0 = performance.now();
    const app = mergeLora(model, plan);
    for (const w of app.weightOverrides.values()) w.dataSync();
    mergeTimes.push(performance.now() - t0);
    app.dispose();
  }
  const merged = mergeLora(model, plan);
  // The true difference is a few map lookups, so the result is all noise unless sampled widely.
  const overhead = measureOverhead(model, tokens, () => ({ lora: merged, dispose: () => undefined }), 2 * reps);
  merged.dispose();
  return { overhead, mergeMs: median(mergeTimes) };
}

/**
 * LoRA training throughput with the engine trainer: tokens/s and FLOP/s, counting the forward,
 * the backward's input gradients through every matmul (≈ forward), attention backward (2× its
 * forward) and the LoRA weight gradients; the frozen weights get no weight gradients.
 */
export async function measureLoraTraining(
  model: TransformerModel,
  options: { batch: number; seq: number; steps: number; rank: number },
): Promise<{ tokensPerSec: number; gflops: number }> {
  const { batch, seq, steps, rank } = options;
  const c = model.config;
  const lora = createTrainableLora(model, { rank, alpha: 2 * rank, seed: 1 });
  const examples = randomTokens(c.vocabSize, 64, seq + 1, 11);
  const loss = (rows: number[][]) => {
    const app = lora.application();
    const ids = tf.tensor2d(rows.map((r) => r.slice(0, -1)), [rows.length, seq], 'int32');
    const targets = tf.tensor2d(rows.map((r) => r.slice(1)), [rows.length, seq], 'int32');
    const logits = model.forward({ tokenIds: ids }, { lora: app }).logits!;
    const l = maskedCrossEntropy(logits, targets, tf.ones([rows.length, seq]) as tf.Tensor2D);
    app.dispose();
    return l;
  };
  const run = (n: number) => train({ variables: lora.variables(), examples, batchSize: batch, steps: n, optimizer: { learningRate: 1e-3 }, loss, yieldEvery: 0 });
  await run(1); // warm-up
  const t0 = performance.now();
  await run(steps);
  const seconds = (performance.now() - t0) / 1000;
  lora.dispose();
  const tokens = batch * seq * steps;
  const fwd = forwardFlops(c, batch, seq, batch * seq);
  const attentionFwd = batch * c.nLayers * 4 * seq * seq * c.nHeads * c.headDim;
  const loraFwdPerToken = [...linearModules(c)].filter((m) => lora.targetModules.includes(m.short)).reduce((s, m) => s + 2 * rank * (m.dIn + m.dOut), 0);
  const loraFwd = batch * seq * loraFwdPerToken;
  const flopsPerStep = fwd + loraFwd + (fwd - attentionFwd + loraFwd) + 2 * attentionFwd + loraFwd;
  return { tokensPerSec: tokens / seconds, gflops: (flopsPerStep * steps) / seconds / 1e9 };
}

/** Tensor count and RSS before and after `n` short greedy generations. */
export async function measureMemory(model: TransformerModel, tokenizer: TextTokenizer, n: number): Promise<{ tensorsBefore: number; tensorsAfter: number; rssBeforeMb: number; rssAfterMb: number }> {
  const prompts = randomTokens(model.config.vocabSize, 8, 12, 5);
  const once = (i: number) => generate(model, tokenizer, [prompts[i % prompts.length]], { maxTokens: 4, eosTokenId: null });
  await once(0);
  const tensorsBefore = tf.memory().numTensors;
  const rssBeforeMb = process.memoryUsage().rss / 2 ** 20;
  for (let i = 0; i < n; i++) await once(i);
  return { tensorsBefore, tensorsAfter: tf.memory().numTensors, rssBeforeMb, rssAfterMb: process.memoryUsage().rss / 2 ** 20 };
}
