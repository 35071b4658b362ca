// The admin API key lives only in sessionStorage (gone when the tab closes): never in a URL,
// a cookie, localStorage or a log line.
const KEY = 'lethe.console.apiKey';

type Listener = (key: string | null) => void;
const listeners = new Set<Listener>();

/** The signed-in key, or null. */
export function currentKey(): string | null {
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}

export function signIn(key: string): void {
  sessionStorage.setItem(KEY, key);
  for (const l of listeners) l(key);
}

export function signOut(): void {
  sessionStorage.removeItem(KEY);
  for (const l of listeners) l(null);
}

/** Calls `fn` on sign-in and sign-out; returns the unsubscribe function. */
export function onSessionChange(fn: Listener): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}
