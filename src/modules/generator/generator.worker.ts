/**
 * Worker-thread entry of the generator: `train` fits a generator over task checkpoint sets (PEFT
 * bytes in, serialised generator out): the basis generator (task vectors computed here from each
 * task's in-context examples), the ICM-LoRA CVAE (the tasks' stored conditions) or the compose
 * generator (each labelled task's final adapter and its parts); `generate` produces an adapter from a
 * task's examples (basis, compose) or condition (CVAE) and returns the routing centroid (the ICM
 * condition) beside the condition the generator used. Off the HTTP event loop.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, type BackendName } from '../../engine/backend.js';
import { disposeAdapter } from '../../engine/lora-trainable.js';
import { parseModelConfig, type ModelConfig } from '../../engine/model-config.js';
import { exportPeftAdapter, importPeftAdapter } from '../../engine/peft.js';
import { serveWorkerTask } from '../../engine/worker/worker-task.js';
import { BasisGenerator } from '../../icm/basis-generator.js';
import { deserialiseBasisGenerator, isBasisGeneratorFile, serialiseBasisGenerator } from '../../icm/basis-generator-io.js';
import { deserialiseGenerator } from '../../icm/generator-io.js';
import { adapterBytes, adapterBytesF16, storageMetrics, trainTaskGenerator, type GeneratorMetrics, type TaskCheckpointSet } from '../../icm/generator-training.js';
import { taskVector } from '../../icm/task-vector.js';
import type { TaskExample } from '../../icm/task-suite.js';
import { loadTaskModel, taskCondition } from '../../icm/task-training.js';
import { isComposeGeneratorFile } from './compose-file.js';
import { generateCompose, trainCompose, type ComposeGenerationInfo, type ComposeTrainMetrics } from './compose-worker.js';

export interface PeftShape {
  rank: number;
  alpha: number;
  targetModules: string[];
}

export type GeneratorWorkerInput =
  | {
      mode: 'train';
      modelDir: string;
      backend?: BackendName;
      /** compose: `checkpoints` holds the task's final adapter only, `parts` its labels. */
      sets: { task: string; condition: number[]; examples: TaskExample[]; peft: PeftShape; checkpoints: Uint8Array[]; parts?: { content: string; format: string } }[];
      design: 'basis' | 'cvae' | 'compose';
      epochs: number;
      seed: number;
      architecture: { latentDim?: number; width?: number; basisRank?: number };
      basis: { rank?: number; bits?: 'nf4' | 4 | 8 | 16 };
      compose?: { rank?: number; bits?: 'nf4' | 4 | 8 | 16; residualRank?: number };
      extra: Record<string, string>;
    }
  | {
      mode: 'generate';
      modelDir: string;
      backend?: BackendName;
      generator: Uint8Array;
      /** The task's stored condition (the CVAE's input and the routing centroid), and/or in-context examples (the basis generator's input). */
      condition?: number[];
      examples?: TaskExample[];
      seed: number;
    };

export type GeneratorWorkerOutput =
  | { mode: 'train'; bytes: Uint8Array; metrics: (GeneratorMetrics & { design: 'basis' | 'cvae'; adapterBytesF16?: number; storageRatioF16?: number }) | ComposeTrainMetrics }
  | {
      mode: 'generate';
      weights: Uint8Array;
      condition: Float32Array;
      centroid: Float32Array;
      design: 'basis' | 'cvae' | 'compose';
      rank: number;
      alpha: number;
      targetModules: string[];
      /** compose: what was inferred from the examples and the examples' loss. */
      compose?: ComposeGenerationInfo;
    };

export interface GeneratorWorkerProgress {
  epoch: number;
  epochs: number;
  loss: number;
}

async function modelConfig(dir: string): Promise<ModelConfig> {
  return parseModelConfig(JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>);
}

