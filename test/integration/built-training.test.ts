/**
 * Training from the built output under plain Node: src/engine is compiled with the build's SWC
 * settings (.swcrc, the file nest-cli.json's SWC builder reads) into test-artifacts/, and
 * `node <out>/src/engine/testing/train-smoke.js` trains a LoRA for a few steps. Vitest and tsx load
 * tfjs differently from `node dist/...`, and gradient registration once worked only under them.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');

describe('LoRA training from the built output (node, no loader)', () => {
  let out = '';
  afterAll(async () => {
    if (out) await rm(out, { recursive: true, force: true });
  });

  it('compiles src/engine and trains: every step lowers the loss', async () => {
    // Inside the repository, so Node resolves node_modules for the compiled files.
    await mkdir(join(ROOT, 'test-artifacts'), { recursive: true });
    out = await mkdtemp(join(ROOT, 'test-artifacts', 'built-training-'));
    await run(join(ROOT, 'node_modules/.bin/swc'), ['src/engine', '-d', out, '--quiet'], { cwd: ROOT });
    const { stdout } = await run(process.execPath, [join(out, 'src/engine/testing/train-smoke.js')], {
      cwd: ROOT,
      env: { ...process.env, LETHE_BACKEND: 'wasm' },
    });
    const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as { backend: string; losses: number[] };
    expect(result.backend).toBe('wasm');
    expect(result.losses).toHaveLength(8);
    for (let i = 1; i < result.losses.length; i++) expect(result.losses[i]).toBeLessThan(result.losses[i - 1]);
    expect(result.losses.at(-1)!).toBeLessThan(0.6 * result.losses[0]);
  });
});
