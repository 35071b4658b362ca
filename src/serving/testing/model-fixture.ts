/**
 * Test fixtures for the inference module: a small seeded random LLaMA checkpoint that uses the demo
 * tokenizer (models/demo/tokenizer.json), written to a temp folder, and random PEFT adapters for it.
 * Tests use models/demo itself once its weights exist (`demoModelAvailable()`).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../engine/backend.js';
import { saveCheckpoint } from '../../engine/checkpoint.js';
import { targetLinearModules } from '../../engine/lora.js';
import type { ModelConfig } from '../../engine/model-config.js';
import { exportPeftAdapter, type PeftFiles } from '../../engine/peft.js';
import { randomCheckpoint } from '../../engine/testing/random-checkpoint.js';
import { gaussian, seededRandom } from '../../engine/transformer-weights.js';

export const DEMO_MODEL_DIR = resolve('models/demo');

/** True once the demo model's weights are committed. */
export function demoModelAvailable(): boolean {
  return existsSync(join(DEMO_MODEL_DIR, 'config.json')) && existsSync(join(DEMO_MODEL_DIR, 'model.safetensors'));
}

export interface ModelFixture {
  dir: string;
  config: ModelConfig;
  dispose(): Promise<void>;
}

/** A random LLaMA (d 32, 2 layers, 128 positions) with the demo tokenizer, saved to a temp folder. */
export async function createModelFixture(seed = 7): Promise<ModelFixture> {
  await initBackend();
  const tokenizerJson = JSON.parse(await readFile(join(DEMO_MODEL_DIR, 'tokenizer.json'), 'utf8')) as Record<string, unknown>;
  const tokenizerConfig = JSON.parse(await readFile(join(DEMO_MODEL_DIR, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
  const model = tokenizerJson.model as { vocab: Record<string, number> };
  const added = (tokenizerJson.added_tokens as Array<{ id: number; content: string }>) ?? [];
  const vocabSize = Math.max(...Object.values(model.vocab), ...added.map((t) => t.id)) + 1;
  const eos = added.find((t) => t.content === '<|endoftext|>')?.id;
  const ckpt = randomCheckpoint('llama', { vocabSize, dModel: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, dFf: 48, maxPositions: 128, eosTokenId: eos }, seed);
  const dir = await mkdtemp(join(tmpdir(), 'lethe-model-'));
  await saveCheckpoint(dir, { config: ckpt.config, weights: ckpt.weights, tokenizerJson, tokenizerConfig });
  tf.dispose([...ckpt.weights.values()]);
  return { dir, config: ckpt.modelConfig, dispose: () => rm(dir, { recursive: true, force: true }) };
}

/** Random PEFT files for `config` (default: every projection; B non-zero so the adapter matters). */
export function randomPeftFiles(config: ModelConfig, seed: number, rank = 4, alpha = 8, std = 0.5, targets?: readonly string[]): PeftFiles {
  const rand = seededRandom(seed);
  const modules = new Map<string, { a: tf.Tensor2D; b: tf.Tensor2D }>();
  const linear = targetLinearModules(config, targets);
  for (const m of linear) {
    modules.set(m.name, {
      a: tf.tensor2d(gaussian(rand, rank * m.dIn, std), [rank, m.dIn]),
      b: tf.tensor2d(gaussian(rand, m.dOut * rank, std), [m.dOut, rank]),
    });
  }
  const targetModules = [...new Set(linear.map((m) => m.short))];
  try {
    return exportPeftAdapter({ rank, alpha, targetModules, modules }, config);
  } finally {
    for (const m of modules.values()) tf.dispose([m.a, m.b]);
  }
}
