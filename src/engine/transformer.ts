import * as tf from '@tensorflow/tfjs-core';
import { attend, attentionBias } from './attention.js';
import type { KvCache, LayerKv } from './kv-cache.js';
import { embed, geluNew, layerNorm, rmsNorm, silu, transpose2dJs } from './layers.js';
import { addRowLora, type LoraApplication } from './lora-application.js';
import type { ModelConfig } from './model-config.js';
import { applyRope, ropeTables, rotateHalfMatrix, type RopeTables } from './rope.js';
import { canonicalWeightName, embeddingName, hfWeightShapes, linearModules } from './transformer-weights.js';

/** A batch of token ids for one forward pass. */
export interface ForwardInput {
  /** int32 [batch, seq]. */
  tokenIds: tf.Tensor2D;
  /**
   * [batch, seq], 1 for real tokens and 0 for padding (any side). Omitted: all real. With a cache,
   * this covers only the new columns. Padded positions never influence real ones.
   */
  attentionMask?: tf.Tensor2D;
  /**
   * int32 [batch, seq]. Omitted: each row's real tokens are numbered 0, 1, 2... from its first real
   * token (cumsum of the mask − 1), continuing after the cached real tokens.
   */
  positionIds?: tf.Tensor2D;
}

export interface ForwardOptions {
  /** Appended to in place (its old tensors are freed). */
  cache?: KvCache;
  lora?: LoraApplication;
  /** 'all': [batch, seq, vocab]; 'last': only the last column, [batch, 1, vocab]; default 'all'. */
  logits?: 'all' | 'last' | 'none';
  /**
   * Return every hidden state, HF's convention: layers+1 tensors [batch, seq, dModel], the
   * embeddings first and the final one after the final norm.
   */
  hiddenStates?: boolean;
  /**
   * The last layer runs its queries, output projection and MLP at each row's final position only
   * (its keys and values still cover every position, for the cache): what 'last' logits and the
   * cache need, ~1/nLayers less work in a prefill. With `hiddenStates` the final entry is then
   * [batch, 1, dModel]. Default: on when nothing reads the last layer elsewhere (logits 'last' or
   * 'none' without hiddenStates), else off.
   */
  finalOnly?: boolean;
}

export interface ForwardOutput {
  logits?: tf.Tensor3D;
  hiddenStates?: tf.Tensor3D[];
}

export interface CreateTransformerOptions {
  /**
   * Training mode: every weight becomes a tf.Variable (fast layout) and the embedding lookup
   * gets a gradient that WASM can run. Default false (frozen plain tensors).
   */
  trainable?: boolean;
}

/**
 * A GPT-2 or LLaMA decoder. Parameters live in `params`, keyed by HF weight name, with every
 * linear weight in the fast layout [dIn, dOut] (LLaMA's [out, in] is transposed at load) so the hot
 * path is x·W without transpose flags. For a tied head in inference mode, `headT` is a transposed
 * copy of the embedding ([dModel, vocab]).
 */
export class TransformerModel {
  private constructor(
    readonly config: ModelConfig,
    readonly trainable: boolean,
    readonly params: Map<string, tf.Tensor>,
    private readonly headT: tf.Tensor2D | undefined,
    /** RoPE's rotate-half permutation (LLaMA): kept, so the backend packs it once, not per forward. */
    private readonly rotation: tf.Tensor2D | undefined,
  ) {}

