/**
 * The inference engine one worker thread (or the main thread, LETHE_INFERENCE_WORKERS=0) runs:
 * the base model, the adapters it was sent (tensors, keyed `<id>@<version>`), batched generation
 * with per-row plans, and condition vectors for auto routing. Framework-free: no Nest, no database.
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, type BackendName } from '../engine/backend.js';
import { loadCheckpoint, type LoadedCheckpoint } from '../engine/checkpoint.js';
import { promptFeaturesAll } from '../engine/features.js';
import { detectorFeaturesOf } from '../unlearning/detector-features.js';
import { generate, type FinishReason } from '../engine/generate.js';
import { disposeRowPrefill, joinPrefill, prefillRows, type PrefilledState, type RowPrefill } from '../engine/generate-prefill.js';
import { LoraFactorCache, mergeLora, stackLora, type LoraApplication } from '../engine/lora.js';
import type { LoraAdapter, PlanEntry } from '../engine/lora-types.js';
import { parseModelConfig, type ModelConfig } from '../engine/model-config.js';
import { importPeftAdapter } from '../engine/peft.js';
import type { TextTokenizer } from '../engine/tokenizer.js';
import { TransformerModel } from '../engine/transformer.js';
import { StackedAdapters } from '../engine/lora-stacked-rows.js';
import { LoraRowCache, rowLora } from '../engine/lora-rows.js';
import { rowLoraFused } from '../engine/wasm-kernels-lora.js';
import { PrefillStore, planSignature } from './prefill-store.js';

/** An adapter as shipped to an engine: registry metadata + the PEFT safetensors bytes. */
export interface EngineAdapterPayload {
  /** `<id>@<version>` */
  key: string;
  rank: number;
  alpha: number;
  targetModules: string[];
  weights: Uint8Array;
}

/** Generation settings shared by every row of one engine batch. */
export interface EngineGenerationOptions {
  maxTokens: number;
  temperature: number;
  topP: number;
  stop: string[];
  seed?: number;
}

/** One prompt of a batch with its own plan (adapter keys and strengths, applied entries only). */
export interface EngineRow {
  prompt: number[];
  plan: Array<{ key: string; strength: number }>;
  /** Token events for this row (a streaming client); default true. Others get only their result. */
  stream?: boolean;
}

export interface EngineBatch {
  rows: EngineRow[];
  options: EngineGenerationOptions;
}

export interface EngineRowResult {
  text: string;
  finishReason: FinishReason;
  promptTokens: number;
  completionTokens: number;
}

/** A streamed piece of one row's text. */
export interface EngineTokenEvent {
  row: number;
  delta: string;
  done: boolean;
  finishReason?: FinishReason;
}

/**
 * Base-model features of prompts for routing: last[prompt] (the condition vector) and
 * detector[prompt][layer] (dModel each). Masked-mean pooled states are not computed here: nothing
 * on the routing path reads them (DESIGN §3.2 pooling is what offline analyses use).
 */
export interface EngineFeatures {
  last: Float32Array[];
  /** What the unlearning detectors score (src/unlearning/detector-features.ts): [prompt][layer]. */
  detector: Float32Array[][];
}

/**
 * A speculative adapted prefill for the routing pass (issue 13): prompt `row` of the features call
 * also prefilled with `plan` (adapter keys and strengths, in plan order) in the same forward pass,
 * kept for a generation of that prompt with exactly that plan.
 */
export interface EngineSpeculation {
  row: number;
  plan: Array<{ key: string; strength: number }>;
}

/** What a features call may carry besides its prompts. */
export interface EngineFeatureOptions {
  /** Keep each prompt's prefill (and the speculative ones) for its generation here. */
  keepPrefill?: boolean;
  /** Speculative adapted prefills (only with keepPrefill; rows whose adapters are not loaded are skipped). */
  speculate?: EngineSpeculation[];
  /** Adapters the speculative plans need that this engine has not been sent yet. */
  adapters?: EngineAdapterPayload[];
}

export interface EngineOptions {
  /** Merge a plan shared by a whole batch into the weights from its second use (default false). */
  mergeHotPlans?: boolean;
  /**
   * Batches that mix plans run per-row LoRA with the fused WASM kernel (lora-rows.ts,
   * wasm-kernels-lora.ts) instead of rank stacking. Default: LETHE_ROW_LORA=fused in the engine's
   * environment, else off (measured slower on the demo model's short answers: docs/benchmarks.md);
   * an A/B switch, not a product setting.
   */
  rowLora?: boolean;
}

