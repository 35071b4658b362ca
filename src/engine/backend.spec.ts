import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { initBackend } from './backend.js';

describe('initBackend', () => {
  it('starts the first backend that loads and records why earlier ones were skipped', async () => {
    const sut = await initBackend();
    expect(tf.getBackend()).toBe(sut.name === 'tensorflow-gpu' ? 'tensorflow' : sut.name);
    // Every backend before the chosen one in the order must have a recorded reason.
    const order = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];
    expect(sut.skipped.map((s) => s.name)).toEqual(order.slice(0, order.indexOf(sut.name)));
    expect(tf.add(tf.tensor1d([1, 2]), tf.tensor1d([3, 4])).arraySync()).toEqual([4, 6]);
  });
});
