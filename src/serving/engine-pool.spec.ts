import { describe, expect, it } from 'vitest';
import { EnginePool } from './engine-pool.js';

describe('EnginePool', () => {
  it('gives the preferred engine when it is free, else another free one', async () => {
    const pool = new EnginePool(['a', 'b']);
    expect(await pool.take('b')).toBe('b');
    expect(await pool.take('b')).toBe('a');
  });

  it('gives an engine coming back to the oldest call that prefers it, then to calls without a preference, then to any', async () => {
    const pool = new EnginePool(['a', 'b']);
    await pool.take();
    await pool.take();
    const got: string[] = [];
    const wait = (label: string, prefer?: string) => void pool.take(prefer).then((e) => got.push(`${label}:${e}`));
    wait('first-prefers-a', 'a');
    wait('plain');
    wait('second-prefers-b', 'b');
    wait('third-prefers-a', 'a');
    pool.giveBack('b');
    pool.giveBack('b');
    pool.giveBack('b');
    pool.giveBack('a');
    await new Promise((r) => setImmediate(r));
    // b: its own waiter first, then the one without a preference, then (nobody else wants b) the oldest.
    expect(got).toEqual(['second-prefers-b:b', 'plain:b', 'first-prefers-a:b', 'third-prefers-a:a']);
  });

  it('keeps an engine given back with nobody waiting for the next call', async () => {
    const pool = new EnginePool(['a']);
    const e = await pool.take();
    pool.giveBack(e);
    expect(await pool.take('a')).toBe('a');
  });
});