serveWorkerTask<GeneratorWorkerInput, GeneratorWorkerOutput, GeneratorWorkerProgress>(async (input, ctx) => {
  await initBackend(input.backend);
  if (input.mode === 'train') {
    const config = await modelConfig(input.modelDir);
    const sets: TaskCheckpointSet[] = input.sets.map((s) => ({
      task: s.task,
      condition: Float32Array.from(s.condition),
      checkpoints: s.checkpoints.map((bytes) =>
        importPeftAdapter({ peft_type: 'LORA', r: s.peft.rank, lora_alpha: s.peft.alpha, target_modules: s.peft.targetModules }, bytes, config),
      ),
    }));
    try {
      if (input.design === 'compose') {
        const labelled = input.sets.map((s, i) => {
          if (!s.parts) throw new Error(`task ${s.task} has no part labels`);
          return { task: s.task, content: s.parts.content, format: s.parts.format, adapter: sets[i].checkpoints.at(-1)! };
        });
        return { value: { mode: 'train', ...trainCompose(labelled, config, input.compose ?? {}, input.extra) } };
      }
      if (input.design === 'basis') return { value: { mode: 'train', ...(await trainBasis(input, sets, config)) } };
      const r = await trainTaskGenerator(sets, config, {
        epochs: input.epochs,
        seed: input.seed,
        architecture: input.architecture,
        extra: input.extra,
        signal: ctx.signal,
        onProgress: (p) => ctx.progress({ epoch: p.epoch, epochs: p.epochs, loss: p.loss }),
      });
      r.generator.dispose();
      return { value: { mode: 'train', bytes: r.bytes, metrics: { ...r.metrics, design: 'cvae' } } };
    } finally {
      for (const s of sets) s.checkpoints.forEach(disposeAdapter);
    }
  }
  if (isBasisGeneratorFile(input.generator)) return { value: await generateBasis(input) };
  if (isComposeGeneratorFile(input.generator)) {
    const out = await generateCompose(input.modelDir, input.generator, input.examples ?? [], input.condition);
    return { value: { mode: 'generate', ...out, centroid: out.condition, design: 'compose' } };
  }
  const { generator } = deserialiseGenerator(input.generator);
  try {
    let condition: Float32Array;
    let config: ModelConfig;
    if (input.condition) {
      condition = Float32Array.from(input.condition);
      config = await modelConfig(input.modelDir);
    } else {
      const { model, tokenizer } = await loadTaskModel(input.modelDir);
      condition = taskCondition(model, tokenizer, input.examples ?? []);
      config = model.config;
      model.dispose();
    }
    const adapter = generator.generate(condition, input.seed);
    try {
      const weights = exportPeftAdapter(adapter, config).weights;
      return {
        value: { mode: 'generate', weights, condition, centroid: condition, design: 'cvae', rank: adapter.rank, alpha: adapter.alpha, targetModules: adapter.targetModules },
      };
    } finally {
      disposeAdapter(adapter);
    }
  } finally {
    generator.dispose();
  }
});

type TrainInput = Extract<GeneratorWorkerInput, { mode: 'train' }>;
type GenerateInput = Extract<GeneratorWorkerInput, { mode: 'generate' }>;

/** The basis generator over the sets: task vectors from each task's in-context examples. */
async function trainBasis(input: TrainInput, sets: TaskCheckpointSet[], config: ModelConfig): Promise<Omit<Extract<GeneratorWorkerOutput, { mode: 'train' }>, 'mode'>> {
  const started = performance.now();
  const { model, tokenizer } = await loadTaskModel(input.modelDir);
  let vectors: Float32Array[];
  try {
    vectors = input.sets.map((s) => taskVector(model, tokenizer, s.examples));
  } finally {
    model.dispose();
  }
  const generator = BasisGenerator.train(
    sets.map((s, i) => ({ task: s.task, condition: vectors[i], checkpoints: s.checkpoints })),
    { rank: input.basis.rank, bits: input.basis.bits },
  );
  const bytes = serialiseBasisGenerator(generator, input.extra);
  const checkpointBytes = sets.reduce((n, s) => n + s.checkpoints.reduce((m, c) => m + adapterBytes(c, config), 0), 0);
  // One float16 adapter per task (its last checkpoint): what storing the tasks' adapters costs.
  const f16 = sets.reduce((n, s) => n + adapterBytesF16(s.checkpoints.at(-1)!, config), 0);
  const samples = sets.reduce((n, s) => n + s.checkpoints.length, 0);
  return {
    bytes,
    metrics: {
      design: 'basis',
      tasks: sets.map((s) => s.task),
      samples,
      epochs: 0,
      firstLoss: NaN,
      finalLoss: NaN,
      finalMse: NaN,
      finalKl: NaN,
      seconds: (performance.now() - started) / 1000,
      ...storageMetrics(bytes.byteLength, checkpointBytes, f16),
    },
  };
}

/** A basis-generated adapter: the task vector of the examples, the routing centroid from the stored condition or the examples. */
async function generateBasis(input: GenerateInput): Promise<GeneratorWorkerOutput> {
  const { generator } = deserialiseBasisGenerator(input.generator);
  if (!input.examples || input.examples.length === 0) throw new Error('the basis generator needs the task\'s in-context examples');
  const { model, tokenizer } = await loadTaskModel(input.modelDir);
  try {
    const condition = taskVector(model, tokenizer, input.examples);
    const centroid = input.condition ? Float32Array.from(input.condition) : taskCondition(model, tokenizer, input.examples);
    const adapter = generator.generate(condition, input.seed);
    try {
      const weights = exportPeftAdapter(adapter, model.config).weights;
      return { mode: 'generate', weights, condition, centroid, design: 'basis', rank: adapter.rank, alpha: adapter.alpha, targetModules: adapter.targetModules };
    } finally {
      disposeAdapter(adapter);
    }
  } finally {
    model.dispose();
  }
}
