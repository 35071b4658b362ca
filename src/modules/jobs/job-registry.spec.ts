import { describe, expect, it } from 'vitest';
import type { JobContext, JobHandler } from './job-handler.js';
import { buildJobRegistry, JobRegistryError } from './job-registry.js';

class Handler implements JobHandler {
  constructor(readonly name: string) {}
  async handle(_payload: unknown, _ctx: JobContext): Promise<void> {}
}
class OtherHandler extends Handler {}

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(JobRegistryError);
    return (e as JobRegistryError).problems;
  }
  throw new Error('expected a JobRegistryError');
}

describe('buildJobRegistry', () => {
  it('pairs every catalog entry with its handler and keeps the queue options', () => {
    const a = new Handler('a.run');
    const b = new Handler('b.run');
    const sut = buildJobRegistry({ 'a.run': { retryLimit: 4 }, 'b.run': {} }, [b, a]);
    expect([...sut.keys()].sort()).toEqual(['a.run', 'b.run']);
    expect(sut.get('a.run')).toEqual({ name: 'a.run', options: { retryLimit: 4 }, handler: a });
    expect(sut.get('b.run')?.handler).toBe(b);
  });

  it('names a catalog job without a handler', () => {
    expect(problemsOf(() => buildJobRegistry({ 'a.run': {}, 'b.run': {} }, [new Handler('a.run')]))).toEqual([
      "job 'b.run' has no handler",
    ]);
  });

  it('names a job with two handlers and a handler for an unknown job, all at once', () => {
    const problems = problemsOf(() =>
      buildJobRegistry({ 'a.run': {} }, [new Handler('a.run'), new OtherHandler('a.run'), new Handler('ghost.run')]),
    );
    expect(problems).toHaveLength(2);
    expect(problems).toContain("job 'a.run' has 2 handlers (Handler, OtherHandler)");
    expect(problems).toContain("handler Handler serves unknown job 'ghost.run'");
  });

  it('does not take inherited object keys for catalog names', () => {
    expect(problemsOf(() => buildJobRegistry({}, [new Handler('toString')]))).toEqual(["handler Handler serves unknown job 'toString'"]);
  });
});
