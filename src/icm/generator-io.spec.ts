import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../engine/backend.js';
import { parseSafetensors, serializeSafetensors } from '../engine/safetensors.js';
import { cvaeParameterCount } from './cvae.js';
import { AdapterGenerator } from './generator.js';
import { deserialiseGenerator, serialiseGenerator } from './generator-io.js';
import { AdapterFactory } from './testing/adapter.factory.js';
import { toyTaskSet } from './testing/task-checkpoints.factory.js';

describe('generator serialisation', () => {
  beforeAll(async () => {
    await initBackend();
  });

  it('round-trips weights, running stats, normalisation stats, architecture and metadata', async () => {
    const set = toyTaskSet({ tasks: 2, checkpoints: 3, dModel: 16, layers: 2 });
    const sut = await AdapterGenerator.train(set.samples, { seed: 9, epochs: 3, batchSize: 3 });
    const bytes = serialiseGenerator(sut, { version: 'gen-7' });
    const { generator: back, extra } = deserialiseGenerator(bytes);
    expect(extra).toEqual({ version: 'gen-7' });
    expect(back.model.config).toEqual(sut.model.config);
    expect(back.state.layout).toEqual(sut.state.layout);
    expect(back.state.stats).toEqual(sut.state.stats);
    expect(back.state.history).toEqual(sut.state.history);
    expect([back.state.residualScale, back.state.condScale, back.state.samples, back.state.seed]).toEqual([
      sut.state.residualScale, sut.state.condScale, sut.state.samples, sut.state.seed,
    ]);
    expect(back.state.centre).toEqual(sut.state.centre);
    expect(back.model.toTensors()).toEqual(sut.model.toTensors());
    // Same bytes out, same adapters out.
    expect(Buffer.from(serialiseGenerator(back, extra)).equals(Buffer.from(bytes))).toBe(true);
    for (const seed of [1, 2]) expect(back.generateFlat(set.conditions[1], seed)).toEqual(sut.generateFlat(set.conditions[1], seed));
    // Size: F32 network + F16 output basis + F16 centre + header.
    const basis = (sut.model.config.basisRank ?? 0) * sut.model.config.inputLength;
    expect(basis).toBeGreaterThan(0);
    const payload = (cvaeParameterCount(sut.model.config) - basis) * 4 + basis * 2 + sut.state.centre.length * 2 + sut.state.condMean.length * 4;
    expect(bytes.length).toBeGreaterThan(payload);
    expect(bytes.length).toBeLessThan(payload + 16_384);
    sut.dispose();
    back.dispose();
    for (const s of set.samples) AdapterFactory.dispose(s.adapter);
  }, 60_000);

  it('rejects foreign files, newer versions and missing tensors', async () => {
    expect(() => deserialiseGenerator(serializeSafetensors({ x: { shape: [1], data: new Float32Array(1) } }))).toThrow(/not a Lethe ICM generator/);
    const set = toyTaskSet({ tasks: 2, checkpoints: 1, dModel: 8, layers: 1 });
    const sut = await AdapterGenerator.train(set.samples, { epochs: 1 });
    const file = parseSafetensors(serialiseGenerator(sut));
    expect(file.tensors.get('cvae.basis.w')?.dtype).toBe('F16');
    const newer = serializeSafetensors(file.tensors, { ...file.metadata, formatVersion: '3' });
    expect(() => deserialiseGenerator(newer)).toThrow(/version 3 is not supported/);
    file.tensors.delete('cvae.mu.w');
    expect(() => deserialiseGenerator(serializeSafetensors(file.tensors, file.metadata))).toThrow(/cvae\.mu\.w/);
    sut.dispose();
  });
});
