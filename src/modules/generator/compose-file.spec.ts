import { createHash, randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../engine/backend.js';
import type { LoraAdapter } from '../../engine/lora-types.js';
import { BasisGenerator } from '../../icm/basis-generator.js';
import { serialiseBasisGenerator } from '../../icm/basis-generator-io.js';
import { ComposeGenerator } from '../../icm/compose-generator.js';
import { serialiseComposeGenerator } from '../../icm/compose-generator-io.js';
import { AdapterFactory } from '../../icm/testing/adapter.factory.js';
import { isComposeGeneratorFile, modelKeyOf, readComposeFileInfo } from './compose-file.js';

await initBackend('cpu');

const owned: LoraAdapter[] = [];
afterAll(() => owned.forEach(AdapterFactory.dispose));
const adapter = (seed: number) => {
  const a = AdapterFactory.create({ seed });
  owned.push(a);
  return a;
};
// Six labelled tasks: 3 mappings × 2 templates, one combination (m2/t1) held out.
const SETS = [
  ['m0', 't0'], ['m0', 't1'], ['m1', 't0'], ['m1', 't1'], ['m2', 't0'],
].map(([mapping, template], i) => ({ task: `${mapping}/${template}`, mapping, template, adapter: adapter(i + 1) }));

describe('compose generator files', () => {
  it('reads the parts, seen tasks and caller metadata from the header of a file it wrote', () => {
    const sut = ComposeGenerator.train(SETS, { rank: 2, bits: 4, residualRank: 2 });
    const file = serialiseComposeGenerator(sut, { design: 'compose', modelKey: '0123456789abcdef' });
    sut.dispose();
    expect(isComposeGeneratorFile(file)).toBe(true);
    const info = readComposeFileInfo(file);
    expect(info).toEqual({
      mappings: ['m0', 'm1', 'm2'],
      templates: ['t0', 't1'],
      tasks: SETS.map((s) => s.task),
      store: 'parts',
      residualPieces: 2,
      rank: 2,
      bits: 4,
      extra: { design: 'compose', modelKey: '0123456789abcdef' },
    });
  });

  it('reads the parts of a tasks-store file from its seen tasks (it stores tasks, not part pieces)', () => {
    const sut = ComposeGenerator.train(SETS, { rank: 2, bits: 4, store: 'tasks' });
    const info = readComposeFileInfo(serialiseComposeGenerator(sut, { design: 'compose' }));
    sut.dispose();
    expect(info.mappings).toEqual(['m0', 'm1', 'm2']);
    expect(info.templates).toEqual(['t0', 't1']);
    expect(info.tasks).toEqual(SETS.map((s) => s.task));
    expect(info.store).toBe('tasks');
    expect(info.residualPieces).toBe(0);
  });

  it('refuses other files: a basis generator, random bytes', () => {
    const basis = BasisGenerator.train(SETS.slice(0, 3).map((s, i) => ({ task: s.task, condition: Float32Array.from([i, 1, 0]), checkpoints: [s.adapter] })), { rank: 2 });
    const basisFile = serialiseBasisGenerator(basis, {});
    expect(isComposeGeneratorFile(basisFile)).toBe(false);
    expect(() => readComposeFileInfo(basisFile)).toThrow(/not a Lethe compose generator/);
    const noise = randomBytes(300);
    expect(isComposeGeneratorFile(noise)).toBe(false);
    expect(() => readComposeFileInfo(noise)).toThrow();
  });

  it('keys a model by the first 16 hex digits of sha256 of its weights, as bench:icm writes it', () => {
    const weights = randomBytes(1000);
    expect(modelKeyOf(weights)).toBe(createHash('sha256').update(weights).digest('hex').slice(0, 16));
    expect(modelKeyOf(weights)).not.toBe(modelKeyOf(randomBytes(1000)));
  });
});
