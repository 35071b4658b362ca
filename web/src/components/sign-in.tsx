import { useState } from 'preact/hooks';
import { ApiError, describeError } from '../api/client.js';
import { checkAdminKey } from '../api/endpoints.js';
import { signIn } from '../lib/session.js';

/** Sign-in with an admin API key; the key is checked against an admin-only route first. */
export function SignIn() {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: Event) {
    e.preventDefault();
    const k = key.trim();
    if (!k) {
      setError('Enter an API key.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await checkAdminKey(k);
      setKey('');
      signIn(k);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) setError('Key refused: it is not a valid, unrevoked Lethe API key.');
      else if (err instanceof ApiError && err.status === 403) setError('Key refused: the console needs an admin key.');
      else setError(`Could not sign in: ${describeError(err)}`);
    } finally {
      setBusy(false);
    }
  }

  return (
    <main class="sign-in" id="main">
      <h1>Lethe admin console</h1>
      <p>Sign in with an admin API key. It is kept in this tab's session storage only, and sent to Lethe in the Authorization header.</p>
      <form onSubmit={submit} aria-describedby={error ? 'sign-in-error' : undefined}>
        <label for="api-key">Admin API key</label>
        <input
          id="api-key"
          name="api-key"
          type="password"
          autocomplete="off"
          spellcheck={false}
          required
          value={key}
          onInput={(e) => setKey((e.target as HTMLInputElement).value)}
        />
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
      {error && (
        <p id="sign-in-error" class="error" role="alert">
          {error}
        </p>
      )}
    </main>
  );
}