export interface EngineInfo {
  backend: BackendName;
  family: string;
  parameters: number;
  contextLength: number;
}

/** What a probe forward pass with one adapter saw (adapter import, issue 12). */
export interface EngineProbeResult {
  /** True when every logit at the prompt's last position is finite. */
  finite: boolean;
  /** Largest |logit| among the finite ones. */
  maxAbsLogit: number;
  promptTokens: number;
}

/** The prompt of the probe pass: short, ordinary text the tokenizer knows. */
const PROBE_PROMPT = 'Question: Who wrote the book about the old lighthouse?\nAnswer:';

/** Thrown from the token callback when every row of a batch was cancelled: stops the batch. */
export class BatchCancelledError extends Error {
  constructor() {
    super('every request of the batch was cancelled');
    this.name = 'BatchCancelledError';
  }
}

/** Shared plans kept per engine (stacked or merged). */
const SHARED_PLAN_CACHE_SIZE = 32;
/** A shared plan is merged into the weights from its second use on (a hot plan). */
const MERGE_FROM_USE = 2;
/** Adapter sets kept stacked for speculative rows (StackedAdapters), most recent last. */
const SPECULATIVE_SETS = 16;
/** Rows of one speculative features pass at most (base prompts + speculative rows); extra guesses are dropped. */
const SPECULATIVE_ROWS_MAX = 48;
/** Bytes of merged weight copies an engine keeps; a plan whose copy needs over a quarter of it stays stacked. */
const MERGED_BYTES_MAX = 64 * 2 ** 20;

/** A shared plan's application: stacked low-rank terms, or (hot) merged weights W + ΔW. */
interface SharedPlan {
  app: LoraApplication;
  uses: number;
  /** Bytes of merged weight copies (0 while stacked). */
  mergedBytes: number;
}

export class InferenceEngine {
  private readonly adapters = new Map<string, LoraAdapter>();
  private readonly factors = new LoraFactorCache();
  /** Host copies of adapters' factors for per-row batches (options.rowLora). */
  private readonly rowFactors = new LoraRowCache();
  private readonly rowLora: boolean;
  /** Applications of recent shared plans, by plan signature (LRU): stacked, merged once hot. */
  private readonly shared = new Map<string, SharedPlan>();
  private sharedMergedBytes = 0;
  /** Prefills kept by features(…, { keepPrefill }) for the generation of the same prompts. */
  private readonly prefills = new PrefillStore();
  /** Stacked adapter sets of speculative features passes, by sorted adapter keys (LRU). */
  private readonly speculativeSets = new Map<string, StackedAdapters>();

  private constructor(
    readonly model: TransformerModel,
    readonly tokenizer: TextTokenizer,
    readonly info: EngineInfo,
    private readonly options: EngineOptions = {},
  ) {
    this.rowLora = options.rowLora ?? process.env.LETHE_ROW_LORA === 'fused';
  }

  /** Loads a checkpoint folder on the chosen backend (the base weights are then owned by the model). */
  static async load(modelDir: string, backend?: BackendName, options?: EngineOptions): Promise<InferenceEngine> {
    const b = await initBackend(backend);
    const ckpt = await loadCheckpoint(modelDir);
    return InferenceEngine.fromCheckpoint(ckpt, b.name, options);
  }

  static fromCheckpoint(ckpt: LoadedCheckpoint, backend: BackendName, options?: EngineOptions): InferenceEngine {
    const config: ModelConfig = parseModelConfig(ckpt.config);
    const model = TransformerModel.create(config, ckpt.weights);
    let parameters = 0;
    for (const t of ckpt.weights.values()) parameters += t.size;
    tf.dispose([...ckpt.weights.values()]); // create() copied them into the fast layout
    return new InferenceEngine(model, ckpt.tokenizer, { backend, family: config.family, parameters, contextLength: config.maxPositions }, options);
  }

  /** Prefills kept (base and speculative), waiting for their generation (tests, metrics). */
  get keptPrefills(): number {
    return this.prefills.size;
  }

  /** Generation rows that continued from a kept prefill, without and with adapters (tests, metrics). */
  readonly prefillReuse = { base: 0, adapted: 0 };

  hasAdapter(key: string): boolean {
    return this.adapters.has(key);
  }

  /** Validates (PEFT import rules, against this model) and keeps an adapter's tensors. */
  addAdapter(p: EngineAdapterPayload): void {
    if (this.adapters.has(p.key)) return;
    const cfg = { peft_type: 'LORA', r: p.rank, lora_alpha: p.alpha, target_modules: p.targetModules };
    const adapter = importPeftAdapter(cfg, p.weights, this.model.config);
    this.adapters.set(p.key, adapter);
  }