  /**
   * Builds a model from HF-named weights (either family's layout, validated: every missing,
   * misshapen or unknown weight is listed in one error). Does not take ownership of `weights`.
   */
  static create(config: ModelConfig, weights: Map<string, tf.Tensor>, options: CreateTransformerOptions = {}): TransformerModel {
    const trainable = options.trainable ?? false;
    const expected = hfWeightShapes(config);
    const linear = new Set(linearModules(config).map((m) => `${m.name}.weight`));
    const optionalBias = new Set(config.family === 'llama' ? linearModules(config).map((m) => `${m.name}.bias`) : []);
    const problems: string[] = [];
    const byName = new Map<string, tf.Tensor>();
    const seen = new Set<string>();
    for (const [raw, t] of weights) {
      const name = canonicalWeightName(config, raw);
      if (name === undefined) continue;
      seen.add(name);
      // Tied checkpoints sometimes still carry lm_head.weight; the embedding wins.
      if (name === 'lm_head.weight' && config.tieWordEmbeddings) continue;
      const shape = expected.get(name) ?? (optionalBias.has(name) ? [expected.get(name.replace(/bias$/, 'weight'))![0]] : undefined);
      if (!shape) problems.push(`unexpected weight ${raw}`);
      else if (shape.join() !== t.shape.join()) problems.push(`${raw} has shape [${t.shape}], expected [${shape}]`);
      else byName.set(name, t);
    }
    for (const name of expected.keys()) if (!seen.has(name)) problems.push(`missing weight ${name}`);
    if (problems.length > 0) throw new Error(`checkpoint does not match the ${config.family} config: ${problems.join('; ')}`);

    const params = new Map<string, tf.Tensor>();
    for (const [name, t] of byName) {
      const fast = config.family === 'llama' && linear.has(name) ? transpose2dJs(t) : tf.cast(t, 'float32');
      params.set(name, trainable ? tf.variable(fast, true, `${name}#${nextId++}`) : fast);
      if (trainable) fast.dispose();
    }
    if (!config.tieWordEmbeddings) {
      // lm_head [vocab, d] → [d, vocab]; stored under its own name, already in the fast layout.
      const head = params.get('lm_head.weight')!;
      const headT = transpose2dJs(head);
      head.dispose();
      params.set('lm_head.weight', trainable ? tf.variable(headT, true, `lm_head.weight#${nextId++}`) : headT);
      if (trainable) headT.dispose();
    }
    const headT = config.tieWordEmbeddings && !trainable ? transpose2dJs(params.get(embeddingName(config))!) : undefined;
    const rotation = config.family === 'llama' ? rotateHalfMatrix(config.headDim) : undefined;
    return new TransformerModel(config, trainable, params, headT, rotation);
  }

  /** The trainable variables (training mode), in a stable order; empty for a frozen model. */
  variables(): tf.Variable[] {
    return this.trainable ? [...this.params.values()].map((t) => t as tf.Variable) : [];
  }

  /**
   * The weights in HF naming and layout (new tensors the caller owns), ready for a checkpoint writer.
   * A tied head is not written (HF ties it on load).
   */
  exportWeights(): Map<string, tf.Tensor> {
    const linear = new Set(linearModules(this.config).map((m) => `${m.name}.weight`));
    const out = new Map<string, tf.Tensor>();
    for (const [name, t] of this.params) {
      const toHf = name === 'lm_head.weight' || (this.config.family === 'llama' && linear.has(name));
      out.set(name, toHf ? transpose2dJs(t) : t.clone());
    }
    return out;
  }

  /** Frees every parameter. */
  dispose(): void {
    for (const t of this.params.values()) t.dispose();
    this.headT?.dispose();
    this.rotation?.dispose();
  }

