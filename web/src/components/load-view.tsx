import type { ComponentChildren } from 'preact';
import { describeError } from '../api/client.js';
import type { Load } from '../lib/use-load.js';

interface Props<T> {
  load: Load<T>;
  /** What the thing is, for messages ("adapters"). */
  what: string;
  /** Shown when the API route isn't deployed on this server yet. */
  missing?: string;
  children: (data: T) => ComponentChildren;
}

/** Loading, error and "not available yet" states around a loaded value. */
export function LoadView<T>({ load, what, missing, children }: Props<T>) {
  switch (load.state) {
    case 'loading':
      return (
        <p class="muted" role="status">
          Loading {what}…
        </p>
      );
    case 'missing':
      return (
        <p class="empty" role="status" data-testid="not-available">
          {missing ?? `No ${what} yet: this server does not offer them.`}
        </p>
      );
    case 'error':
      return (
        <p class="error" role="alert">
          Could not load {what}: {describeError(load.error)}
        </p>
      );
    case 'ok':
      return <>{children(load.data)}</>;
  }
}

/** Pretty JSON rendered as text (never parsed as markup). */
export function JsonBlock({ value, label }: { value: unknown; label: string }) {
  return (
    <pre class="json" aria-label={label} tabIndex={0}>
      {JSON.stringify(value, null, 2)}
    </pre>
  );
}

/** A definition list of label → text. */
export function Facts({ items }: { items: [string, ComponentChildren][] }) {
  return (
    <dl class="facts">
      {items.map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
  );
}
