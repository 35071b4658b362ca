/** Worker entry for run-in-worker.spec.ts: echoes, reports progress, throws, waits, takes a gradient, or tells its niceness. */
import { threadNiceness } from '../thread-priority.js';
import { serveWorkerTask } from '../worker-task.js';

export type ProbeInput =
  | { mode: 'echo'; value: number[]; steps: number }
  | { mode: 'throw'; message: string }
  | { mode: 'wait' }
  | { mode: 'gradient'; x: number }
  | { mode: 'nice' };

serveWorkerTask<ProbeInput, unknown, { step: number }>(async (input, ctx) => {
  switch (input.mode) {
    case 'echo': {
      for (let step = 1; step <= input.steps; step++) ctx.progress({ step });
      const bytes = Float32Array.from(input.value);
      return { value: { sum: input.value.reduce((a, b) => a + b, 0), bytes }, transfer: [bytes.buffer] };
    }
    case 'nice':
      return { value: threadNiceness() };
    case 'throw':
      throw new RangeError(input.message);
    case 'wait':
      // Deaf to the signal on purpose: the parent must terminate the thread.
      await new Promise((resolve) => setTimeout(resolve, 60_000));
      return { value: 'late' };
    case 'gradient': {
      // A fresh thread has a fresh module graph: gradients must be registered here.
      const { ensureGradients } = await import('../../gradients.js');
      const tf = await import('@tensorflow/tfjs-core');
      await import('@tensorflow/tfjs-backend-cpu');
      await tf.setBackend('cpu');
      await ensureGradients();
      // d/dx (x³ + sin x) = 3x² + cos x
      const g = tf.grad((t: import('@tensorflow/tfjs-core').Tensor) => tf.add(tf.pow(t, 3), tf.sin(t)))(tf.scalar(input.x));
      return { value: (await g.data())[0] };
    }
  }
});