  /** Runs the decoder. All intermediates are freed; the caller owns the returned tensors. */
  forward(input: ForwardInput, options: ForwardOptions = {}): ForwardOutput {
    const { cache, lora } = options;
    const want = options.logits ?? 'all';
    const finalOnly = options.finalOnly ?? (want !== 'all' && !options.hiddenStates);
    if (finalOnly && want === 'all') throw new Error("finalOnly computes the last layer at the final position only: logits must be 'last' or 'none'");
    let newKv: LayerKv[] = [];
    let fullMask: tf.Tensor2D | undefined;
    const result = tf.tidy(() => {
      const { config: c } = this;
      const [b, s] = input.tokenIds.shape;
      const mask = tf.cast(input.attentionMask ?? tf.ones([b, s]), 'float32') as tf.Tensor2D;
      const past = cache && cache.length > 0 ? cache : undefined;
      if (past && past.batch !== b) throw new Error(`cache batch ${past.batch} differs from input batch ${b}`);
      const keyMask = (past ? tf.concat([past.mask!, mask], 1) : mask) as tf.Tensor2D;
      let positions = input.positionIds;
      if (!positions) {
        const before = past ? tf.sum(past.mask!, 1, true) : tf.zeros([b, 1]);
        positions = tf.cast(tf.maximum(tf.add(tf.sub(tf.cumsum(mask, 1), 1), before), 0), 'int32') as tf.Tensor2D;
      }
      const bias = attentionBias(keyMask, s);
      const p = (name: string) => this.params.get(name)!;
      // Activations stay 2-D, [b·s, features], so every projection is one plain matMul.
      const linearOf = (x: tf.Tensor2D, module: string) => this.linear(x, module, lora, b, s);
      const rows = b * s;
      const flat = (t: tf.Tensor) => tf.reshape(t, [rows, c.dModel]) as tf.Tensor2D;

      let h: tf.Tensor2D;
      let rope: { q: RopeTables; k: RopeTables; rotation: tf.Tensor2D } | undefined;
      const qScale = 1 / Math.sqrt(c.headDim);
      if (c.family === 'gpt2') {
        h = flat(
          tf.add(embed(p('transformer.wte.weight'), input.tokenIds, this.trainable), embed(p('transformer.wpe.weight'), positions, this.trainable)),
        );
      } else {
        h = flat(embed(p('model.embed_tokens.weight'), input.tokenIds, this.trainable));
        const k = ropeTables(positions, c.headDim, c.ropeTheta);
        rope = { k, q: { cos: tf.mul(k.cos, qScale), sin: tf.mul(k.sin, qScale) }, rotation: this.rotation! };
      }
      const hidden: tf.Tensor2D[] = [h];
      const kvs: LayerKv[] = [];
      const shape = { nHeads: c.nHeads, nKvHeads: c.nKvHeads, headDim: c.headDim, batch: b, seq: s };
      // Rows at each batch row's final position (left padding puts it in the last column).
      const finalRows = (t: tf.Tensor2D) => tf.reshape(tf.slice(tf.reshape(t, [b, s, t.shape[1]]), [0, s - 1, 0], [b, 1, t.shape[1]]), [b, t.shape[1]]) as tf.Tensor2D;
      for (let i = 0; i < c.nLayers; i++) {
        // The last layer of a finalOnly pass: keys and values at every position, the rest at the final one.
        const cut = finalOnly && s > 1 && i === c.nLayers - 1;
        const qs = cut ? 1 : s;
        const outOf = (x: tf.Tensor2D, module: string) => this.linear(x, module, lora, b, qs);
        if (c.family === 'gpt2') {
          const pre = `transformer.h.${i}`;
          const x = layerNorm(h, p(`${pre}.ln_1.weight`), p(`${pre}.ln_1.bias`), c.normEps) as tf.Tensor2D;
          const [q, k, v] = tf.split(linearOf(x, `${pre}.attn.c_attn`), 3, 1) as tf.Tensor2D[];
          const { context, kv } = attend(tf.mul(cut ? finalRows(q) : q, qScale), k, v, bias, { ...shape, querySeq: qs }, past?.layer(i));
          kvs.push(kv);
          if (cut) h = finalRows(h);
          h = tf.add(h, outOf(context, `${pre}.attn.c_proj`));
          const x2 = layerNorm(h, p(`${pre}.ln_2.weight`), p(`${pre}.ln_2.bias`), c.normEps) as tf.Tensor2D;
          h = tf.add(h, outOf(geluNew(outOf(x2, `${pre}.mlp.c_fc`)) as tf.Tensor2D, `${pre}.mlp.c_proj`));
        } else {
          const pre = `model.layers.${i}`;
          const { q: qT, k: kT, rotation } = rope!;
          const x = rmsNorm(h, p(`${pre}.input_layernorm.weight`), c.normEps) as tf.Tensor2D;
          const q = cut
            ? applyRope(outOf(finalRows(x), `${pre}.self_attn.q_proj`), c.nHeads, finalTables(qT, b, s), rotation)
            : applyRope(linearOf(x, `${pre}.self_attn.q_proj`), c.nHeads, qT, rotation);
          const k = applyRope(linearOf(x, `${pre}.self_attn.k_proj`), c.nKvHeads, kT, rotation);
          const v = linearOf(x, `${pre}.self_attn.v_proj`);
          const { context, kv } = attend(q, k, v, bias, { ...shape, querySeq: qs }, past?.layer(i));
          kvs.push(kv);
          if (cut) h = finalRows(h);
          h = tf.add(h, outOf(context, `${pre}.self_attn.o_proj`));
          const x2 = rmsNorm(h, p(`${pre}.post_attention_layernorm.weight`), c.normEps) as tf.Tensor2D;
          const gated = tf.mul(silu(outOf(x2, `${pre}.mlp.gate_proj`)), outOf(x2, `${pre}.mlp.up_proj`)) as tf.Tensor2D;
          h = tf.add(h, outOf(gated, `${pre}.mlp.down_proj`));
        }
        hidden.push(h);
      }
      const normed = (
        c.family === 'gpt2'
          ? layerNorm(h, p('transformer.ln_f.weight'), p('transformer.ln_f.bias'), c.normEps)
          : rmsNorm(h, p('model.norm.weight'), c.normEps)
      ) as tf.Tensor2D;
      hidden[hidden.length - 1] = normed;

      let logits: tf.Tensor3D | undefined;
      if (want !== 'none') {
        // After a finalOnly pass `normed` already holds the final positions only, [b, dModel].
        const x = want === 'last' && normed.shape[0] !== b ? finalRows(normed) : normed;
        logits = tf.reshape(this.headLogits(x as tf.Tensor2D), [b, want === 'last' ? 1 : s, c.vocabSize]) as tf.Tensor3D;
      }
      const states = options.hiddenStates ? hidden.map((t) => tf.reshape(t, [b, t.shape[0] / b, c.dModel]) as tf.Tensor3D) : undefined;
      const out: { logits?: tf.Tensor3D; hiddenStates?: tf.Tensor3D[]; kvs: LayerKv[]; keyMask: tf.Tensor2D } = {
        kvs: cache ? kvs : [],
        keyMask: keyMask,
        ...(logits && { logits }),
        ...(states && { hiddenStates: states }),
      };
      return out as unknown as tf.TensorContainer;
    }) as unknown as { logits?: tf.Tensor3D; hiddenStates?: tf.Tensor3D[]; kvs: LayerKv[]; keyMask: tf.Tensor2D };
    newKv = result.kvs;
    fullMask = result.keyMask;
    if (cache) cache.replace(newKv, fullMask);
    else fullMask.dispose();
    return { logits: result.logits, hiddenStates: result.hiddenStates };
  }

