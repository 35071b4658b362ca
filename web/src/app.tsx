import { useEffect, useRef, useState } from 'preact/hooks';
import { SignIn } from './components/sign-in.js';
import { currentKey, onSessionChange, signOut } from './lib/session.js';
import { href, useRoute, type Route } from './lib/router.js';
import { AdapterDetailPage } from './pages/adapter-detail-page.js';
import { AdaptersPage } from './pages/adapters-page.js';
import { AuditPage } from './pages/audit-page.js';
import { RoutingPage } from './pages/routing-page.js';
import { UnlearningDetailPage } from './pages/unlearning-detail-page.js';
import { UnlearningPage } from './pages/unlearning-page.js';

const SECTIONS = [
  ['adapters', 'Adapters'],
  ['unlearning', 'Unlearning requests'],
  ['routing', 'Routing decisions'],
  ['audit', 'Audit log'],
] as const;

function Page({ route }: { route: Route }) {
  const [section = 'adapters', id] = route.segments;
  switch (section) {
    case 'adapters':
      return id ? <AdapterDetailPage id={id} /> : <AdaptersPage />;
    case 'unlearning':
      return id ? <UnlearningDetailPage id={id} /> : <UnlearningPage />;
    case 'routing':
      return <RoutingPage />;
    case 'audit':
      return <AuditPage />;
    default:
      return (
        <>
          <h1 tabIndex={-1}>Not found</h1>
          <p>There is no page here.</p>
        </>
      );
  }
}

/** The console: sign-in until a key is in the session, then the navigation and one page. */
export function App() {
  const [key, setKey] = useState(currentKey);
  const route = useRoute();
  const main = useRef<HTMLElement>(null);
  useEffect(() => onSessionChange(setKey), []);
  // Move focus to the new page's heading so keyboard and screen-reader users land on it.
  const path = route.segments.join('/');
  useEffect(() => {
    main.current?.querySelector<HTMLElement>('h1')?.focus();
  }, [path, key !== null]);

  if (!key) return <SignIn />;
  const section = route.segments[0] ?? 'adapters';
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => (e.preventDefault(), main.current?.querySelector<HTMLElement>('h1')?.focus())}>
        Skip to content
      </a>
      <header class="top">
        <span class="brand">Lethe admin</span>
        <nav aria-label="Sections">
          <ul>
            {SECTIONS.map(([s, label]) => (
              <li key={s}>
                <a href={href(s)} aria-current={section === s ? 'page' : undefined}>
                  {label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <button type="button" class="sign-out" onClick={() => signOut()}>
          Sign out
        </button>
      </header>
      <main id="main" ref={main}>
        <Page route={route} />
      </main>
    </>
  );
}