  /**
   * Runs the base model with `p` alone at strength 1 on a short prompt and reports whether the
   * logits are finite. Nothing is kept: the adapter's tensors are freed before returning.
   */
  probeAdapter(p: EngineAdapterPayload): EngineProbeResult {
    const cfg = { peft_type: 'LORA', r: p.rank, lora_alpha: p.alpha, target_modules: p.targetModules };
    const adapter = importPeftAdapter(cfg, p.weights, this.model.config);
    const prompt = this.tokenizer.encode(PROBE_PROMPT);
    try {
      const lora = stackLora(this.model, [{ adapter, strength: 1 }]);
      try {
        const [row] = prefillRows(this.model, [prompt], lora);
        disposeRowPrefill(row);
        let finite = true;
        let maxAbsLogit = 0;
        for (const v of row.lastLogits) {
          if (!Number.isFinite(v)) finite = false;
          else if (Math.abs(v) > maxAbsLogit) maxAbsLogit = Math.abs(v);
        }
        return { finite, maxAbsLogit, promptTokens: prompt.length };
      } finally {
        lora.dispose();
      }
    } finally {
      for (const m of adapter.modules.values()) tf.dispose([m.a, m.b]);
    }
  }

  /** Frees adapters (after the registry changed or the cache evicted them). */
  evictAdapters(keys: readonly string[]): void {
    for (const [k, set] of [...this.speculativeSets]) {
      if (k.split('+').some((part) => keys.includes(part))) {
        set.dispose();
        this.speculativeSets.delete(k);
      }
    }
    for (const k of [...this.shared.keys()]) {
      if (keys.some((key) => k.split('+').some((part) => part.startsWith(`${key}*`)))) this.dropShared(k);
    }
    for (const key of keys) {
      const a = this.adapters.get(key);
      if (!a) continue;
      this.factors.evict(a);
      this.rowFactors.evict(a);
      for (const m of a.modules.values()) tf.dispose([m.a, m.b]);
      this.adapters.delete(key);
    }
  }

  /**
   * Generates every row of the batch at once; each row gets exactly the sum of its own plan's
   * adapters (rank stacking with per-row scales), so a row answers as it would alone.
   * `cancelled(row)` is polled at every token; when every row is cancelled the batch stops.
   */
  async generate(
    batch: EngineBatch,
    onToken?: (e: EngineTokenEvent) => void,
    cancelled?: (row: number) => boolean,
  ): Promise<EngineRowResult[]> {
    const plans: PlanEntry[][] = batch.rows.map((r) =>
      r.plan.map((e) => {
        const adapter = this.adapters.get(e.key);
        if (!adapter) throw new Error(`adapter ${e.key} is not loaded in this engine`);
        return { adapter, strength: e.strength };
      }),
    );
    const { lora, owned } = this.applicationFor(batch.rows, plans);
    const n = batch.rows.length;
    let prefilled: PrefilledState | undefined;
    try {
      prefilled = this.reusePrefills(batch.rows, plans);
      const out = await generate(
        this.model,
        this.tokenizer,
        batch.rows.map((r) => r.prompt),
        {
          maxTokens: batch.options.maxTokens,
          temperature: batch.options.temperature,
          topP: batch.options.topP,
          stop: batch.options.stop,
          seed: batch.options.seed,
          lora,
          prefilled,
          onToken: (e) => {
            if (cancelled) {
              let all = true;
              for (let r = 0; r < n && all; r++) all = cancelled(r);
              if (all) throw new BatchCancelledError();
              if (cancelled(e.row)) return;
            }
            if (onToken && batch.rows[e.row].stream !== false && (e.delta !== '' || e.done)) onToken({ row: e.row, delta: e.delta, done: e.done, finishReason: e.finishReason });
          },
        },
      );
      return out.map((r) => ({ text: r.text, finishReason: r.finishReason, promptTokens: r.promptTokens, completionTokens: r.completionTokens }));
    } finally {
      if (owned) lora?.dispose();
    }
  }

