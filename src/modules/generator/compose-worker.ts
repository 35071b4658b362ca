/**
 * The compose design inside the generator worker thread: training over labelled task adapters and
 * generation from in-context examples (the generator needs the base model for the examples' loss,
 * so generation loads it here, off the HTTP event loop).
 */
import { disposeAdapter } from '../../engine/lora-trainable.js';
import type { LoraAdapter } from '../../engine/lora-types.js';
import type { ModelConfig } from '../../engine/model-config.js';
import { exportPeftAdapter } from '../../engine/peft.js';
import { ComposeGenerator } from '../../icm/compose-generator.js';
import { deserialiseComposeGenerator, serialiseComposeGenerator } from '../../icm/compose-generator-io.js';
import { COMPOSE_GENERATION_DEFAULTS, COMPOSE_TRAIN_DEFAULTS } from '../../icm/compose-settings.js';
import { adapterBytes, adapterBytesF16, storageMetrics } from '../../icm/generator-training.js';
import type { QuantBits } from '../../icm/quantize.js';
import type { TaskExample } from '../../icm/task-suite.js';
import { loadTaskModel, taskCondition } from '../../icm/task-training.js';

/** One labelled task for compose training: its trained adapter and its parts. */
export interface ComposeWorkerSet {
  task: string;
  content: string;
  format: string;
  adapter: LoraAdapter;
}

export interface ComposeTrainMetrics {
  design: 'compose';
  /** What the file stores: every task (`tasks`, the default) or part pieces (`parts`, with residualRank). */
  store: 'parts' | 'tasks';
  tasks: string[];
  mappings: string[];
  templates: string[];
  residualPieces: number;
  rank: number;
  bits: QuantBits;
  samples: number;
  seconds: number;
  generatorBytes: number;
  /** PEFT bytes (float32) of the task adapters the pieces were fitted to. */
  checkpointBytes: number;
  storageRatio: number;
  adapterBytesF16: number;
  storageRatioF16: number;
}

/** What a compose generation inferred from the examples and how well it fits them. */
export interface ComposeGenerationInfo {
  mapping: string;
  template: string;
  /** The seen task whose own stored combination was taken, or null when a mapping × template was. */
  seenTask: string | null;
  /** Completion loss of the examples with the inferred combination, and after refinement. */
  inferredLoss: number;
  loss: number;
  settings: typeof COMPOSE_GENERATION_DEFAULTS;
}

/** Trains a compose generator over the sets' adapters (content → mapping, format → template). */
export function trainCompose(
  sets: readonly ComposeWorkerSet[],
  config: ModelConfig,
  options: { rank?: number; bits?: QuantBits; residualRank?: number },
  extra: Record<string, string>,
): { bytes: Uint8Array; metrics: ComposeTrainMetrics } {
  const started = performance.now();
  const rank = options.rank ?? COMPOSE_TRAIN_DEFAULTS.rank;
  const bits = options.bits ?? COMPOSE_TRAIN_DEFAULTS.bits;
  // residualRank asks for the part-piece store (bench:icm's earlier design); by default every task is stored.
  const store = options.residualRank === undefined ? { ...COMPOSE_TRAIN_DEFAULTS } : { store: 'parts' as const, residualRank: options.residualRank };
  const generator = ComposeGenerator.train(
    sets.map((s) => ({ task: s.task, mapping: s.content, template: s.format, adapter: s.adapter })),
    { ...store, rank, bits },
  );
  try {
    const bytes = serialiseComposeGenerator(generator, { design: 'compose', ...extra });
    const checkpointBytes = sets.reduce((n, s) => n + adapterBytes(s.adapter, config), 0);
    const f16 = sets.reduce((n, s) => n + adapterBytesF16(s.adapter, config), 0);
    return {
      bytes,
      metrics: {
        design: 'compose',
        store: generator.state.config.store ?? 'parts',
        tasks: sets.map((s) => s.task),
        mappings: generator.mappings,
        templates: generator.templates,
        residualPieces: generator.state.pieces.filter((p) => p.name.startsWith('residual:')).length,
        rank,
        bits,
        samples: sets.length,
        seconds: (performance.now() - started) / 1000,
        ...storageMetrics(bytes.byteLength, checkpointBytes, f16),
      },
    };
  } finally {
    generator.dispose();
  }
}

/**
 * A compose-generated adapter for the examples (deterministic: the seed changes nothing), with the
 * ICM condition of the examples (or the task's stored one) as routing centroid.
 */
export async function generateCompose(
  modelDir: string,
  file: Uint8Array,
  examples: readonly TaskExample[],
  storedCondition: number[] | undefined,
): Promise<{ weights: Uint8Array; condition: Float32Array; rank: number; alpha: number; targetModules: string[]; compose: ComposeGenerationInfo }> {
  if (examples.length === 0) throw new Error('the compose generator needs the task\'s in-context examples');
  const { generator } = deserialiseComposeGenerator(file);
  const { model, tokenizer } = await loadTaskModel(modelDir);
  try {
    const settings = COMPOSE_GENERATION_DEFAULTS;
    const r = await generator.generate(model, tokenizer, examples, settings);
    try {
      const condition = storedCondition ? Float32Array.from(storedCondition) : taskCondition(model, tokenizer, examples);
      return {
        weights: exportPeftAdapter(r.adapter, model.config).weights,
        condition,
        rank: r.adapter.rank,
        alpha: r.adapter.alpha,
        targetModules: r.adapter.targetModules,
        compose: { mapping: r.mapping, template: r.template, seenTask: r.seenTask ?? null, inferredLoss: r.inferredLoss, loss: r.loss, settings: { ...settings } },
      };
    } finally {
      disposeAdapter(r.adapter);
    }
  } finally {
    generator.dispose();
    model.dispose();
  }
}
