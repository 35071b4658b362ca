import type { DataSource } from 'typeorm';
import { describe, expect, it } from 'vitest';
import type { RoutingPlan } from '../../routing/routing-types.js';
import { RoutingDecisionRepository, type NewRoutingDecision } from './routing-decision.repository.js';

/** A DataSource whose INSERTs wait until released, recording each statement's row count. */
function fakeDataSource() {
  const inserts: number[] = [];
  const waiting: Array<() => void> = [];
  let fail = false;
  const ds = {
    query: async (sql: string, params: unknown[]) => {
      if (sql.startsWith('INSERT')) {
        await new Promise<void>((resolve) => waiting.push(resolve));
        if (fail) throw new Error('database down');
        inserts.push(params.length / 13);
        return [];
      }
      return sql.includes('count(*)') ? [{ n: String(inserts.reduce((s, n) => s + n, 0)) }] : [];
    },
  };
  return {
    ds: ds as unknown as DataSource,
    inserts,
    release: () => waiting.splice(0).forEach((r) => r()),
    setFailing: (v: boolean) => (fail = v),
  };
}

const decision = (requestId: string): NewRoutingDecision => ({
  requestId,
  endpoint: 'completions',
  promptIndex: 0,
  apiKeyId: null,
  model: 'm',
  mode: 'auto',
  plan: {} as RoutingPlan,
  adapterIds: [],
  registryVersion: 1,
  policy: 'o3-hard',
  latencyMs: 1,
  promptTokens: 1,
  completionTokens: 1,
});

const tick = () => new Promise((r) => setImmediate(r));

describe('RoutingDecisionRepository write-behind', () => {
  it('writes the first decision at once and every decision queued meanwhile in one statement', async () => {
    const db = fakeDataSource();
    const sut = new RoutingDecisionRepository(db.ds);
    sut.enqueue([decision('a')]);
    for (const id of ['b', 'c', 'd']) sut.enqueue([decision(id)]);
    expect(sut.queued).toBe(3);
    await tick();
    db.release();
    await tick();
    db.release();
    await sut.flush();
    expect(db.inserts).toEqual([1, 3]);
    expect(sut.queued).toBe(0);
  });

  it('list() waits for queued decisions, so an answered request finds its decision', async () => {
    const db = fakeDataSource();
    const sut = new RoutingDecisionRepository(db.ds);
    sut.enqueue([decision('a'), decision('b')]);
    const listed = sut.list({ limit: 10, offset: 0 });
    await tick();
    db.release();
    expect((await listed).total).toBe(2);
  });

  it('a failed write is logged and dropped, and the writer goes on with later decisions', async () => {
    const db = fakeDataSource();
    const sut = new RoutingDecisionRepository(db.ds);
    db.setFailing(true);
    sut.enqueue([decision('a')]);
    await tick();
    db.release();
    await sut.flush();
    expect(db.inserts).toEqual([]);
    db.setFailing(false);
    sut.enqueue([decision('b')]);
    await tick();
    db.release();
    await sut.flush();
    expect(db.inserts).toEqual([1]);
  });
});