  /**
   * The batch's LoRA: a plan shared by every row (the common case: one task adapter, or gates at
   * 0/1) is stacked once and kept (owned false), and merged into the weights from its second use
   * (sharedFor); per-row plans are stacked for this batch only.
   * (The per-row BGMV path, even with its fused WASM kernel, measured no faster than stacking on
   * the demo model's short answers: rowLora option, docs/benchmarks.md.)
   */
  private applicationFor(rows: ReadonlyArray<{ plan: EngineRow['plan'] }>, plans: PlanEntry[][]): { lora?: LoraApplication; owned: boolean } {
    if (!plans.some((p) => p.length > 0)) return { owned: false };
    if (plans.every((p) => samePlan(p, plans[0]))) {
      return { lora: this.sharedFor(rows[0].plan.map((e) => `${e.key}*${e.strength}`).join('+'), plans[0]), owned: false };
    }
    if (this.rowLora && rowLoraFused()) return { lora: rowLora(this.model, plans, this.rowFactors), owned: true };
    return { lora: stackLora(this.model, plans, { cache: this.factors }), owned: true };
  }

  /**
   * Continues rows from the prefill the router's features pass already ran (DESIGN §3.2: one
   * prefill per request): the base prefill for rows without adapters, the speculative adapted one
   * for rows whose plan is the one guessed. Other rows are prefilled here with their own plans.
   * Undefined when no row has a kept prefill: generate prefills as usual.
   */
  private reusePrefills(rows: EngineRow[], plans: PlanEntry[][]): PrefilledState | undefined {
    if (this.prefills.size === 0) return undefined;
    // A row continues from the prefill kept under its own plan: the base one for a plan without
    // adapters, a speculative adapted one (features with `speculate`) when the guess was right.
    const got: Array<RowPrefill | undefined> = rows.map((r) => {
      const hit = this.prefills.take(r.prompt, planSignature(r.plan));
      if (hit) this.prefillReuse[r.plan.length > 0 ? 'adapted' : 'base']++;
      return hit;
    });
    if (got.every((g) => g === undefined)) return undefined;
    try {
      const missing = got.flatMap((g, i) => (g ? [] : [i]));
      if (missing.length > 0) {
        const { lora, owned } = this.applicationFor(
          missing.map((i) => rows[i]),
          missing.map((i) => plans[i]),
        );
        try {
          const filled = prefillRows(
            this.model,
            missing.map((i) => rows[i].prompt),
            lora,
          );
          missing.forEach((i, k) => (got[i] = filled[k]));
        } finally {
          if (owned) lora?.dispose();
        }
      }
      return joinPrefill(got as RowPrefill[]);
    } finally {
      for (const g of got) if (g) disposeRowPrefill(g);
    }
  }

  /**
   * A shared plan's application, kept by plan signature. First use: rank stacking (cheap to build,
   * a few extra products per layer and token). From the second use the plan is hot and is merged:
   * W' = W + Σ sᵢ(αᵢ/rᵢ)BᵢAᵢ per adapted module, so its requests run at the base model's cost
   * (bench:engine mergedOverhead ≈ 0). Merging costs a few ms once, so plans seen once (continuous
   * gate strengths) never pay it; merged copies are bounded in bytes (MERGED_BYTES_MAX). Merged and
   * stacked results agree to float32 rounding (the engine tests check both against float64).
   */
  private sharedFor(key: string, plan: PlanEntry[]): LoraApplication {
    let entry = this.shared.get(key);
    if (entry) {
      this.shared.delete(key); // LRU order: most recent last
      entry.uses++;
      if (this.options.mergeHotPlans === true && entry.mergedBytes === 0 && entry.uses >= MERGE_FROM_USE) {
        const bytes = mergedWeightBytes(this.model, plan);
        if (bytes <= MERGED_BYTES_MAX / 4) {
          const merged = mergeLora(this.model, plan, { cache: this.factors });
          entry.app.dispose();
          entry = { app: merged, uses: entry.uses, mergedBytes: bytes };
          this.sharedMergedBytes += bytes;
        }
      }
    } else {
      entry = { app: stackLora(this.model, plan, { cache: this.factors }), uses: 1, mergedBytes: 0 };
    }
    this.shared.set(key, entry);
    while (this.shared.size > SHARED_PLAN_CACHE_SIZE || this.sharedMergedBytes > MERGED_BYTES_MAX) {
      const oldest = this.shared.keys().next().value!;
      if (oldest === key) break; // the plan just asked for stays
      this.dropShared(oldest);
    }
    return entry.app;
  }

  private dropShared(key: string): void {
    const entry = this.shared.get(key);
    if (!entry) return;
    entry.app.dispose();
    this.sharedMergedBytes -= entry.mergedBytes;
    this.shared.delete(key);
  }

