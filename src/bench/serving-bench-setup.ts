/**
 * Setup of the serving benchmark: the request mix (forget-set questions, retained questions, task
 * prompts from the demo world), the 5 gated unlearning adapters (detectors fitted on their forget
 * groups), the task adapter (its centroid = condition vector of the task prompts, so auto routing
 * picks it), and many registered task adapters for the throughput runs.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import type { ModelConfig } from '../engine/model-config.js';
import { AdapterRegistryService } from '../modules/adapters/adapter-registry.service.js';
import type { AdapterEntity } from '../modules/adapters/adapter.entity.js';
import { ModelHost } from '../modules/inference/model-host.service.js';
import { registerGatedAdapter } from '../modules/inference/testing/gated-adapter.fixture.js';
import { randomPeftFiles } from '../serving/testing/model-fixture.js';

/** Adapter shapes of the benchmark (unlearning and task adapters alike): rank 8 on q and v. */
export const BENCH_RANK = 8;
export const BENCH_TARGETS: Record<ModelConfig['family'], string[]> = { llama: ['q_proj', 'v_proj'], gpt2: ['c_attn'] };

export type RequestKind = 'forget' | 'retained' | 'task';

export interface BenchRequest {
  kind: RequestKind;
  prompt: string;
}

export interface BenchWorld {
  /** 5 disjoint groups of forget prompts (one per unlearning adapter). */
  forgetGroups: string[][];
  retained: string[];
  task: string[];
}

interface WorldItem {
  split: string;
  authorId?: number;
  prompt: string;
}

/** Prompts from `<modelDir>/world.json` (the demo world), or a small synthetic set without it. */
export function loadBenchWorld(modelDir: string): BenchWorld {
  const path = join(modelDir, 'world.json');
  if (!existsSync(path)) {
    const q = (a: number, f: string) => `Question: What is the ${f} of author ${a}?\nAnswer:`;
    const facts = ['birthplace', 'genre', 'award', 'first book'];
    return {
      forgetGroups: [0, 1, 2, 3, 4].map((g) => facts.map((f) => q(g, f))),
      retained: [10, 11, 12, 13].flatMap((a) => facts.map((f) => q(a, f))),
      task: ['Translate to French: good morning', 'Translate to French: thank you', 'Translate to French: the book', 'Translate to French: my friend'],
    };
  }
  const items = (JSON.parse(readFileSync(path, 'utf8')) as { items: WorldItem[] }).items;
  const trained = items.filter((i) => i.split === 'trained');
  const byAuthor = new Map<number, string[]>();
  for (const i of trained) byAuthor.set(i.authorId!, [...(byAuthor.get(i.authorId!) ?? []), i.prompt]);
  const authors = [...byAuthor.keys()].sort((a, b) => a - b);
  // Requests t = 1..5 forget disjoint pairs of authors (DESIGN §8).
  const forgetGroups = [0, 1, 2, 3, 4].map((g) => [...byAuthor.get(authors[2 * g])!, ...byAuthor.get(authors[2 * g + 1])!]);
  const retained = authors.slice(20, 40).flatMap((a) => byAuthor.get(a)!.slice(0, 3));
  const task = items.filter((i) => i.split === 'utility').map((i) => i.prompt);
  return { forgetGroups, retained, task };
}

/** `n` requests, a third each of forget, retained and task prompts, interleaved, deterministic. */
export function requestMix(world: BenchWorld, n: number): BenchRequest[] {
  const forget = world.forgetGroups.flatMap((g, gi) => g.filter((_, i) => i % 5 === gi % 5).concat(g.filter((_, i) => i % 5 !== gi % 5)));
  const out: BenchRequest[] = [];
  for (let i = 0; out.length < n; i++) {
    const kind: RequestKind = (['forget', 'retained', 'task'] as const)[i % 3];
    const pool = kind === 'forget' ? forget : kind === 'retained' ? world.retained : world.task;
    out.push({ kind, prompt: pool[Math.floor(i / 3) % pool.length] });
  }
  return out;
}

/** Registers the 5 gated unlearning adapters and the task adapter (active). */
export async function registerRoutedAdapters(app: INestApplication, world: BenchWorld): Promise<{ unlearning: AdapterEntity[]; task: AdapterEntity }> {
  const host = app.get(ModelHost);
  const config = host.modelConfig!;
  const targets = BENCH_TARGETS[config.family];
  const unlearning: AdapterEntity[] = [];
  for (const [g, prompts] of world.forgetGroups.entries()) {
    const files = randomPeftFiles(config, 100 + g, BENCH_RANK, 2 * BENCH_RANK, 0.02, targets);
    unlearning.push(await registerGatedAdapter(app, { name: `forget-group-${g + 1}`, files, forgetPrompts: prompts.slice(0, 40) }));
  }
  const { last } = await host.promptFeatures(world.task.slice(0, 32).map((p) => host.tokenizer!.encode(p)));
  const centroid = new Array<number>(last[0].length).fill(0);
  for (const v of last) for (let i = 0; i < v.length; i++) centroid[i] += v[i] / last.length;
  const registry = app.get(AdapterRegistryService);
  const files = randomPeftFiles(config, 200, BENCH_RANK, 2 * BENCH_RANK, 0.02, targets);
  const task = await registry.create(
    { name: 'utility-task', kind: 'task', baseModel: host.modelId, rank: BENCH_RANK, alpha: 2 * BENCH_RANK, targetModules: targets, weights: files.weights, lineage: { centroid } },
    'system',
  );
  return { unlearning, task: await registry.activate(task.id, 'system') };
}

/** Registers (and activates) task adapters `from..to-1` named `many-<i>`. */
export async function registerManyAdapters(app: INestApplication, from: number, to: number): Promise<AdapterEntity[]> {
  const host = app.get(ModelHost);
  const registry = app.get(AdapterRegistryService);
  const targets = BENCH_TARGETS[host.modelConfig!.family];
  const out: AdapterEntity[] = [];
  for (let i = from; i < to; i++) {
    const files = randomPeftFiles(host.modelConfig!, 1000 + i, BENCH_RANK, 2 * BENCH_RANK, 0.02, targets);
    const row = await registry.create(
      { name: `many-${i}`, kind: 'task', baseModel: host.modelId, rank: BENCH_RANK, alpha: 2 * BENCH_RANK, targetModules: targets, weights: files.weights, status: 'active' },
      'system',
    );
    out.push(row);
  }
  return out;
}
