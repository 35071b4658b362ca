/**
 * Worker-thread entry of the unlearning pipeline: loads the base model from its checkpoint folder
 * and the earlier adapters from their PEFT bytes, runs `runUnlearning`, and moves the result's
 * buffers back to the parent. Started by runUnlearningInWorker (unlearning-runner.ts).
 */
import { initBackend, type BackendName } from '../engine/backend.js';
import { ensureGradients } from '../engine/gradients.js';
import { disposeAdapter } from '../engine/lora-trainable.js';
import { importPeftAdapter } from '../engine/peft.js';
import { deserializeDetector } from '../ood/detector-codec.js';
import { serveWorkerTask } from '../engine/worker/worker-task.js';
import { loadModel } from './load-model.js';
import { runUnlearning } from './pipeline.js';
import type { UnlearningWorkerInput } from './unlearning-runner.js';
import type { UnlearningProgress, UnlearningResult } from './unlearning-types.js';

serveWorkerTask<UnlearningWorkerInput, UnlearningResult, UnlearningProgress>(async (input, ctx) => {
  await initBackend(input.backend as BackendName | undefined);
  await ensureGradients();
  const loaded = await loadModel(input.checkpointDir);
  const frozen = input.frozenAdapters.map((a) => importPeftAdapter(a.config, a.weights, loaded.model.config));
  try {
    const result = await runUnlearning(
      {
        model: loaded.model,
        tokenizer: loaded.tokenizer,
        items: input.items,
        relabel: input.relabel,
        replacement: input.replacement,
        frozenAdapters: frozen,
        frozenDetectors: input.frozenAdapters.every((a) => a.detector) ? input.frozenAdapters.map((a) => deserializeDetector(a.detector!)) : undefined,
        referencePrompts: input.referencePrompts,
        options: input.options,
        baseModelName: input.baseModelName,
      },
      { onProgress: (p) => ctx.progress(p), signal: ctx.signal },
    );
    return { value: result, transfer: [result.adapterWeights.buffer as ArrayBuffer, result.detector.buffer as ArrayBuffer] };
  } finally {
    frozen.forEach(disposeAdapter);
    loaded.dispose();
  }
});
