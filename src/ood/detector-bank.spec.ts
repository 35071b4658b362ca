import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DetectorBank } from './detector-bank.js';
import { fitDetector, scoreDetector, type EntityGateMode, type LayerFeatures, type OodDetector } from './detector.js';
import { entityHash, promptEntityIndex } from './entity-match.js';
import { OodRandom } from './random.js';

const NAMES = ['Liker Sheseal', 'Ana Varo', 'Tomas Quill', 'Mira Okonkwo', 'Jon Bell', 'Zeazeas'];
const LAYERS = 2;
const D = 8;

function features(rng: OodRandom, centre: number): LayerFeatures {
  return Array.from({ length: LAYERS }, () => Float32Array.from({ length: D }, (_, k) => (k === centre ? 3 : 0) + 0.4 * rng.normal()));
}

/** A detector fitted on one topic's features; entities and mode as given. */
function detector(seed: number, entities: string[], mode: EntityGateMode | undefined): OodDetector {
  const rng = new OodRandom(seed);
  const fitted = fitDetector({ features: Array.from({ length: 10 }, () => features(rng, seed % D)) }, { seed });
  return { ...fitted, ...(entities.length > 0 && { entityHashes: entities.map(entityHash), ...(mode && { entityMode: mode }) }) };
}

describe('DetectorBank', () => {
  it('gives every detector the gate scoreDetector gives it, for any mix of entities, modes and prompts', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ entities: fc.subarray(NAMES, { maxLength: 2 }), mode: fc.constantFrom<EntityGateMode | undefined>(undefined, 'only', 'and', 'or') }), { minLength: 1, maxLength: 6 }),
        fc.array(fc.record({ names: fc.subarray(NAMES, { maxLength: 2 }), lower: fc.boolean(), topic: fc.nat(D - 1), seed: fc.nat(1000) }), { minLength: 1, maxLength: 5 }),
        (specs, prompts) => {
          const dets = specs.map((s, k) => ({ id: `a${k}`, detector: detector(k + 1, s.entities, s.mode) }));
          const bank = new DetectorBank(dets);
          for (const p of prompts) {
            const text = `What did ${p.names.join(' and ') || 'the author'} write?`;
            const index = promptEntityIndex(p.lower ? text.toLowerCase() : text);
            const f = features(new OodRandom(p.seed), p.topic);
            const got = bank.score(f, index);
            expect([...got.keys()]).toEqual(dets.map((d) => d.id));
            for (const d of dets) {
              const want = scoreDetector(d.detector, f, index);
              const g = got.get(d.id)!;
              expect(g.w).toBe(want.w);
              expect(g.entity).toBe(want.entity);
              // z is reported whenever the gate read the features, and then it is the same z.
              if (g.z !== undefined) expect(g.z).toBe(want.z);
            }
          }
        },
      ),
      { numRuns: 60, seed: 11 },
    );
  });

  it('scores the features only for detectors whose gate depends on them', () => {
    const only = { id: 'only', detector: detector(1, ['Ana Varo'], 'only') };
    const plain = { id: 'plain', detector: detector(2, [], undefined) };
    const and = { id: 'and', detector: detector(3, ['Jon Bell'], 'and') };
    const got = new DetectorBank([only, plain, and]).score(features(new OodRandom(5), 1), promptEntityIndex('Where was Ana Varo born?'));
    expect(got.get('only')).toEqual({ entity: true, w: expect.any(Number) });
    expect(got.get('plain')!.z).toEqual(expect.any(Number));
    expect(got.get('and')).toEqual({ entity: false, w: expect.any(Number) });
  });

  it('drops a revoked entry and leaves the others unchanged; a detector that cannot score is reported and left out', () => {
    const a = { id: 'a', detector: detector(1, ['Ana Varo'], 'only') };
    const b = { id: 'b', detector: detector(2, [], undefined) };
    const broken = { id: 'broken', detector: { ...detector(3, [], undefined), dims: [D + 1, D + 1] } };
    const bank = new DetectorBank([a, b, broken]);
    const f = features(new OodRandom(9), 2);
    const index = promptEntityIndex('Ana Varo wrote what?');
    const errors: string[] = [];
    const before = bank.score(f, index, (id) => errors.push(id));
    expect(errors).toEqual(['broken']);
    expect([...before.keys()]).toEqual(['a', 'b']);
    const after = bank.without('a').score(f, index);
    expect([...after.keys()]).toEqual(['b']);
    expect(after.get('b')).toEqual(before.get('b'));
    expect(bank.without('a').size).toBe(2);
  });
});
