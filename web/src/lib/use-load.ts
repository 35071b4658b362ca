import { useEffect, useState } from 'preact/hooks';
import { ApiError } from '../api/client.js';

/** State of a load: pending, done, the route isn't deployed (`missing`), or failed. */
export type Load<T> =
  | { state: 'loading' }
  | { state: 'ok'; data: T }
  | { state: 'missing' }
  | { state: 'error'; error: unknown };

/**
 * Runs `fn` whenever `deps` change, cancelling the previous run. A 404 "route not found" becomes
 * `missing` so pages can show an empty state for parts of Lethe that aren't there yet.
 */
export function useLoad<T>(fn: (signal: AbortSignal) => Promise<T>, deps: unknown[]): [Load<T>, () => void] {
  const [load, setLoad] = useState<Load<T>>({ state: 'loading' });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const ctl = new AbortController();
    setLoad({ state: 'loading' });
    fn(ctl.signal).then(
      (data) => !ctl.signal.aborted && setLoad({ state: 'ok', data }),
      (error: unknown) => {
        if (ctl.signal.aborted) return;
        setLoad(error instanceof ApiError && error.routeMissing ? { state: 'missing' } : { state: 'error', error });
      },
    );
    return () => ctl.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  return [load, () => setTick((t) => t + 1)];
}