  /** x [b·s, dIn] → [b·s, dOut]: x·W (+ bias) plus the stacked LoRA terms of this module. */
  private linear(x: tf.Tensor2D, module: string, lora: LoraApplication | undefined, b: number, s: number): tf.Tensor2D {
    const w = lora?.weightOverrides.get(module) ?? (this.params.get(`${module}.weight`) as tf.Tensor2D);
    let y = project(x, w, this.params.get(`${module}.bias`));
    const delta = lora?.modules.get(module);
    if (delta) {
      const [rowsOfScale, r] = delta.scale.shape;
      let t = tf.matMul(x, delta.aT); // [b·s, Σr]
      // Per-row plans scale every token of their batch row: [b, s, Σr] ⊙ [b, 1, Σr].
      t = rowsOfScale === 1 ? tf.mul(t, delta.scale) : tf.reshape(tf.mul(tf.reshape(t, [b, s, r]), tf.reshape(delta.scale, [rowsOfScale, 1, r])), [b * s, r]);
      y = tf.add(y, tf.matMul(t, delta.bT));
    }
    const rowDelta = lora?.rowModules?.get(module);
    if (rowDelta) y = addRowLora(y, x, rowDelta, b, s);
    return y;
  }

  /**
   * The output head alone: final hidden states x [rows, dModel] (after the final norm) → logits
   * [rows, vocab]. With `forward(…, { logits: 'none', hiddenStates: true })` a trainer can take
   * logits at the few positions it scores instead of every one.
   */
  headLogits(x: tf.Tensor2D): tf.Tensor2D {
    if (!this.config.tieWordEmbeddings) return tf.matMul(x, this.params.get('lm_head.weight') as tf.Tensor2D);
    if (this.headT) return tf.matMul(x, this.headT);
    // Training a tied head: the transposed copy would go stale, so read the variable itself.
    return tf.matMul(x, this.params.get(embeddingName(this.config)) as tf.Tensor2D, false, true);
  }
}

