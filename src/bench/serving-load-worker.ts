/**
 * Entry of the load generator's worker thread (serving-load.ts starts it): runs one load plan per
 * message with the keep-alive client and posts back every request's record.
 */
import { parentPort } from 'node:worker_threads';
import { keepAliveAgent, streamCompletion, type LoadRecord } from './serving-http-client.js';
import type { LoadPlan, LoadResult } from './serving-load.js';

const port = parentPort;
if (!port) throw new Error('serving-load-worker.ts must run in a worker thread');

port.on('message', (plan: LoadPlan) => {
  run(plan).then(
    (r) => port.postMessage(r),
    (e: Error) => port.postMessage({ records: [], blockWallMs: [], error: e.message } satisfies LoadResult),
  );
});

async function run(plan: LoadPlan): Promise<LoadResult> {
  const records: LoadRecord[] = [];
  const blockWallMs: number[] = [];
  const runStart = performance.now();
  if (plan.kind === 'closed') {
    const agent = keepAliveAgent(Math.max(...plan.blocks.map((b) => b.clients)));
    try {
      for (const block of plan.blocks) {
        const t = performance.now();
        let next = 0;
        await Promise.all(
          Array.from({ length: block.clients }, async () => {
            while (next < block.requests.length) {
              const r = block.requests[next++];
              records.push(await streamCompletion(agent, r, runStart));
            }
          }),
        );
        blockWallMs.push(performance.now() - t);
      }
    } finally {
      agent.destroy();
    }
    return { records, blockWallMs };
  }
  // Open loop: request i leaves at arrivalsMs[i] whatever the earlier ones are doing.
  const agent = keepAliveAgent(1024);
  try {
    const pending: Array<Promise<void>> = [];
    for (const [i, r] of plan.requests.entries()) {
      const wait = plan.arrivalsMs[i] - (performance.now() - runStart);
      if (wait > 0.5) await new Promise((res) => setTimeout(res, wait));
      pending.push(streamCompletion(agent, r, runStart).then((rec) => void records.push(rec)));
    }
    await Promise.all(pending);
    blockWallMs.push(performance.now() - runStart);
  } finally {
    agent.destroy();
  }
  return { records, blockWallMs };
}
