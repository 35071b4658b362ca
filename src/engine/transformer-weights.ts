import * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig } from './model-config.js';

/** A linear layer LoRA can target, named as Hugging Face names the module (no `.weight`). */
export interface LinearModule {
  /** e.g. `model.layers.0.self_attn.q_proj`, `transformer.h.0.attn.c_attn` */
  name: string;
  /** The PEFT target name: `q_proj`, `c_attn`... */
  short: string;
  layer: number;
  dIn: number;
  dOut: number;
}

/** Every linear module of the model, in layer order. */
export function linearModules(config: ModelConfig): LinearModule[] {
  const { dModel: d, dFf, nHeads, nKvHeads, headDim } = config;
  const out: LinearModule[] = [];
  for (let i = 0; i < config.nLayers; i++) {
    const add = (name: string, short: string, dIn: number, dOut: number) => out.push({ name, short, layer: i, dIn, dOut });
    if (config.family === 'gpt2') {
      const p = `transformer.h.${i}`;
      add(`${p}.attn.c_attn`, 'c_attn', d, 3 * d);
      add(`${p}.attn.c_proj`, 'c_proj', d, d);
      add(`${p}.mlp.c_fc`, 'c_fc', d, dFf);
      add(`${p}.mlp.c_proj`, 'c_proj', dFf, d);
    } else {
      const p = `model.layers.${i}`;
      add(`${p}.self_attn.q_proj`, 'q_proj', d, nHeads * headDim);
      add(`${p}.self_attn.k_proj`, 'k_proj', d, nKvHeads * headDim);
      add(`${p}.self_attn.v_proj`, 'v_proj', d, nKvHeads * headDim);
      add(`${p}.self_attn.o_proj`, 'o_proj', nHeads * headDim, d);
      add(`${p}.mlp.gate_proj`, 'gate_proj', d, dFf);
      add(`${p}.mlp.up_proj`, 'up_proj', d, dFf);
      add(`${p}.mlp.down_proj`, 'down_proj', dFf, d);
    }
  }
  return out;
}

/**
 * Required weights with their Hugging Face shapes (GPT-2 Conv1D [in, out], LLaMA nn.Linear
 * [out, in]). `lm_head.weight` appears only for an untied head.
 */
export function hfWeightShapes(config: ModelConfig): Map<string, number[]> {
  const { dModel: d, vocabSize: v } = config;
  const shapes = new Map<string, number[]>();
  const gpt2 = config.family === 'gpt2';
  for (const m of linearModules(config)) {
    shapes.set(`${m.name}.weight`, gpt2 ? [m.dIn, m.dOut] : [m.dOut, m.dIn]);
    if (gpt2) shapes.set(`${m.name}.bias`, [m.dOut]);
  }
  if (gpt2) {
    shapes.set('transformer.wte.weight', [v, d]);
    shapes.set('transformer.wpe.weight', [config.maxPositions, d]);
    for (let i = 0; i < config.nLayers; i++) {
      for (const ln of ['ln_1', 'ln_2']) {
        shapes.set(`transformer.h.${i}.${ln}.weight`, [d]);
        shapes.set(`transformer.h.${i}.${ln}.bias`, [d]);
      }
    }
    shapes.set('transformer.ln_f.weight', [d]);
    shapes.set('transformer.ln_f.bias', [d]);
  } else {
    shapes.set('model.embed_tokens.weight', [v, d]);
    for (let i = 0; i < config.nLayers; i++) {
      shapes.set(`model.layers.${i}.input_layernorm.weight`, [d]);
      shapes.set(`model.layers.${i}.post_attention_layernorm.weight`, [d]);
    }
    shapes.set('model.norm.weight', [d]);
  }
  if (!config.tieWordEmbeddings) shapes.set('lm_head.weight', [v, d]);
  return shapes;
}

/** The name of the token embedding weight. */
export function embeddingName(config: ModelConfig): string {
  return config.family === 'gpt2' ? 'transformer.wte.weight' : 'model.embed_tokens.weight';
}

/**
 * Canonical Hugging Face name: original GPT-2 checkpoints omit the `transformer.` prefix
 * (`h.0.attn.c_attn.weight`); returns undefined for known non-parameter buffers.
 */
export function canonicalWeightName(config: ModelConfig, name: string): string | undefined {
  if (/\.attn\.(masked_)?bias$/.test(name) || name.endsWith('rotary_emb.inv_freq')) return undefined;
  if (config.family === 'gpt2' && !name.startsWith('transformer.') && name !== 'lm_head.weight') {
    return `transformer.${name}`;
  }
  return name;
}

/** Mulberry32: a small seeded PRNG returning floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal samples from a seeded uniform source (Box–Muller). */
export function gaussian(rand: () => number, n: number, std: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = Math.max(rand(), 1e-12);
    const r = Math.sqrt(-2 * Math.log(u)) * std;
    const th = 2 * Math.PI * rand();
    out[i] = r * Math.cos(th);
    if (i + 1 < n) out[i + 1] = r * Math.sin(th);
  }
  return out;
}

export interface InitOptions {
  seed: number;
  /** Std of matrices (default 0.02, GPT-2's init). Residual output projections get std/√(2·layers). */
  std?: number;
  /** Std of random perturbation added to norm gains (around 1) and to biases (around 0); default 0. */
  jitter?: number;
}

/**
 * Fresh weights in Hugging Face naming and layout for a config, seeded and deterministic
 * (generated in JavaScript, so independent of the backend). The caller owns the tensors.
 */
export function initialWeights(config: ModelConfig, options: InitOptions): Map<string, tf.Tensor> {
  const rand = seededRandom(options.seed);
  const std = options.std ?? 0.02;
  const jitter = options.jitter ?? 0;
  const residualStd = std / Math.sqrt(2 * config.nLayers);
  const weights = new Map<string, tf.Tensor>();
  for (const [name, shape] of hfWeightShapes(config)) {
    const n = shape.reduce((a, b) => a * b, 1);
    let data: Float32Array;
    if (shape.length === 1) {
      data = jitter > 0 ? gaussian(rand, n, jitter) : new Float32Array(n);
      if (!name.endsWith('.bias')) for (let i = 0; i < n; i++) data[i] += 1;
    } else {
      const residual = /(c_proj|o_proj|down_proj)\.weight$/.test(name);
      data = gaussian(rand, n, residual ? residualStd : std);
    }
    weights.set(name, tf.tensor(data, shape, 'float32'));
  }
  return weights;
}