/** RoPE tables [b·s, 1, hd] cut to each row's final position, [b, 1, hd] (finalOnly's queries). */
function finalTables(t: RopeTables, b: number, s: number): RopeTables {
  const cut = (x: tf.Tensor3D) => tf.reshape(tf.slice(tf.reshape(x, [b, s, 1, x.shape[2]]), [0, s - 1, 0, 0], [b, 1, 1, x.shape[2]]), [b, 1, x.shape[2]]) as tf.Tensor3D;
  return { cos: cut(t.cos), sin: cut(t.sin) };
}

/**
 * x·W (+ bias) with W in the fast layout [dIn, dOut]. The fused bias kernel's gradient always
 * computes the weight gradient, wasted on frozen weights (~15-20% of a LoRA step), so under a
 * gradient tape the bias is a separate add and plain matMul's gradient computes only what the
 * tape needs.
 */
function project(x: tf.Tensor2D, w: tf.Tensor2D, bias: tf.Tensor | undefined): tf.Tensor2D {
  if (!bias) return tf.matMul(x, w);
  return recordingGradients() ? tf.add<tf.Tensor2D>(tf.matMul(x, w), bias) : (tf.fused.matMul({ a: x, b: w, bias }) as tf.Tensor2D);
}

/** Whether a gradient tape is recording (tf.grad / variableGrads in progress). */
function recordingGradients(): boolean {
  return (tf.engine() as unknown as { state: { gradientDepth: number } }).state.gradientDepth > 0;
}

let nextId = 0;

/**
 * Left-pads prompts of different lengths into one batch: tokenIds int32 [batch, maxLen] and
 * attentionMask [batch, maxLen] (0 on the left padding). Left padding keeps every prompt's last
 * token in the last column, where generation appends.
 */
export function leftPadBatch(tokenIds: number[][], padId: number): { tokenIds: tf.Tensor2D; attentionMask: tf.Tensor2D } {
  if (tokenIds.length === 0) throw new Error('empty batch');
  const width = Math.max(...tokenIds.map((t) => t.length));
  if (width === 0) throw new Error('every prompt is empty');
  const ids = new Int32Array(tokenIds.length * width).fill(padId);
  const mask = new Float32Array(tokenIds.length * width);
  tokenIds.forEach((row, r) => {
    if (row.length === 0) throw new Error(`prompt ${r} has no tokens`);
    const off = r * width + width - row.length;
    ids.set(row, off);
    mask.fill(1, off, off + row.length);
  });
  return {
    tokenIds: tf.tensor2d(ids, [tokenIds.length, width], 'int32'),
    attentionMask: tf.tensor2d(mask, [tokenIds.length, width]),
  };
}
