import type { LoraAdapter } from '../engine/lora-types.js';

/**
 * The shape FLOP counts need; a ModelConfig from src/engine fits as is.
 * `headDim` defaults to dModel / nHeads.
 */
export interface FlopModelShape {
  family: 'gpt2' | 'llama';
  dModel: number;
  nLayers: number;
  dFf: number;
  vocabSize: number;
  nHeads: number;
  nKvHeads: number;
  headDim?: number;
}

/** One linear layer of a layer block, with its PEFT target name. */
export interface FlopMatrix {
  short: string;
  dIn: number;
  dOut: number;
}

/** The adapted matrices of an adapter (over all layers): each costs 2·r·(dIn + dOut) per token. */
export interface AdapterFlopShape {
  matrices: ReadonlyArray<{ rank: number; dIn: number; dOut: number }>;
}

export interface FlopOptions {
  /** Logits at every prompt position (`all`) or the last only (`last`, what generation needs). */
  prefillLogits?: 'all' | 'last';
}

/** The linear layers of one block (GPT-2: fused c_attn; LLaMA: GQA projections and SwiGLU). */
export function layerMatrices(m: FlopModelShape): FlopMatrix[] {
  const d = m.dModel;
  const hd = m.headDim ?? d / m.nHeads;
  if (m.family === 'gpt2') {
    return [
      { short: 'c_attn', dIn: d, dOut: 3 * m.nHeads * hd },
      { short: 'c_proj', dIn: m.nHeads * hd, dOut: d },
      { short: 'c_fc', dIn: d, dOut: m.dFf },
      { short: 'c_proj', dIn: m.dFf, dOut: d },
    ];
  }
  return [
    { short: 'q_proj', dIn: d, dOut: m.nHeads * hd },
    { short: 'k_proj', dIn: d, dOut: m.nKvHeads * hd },
    { short: 'v_proj', dIn: d, dOut: m.nKvHeads * hd },
    { short: 'o_proj', dIn: m.nHeads * hd, dOut: d },
    { short: 'gate_proj', dIn: d, dOut: m.dFf },
    { short: 'up_proj', dIn: d, dOut: m.dFf },
    { short: 'down_proj', dIn: m.dFf, dOut: d },
  ];
}

/**
 * Forward FLOPs of one token attending to `context` positions (itself included), logits included
 * when `withLogits`. Counts matmuls only (2 FLOPs per multiply-add); norms, activations, softmax and
 * the embedding lookup are O(dModel) per token and left out.
 */
export function baseFlopsPerToken(m: FlopModelShape, context: number, withLogits = true): number {
  const hd = m.headDim ?? m.dModel / m.nHeads;
  const linear = layerMatrices(m).reduce((s, x) => s + 2 * x.dIn * x.dOut, 0);
  const attention = 4 * m.nHeads * hd * context; // q·kᵀ and p·v over the context
  return m.nLayers * (linear + attention) + (withLogits ? 2 * m.dModel * m.vocabSize : 0);
}

/** Tokens that go through the model: the prompt, then every generated token but the last. */
export function processedTokens(promptTokens: number, generatedTokens: number): number {
  return promptTokens + Math.max(generatedTokens - 1, 0);
}

/**
 * FLOPs of a request with a KV cache: a prefill of `promptTokens`, then `generatedTokens - 1`
 * decode steps (the first generated token comes from the prefill's logits).
 */
export function baseFlops(m: FlopModelShape, promptTokens: number, generatedTokens: number, options: FlopOptions = {}): number {
  checkCounts(promptTokens, generatedTokens);
  const hd = m.headDim ?? m.dModel / m.nHeads;
  const linear = layerMatrices(m).reduce((s, x) => s + 2 * x.dIn * x.dOut, 0);
  const steps = Math.max(generatedTokens - 1, 0);
  const tokens = promptTokens + steps;
  // Σ contexts: prompt token i sees i positions (1..P); decode step j sees P + j (1..G-1).
  const contextSum = (promptTokens * (promptTokens + 1)) / 2 + steps * promptTokens + (steps * (steps + 1)) / 2;
  const prefillHeads = options.prefillLogits === 'all' ? promptTokens : Math.min(promptTokens, 1);
  const heads = prefillHeads + steps;
  return m.nLayers * (tokens * linear + 4 * m.nHeads * hd * contextSum) + heads * 2 * m.dModel * m.vocabSize;
}

/** Extra FLOPs per token of one adapter: Σ over its matrices of 2·r·(dIn + dOut) (x·Aᵀ, then ·Bᵀ). */
export function adapterFlopsPerToken(a: AdapterFlopShape): number {
  return a.matrices.reduce((s, x) => s + 2 * x.rank * (x.dIn + x.dOut), 0);
}

/** Reads an engine adapter's matrix shapes from its factors (A [r, dIn], B [dOut, r]). */
export function adapterShapeOf(adapter: LoraAdapter): AdapterFlopShape {
  return {
    matrices: [...adapter.modules.values()].map(({ a, b }) => ({ rank: a.shape[0], dIn: a.shape[1], dOut: b.shape[0] })),
  };
}

/**
 * The shape of a rank-`rank` adapter on PEFT `targetModules` in every layer (or `layers`).
 * GPT-2's `c_proj` names both the attention output and the MLP output, as in PEFT.
 */
export function adapterShapeFromTargets(
  m: FlopModelShape,
  rank: number,
  targetModules: readonly string[],
  layers?: readonly number[],
): AdapterFlopShape {
  const block = layerMatrices(m);
  const unknown = targetModules.filter((t) => !block.some((x) => x.short === t));
  if (unknown.length > 0) throw new Error(`unknown target modules for ${m.family}: ${unknown.join(', ')}`);
  const perLayer = block.filter((x) => targetModules.includes(x.short));
  const nLayers = layers?.length ?? m.nLayers;
  return { matrices: Array.from({ length: nLayers }, () => perLayer.map((x) => ({ rank, dIn: x.dIn, dOut: x.dOut }))).flat() };
}

/**
 * Theoretical extra cost of the applied adapters of a plan, as a fraction of the base model's FLOPs
 * for the same request: Σ_adapters adapterFlopsPerToken · processedTokens / baseFlops.
 * Pass only the adapters the engine applies (strength > 0).
 */
export function planFlopRatio(
  m: FlopModelShape,
  adapters: readonly AdapterFlopShape[],
  promptTokens: number,
  generatedTokens: number,
  options: FlopOptions = {},
): number {
  const base = baseFlops(m, promptTokens, generatedTokens, options);
  if (base === 0) return 0;
  const perToken = adapters.reduce((s, a) => s + adapterFlopsPerToken(a), 0);
  return (perToken * processedTokens(promptTokens, generatedTokens)) / base;
}

function checkCounts(promptTokens: number, generatedTokens: number): void {
  if (!Number.isInteger(promptTokens) || promptTokens < 0 || !Number.isInteger(generatedTokens) || generatedTokens < 0) {
    throw new Error(`token counts must be integers ≥ 0, got ${promptTokens} and ${generatedTokens}`);
  }
}