  /**
   * One base-model prefill per prompt batch: the detector features (detectorFeaturesOf: what the
   * unlearning detectors score) and the condition vector (last layer, final position) that auto
   * routing compares with task centroids; no pooling (the routing path reads final-token states).
   * `keepPrefill`: keep each prompt's prefill so its generation here continues from it.
   */
  features(prompts: number[][], options: EngineFeatureOptions = {}): EngineFeatures {
    for (const a of options.adapters ?? []) this.addAdapter(a);
    const spec = options.keepPrefill ? this.speculativeRows(prompts.length, options.speculate ?? []) : [];
    if (spec.length === 0) {
      const all = promptFeaturesAll(this.model, prompts, { keepPrefill: options.keepPrefill, pooled: false });
      all.prefill?.forEach((row, i) => this.prefills.put(prompts[i], row));
      return { last: all.last, detector: detectorFeaturesOf(all) };
    }
    // One forward pass: the base rows (their hidden states are the features; their LoRA scales are
    // 0, so they are the base model's) and the speculative rows with their plans' adapters.
    const n = prompts.length;
    const set = this.speculativeSet(spec.flatMap((s) => s.plan.map((e) => e.adapter)));
    const lora = set.rows([...prompts.map((): PlanEntry[] => []), ...spec.map((s) => s.plan)]);
    let all;
    try {
      const rows = [...prompts, ...spec.map((s) => prompts[s.row])];
      all = promptFeaturesAll(this.model, rows, { keepPrefill: true, pooled: false, lora, batchSize: rows.length });
    } finally {
      lora.dispose();
    }
    all.prefill!.forEach((row, i) => (i < n ? this.prefills.put(prompts[i], row) : this.prefills.put(prompts[spec[i - n].row], row, spec[i - n].signature)));
    const detector = detectorFeaturesOf(all).slice(0, n);
    return { last: all.last.slice(0, n), detector };
  }

  /** Speculative rows whose adapters are loaded and whose plan applies any, within SPECULATIVE_ROWS_MAX. */
  private speculativeRows(n: number, speculate: EngineSpeculation[]): Array<{ row: number; plan: PlanEntry[]; signature: string }> {
    const out: Array<{ row: number; plan: PlanEntry[]; signature: string }> = [];
    for (const s of speculate) {
      if (n + out.length >= SPECULATIVE_ROWS_MAX) break;
      if (s.row < 0 || s.row >= n || s.plan.length === 0 || !s.plan.every((e) => this.adapters.has(e.key))) continue;
      out.push({ row: s.row, plan: s.plan.map((e) => ({ adapter: this.adapters.get(e.key)!, strength: e.strength })), signature: planSignature(s.plan) });
    }
    return out;
  }

  /** The stacked set of these adapters (kept by sorted key, LRU, SPECULATIVE_SETS of them). */
  private speculativeSet(adapters: LoraAdapter[]): StackedAdapters {
    const byKey = new Map<string, LoraAdapter>();
    for (const [key, a] of this.adapters) if (adapters.includes(a)) byKey.set(key, a);
    const keys = [...byKey.keys()].sort();
    const id = keys.join('+');
    let set = this.speculativeSets.get(id);
    if (set) this.speculativeSets.delete(id);
    else set = new StackedAdapters(this.model, keys.map((k) => byKey.get(k)!), this.factors);
    this.speculativeSets.set(id, set);
    while (this.speculativeSets.size > SPECULATIVE_SETS) {
      const oldest = this.speculativeSets.keys().next().value!;
      this.speculativeSets.get(oldest)!.dispose();
      this.speculativeSets.delete(oldest);
    }
    return set;
  }

  memory(): { tensors: number; bytes: number; adapters: number } {
    const m = tf.memory();
    return { tensors: m.numTensors, bytes: m.numBytes, adapters: this.adapters.size };
  }

  dispose(): void {
    this.prefills.dispose();
    for (const set of this.speculativeSets.values()) set.dispose();
    this.speculativeSets.clear();
    for (const k of [...this.shared.keys()]) this.dropShared(k);
    this.evictAdapters([...this.adapters.keys()]);
    this.factors.dispose();
    this.rowFactors.dispose();
    this.model.dispose();
  }
}

/** Bytes of the merged copies of every module a plan adapts (float32 [dIn, dOut] each). */
function mergedWeightBytes(model: TransformerModel, plan: PlanEntry[]): number {
  const modules = new Set<string>();
  for (const e of plan) for (const name of e.adapter.modules.keys()) modules.add(name);
  let bytes = 0;
  for (const name of modules) bytes += (model.params.get(`${name}.weight`)?.size ?? 0) * 4;
  return bytes;
}

function samePlan(a: PlanEntry[], b: PlanEntry[]): boolean {
  return a.length === b.length && a.every((e, i) => e.adapter === b[i].adapter && e.strength === b[i].strength);
}

