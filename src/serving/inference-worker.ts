/**
 * Entry point of an inference worker thread: loads the model once, then serves messages
 * (engine-protocol.ts) one at a time, so the HTTP event loop never runs tensor code.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { niceThisThread, threadNiceness } from '../engine/worker/thread-priority.js';
import type { FromWorker, ToWorker, WorkerInit } from './engine-protocol.js';
import { BatchCancelledError, InferenceEngine } from './inference-engine.js';

const port = parentPort;
if (!port) throw new Error('inference-worker.ts must run in a worker thread');
const init = (workerData as { init: WorkerInit }).init;
const send = (m: FromWorker) => port.postMessage(m);

niceThisThread(init.nice ?? 0);
let engine: InferenceEngine;
try {
  engine = await InferenceEngine.load(init.modelDir, init.backend, init.options);
  send({ type: 'ready', info: engine.info, nice: threadNiceness() });
} catch (e) {
  send({ type: 'boot-error', message: (e as Error).message });
  throw e;
}

// Messages are handled in order; a generate awaits its tensors, so chain them.
let chain: Promise<void> = Promise.resolve();
port.on('message', (m: ToWorker) => {
  chain = chain.then(() => handle(m)).catch(() => undefined);
});

async function handle(m: ToWorker): Promise<void> {
  switch (m.type) {
    case 'evict':
      engine.evictAdapters(m.keys);
      return;
    case 'memory':
      send({ type: 'memory', id: m.id, memory: engine.memory() });
      return;
    case 'features':
      try {
        send({ type: 'features', id: m.id, features: engine.features(m.prompts, { keepPrefill: m.keepPrefill, speculate: m.speculate, adapters: m.adapters }) });
      } catch (e) {
        send({ type: 'error', id: m.id, message: (e as Error).message, cancelled: false });
      }
      return;
    case 'probe':
      try {
        send({ type: 'probe', id: m.id, probe: engine.probeAdapter(m.adapter) });
      } catch (e) {
        send({ type: 'error', id: m.id, message: (e as Error).message, cancelled: false });
      }
      return;
    case 'generate': {
      const flags = new Int32Array(m.cancel);
      try {
        for (const a of m.adapters) engine.addAdapter(a);
        const results = await engine.generate(
          m.batch,
          (event) => send({ type: 'token', id: m.id, event }),
          (row) => Atomics.load(flags, row) !== 0,
        );
        send({ type: 'result', id: m.id, results });
      } catch (e) {
        send({ type: 'error', id: m.id, message: (e as Error).message, cancelled: e instanceof BatchCancelledError });
      }
      return;
    }
  }
}
