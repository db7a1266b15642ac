import { Suspense, type ReactNode } from 'react';
import { Link, NavLink, Outlet } from 'react-router-dom';
import { useAuth } from '../store/auth';
import { PageLoading } from './Loading';
import { Logo } from './Logo';

function navClass({ isActive }: { isActive: boolean }): string {
  return [
    'rounded-md px-3 py-2 text-sm font-medium transition-colors',
    'focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-accent-600',
    isActive ? 'bg-accent-50 text-accent-800' : 'text-gray-700 hover:bg-gray-100 hover:text-gray-900',
  ].join(' ');
}

/** The signed-in frame: header with navigation, the user, Sign out. */
export default function Layout({ children }: { children?: ReactNode }) {
  const username = useAuth((s) => s.profile?.username ?? s.username);
  const isAdmin = useAuth((s) => s.isAdmin);
  const signOut = useAuth((s) => s.signOut);

  return (
    <div className="flex h-full flex-col">
      <a
        href="#main"
        className="sr-only focus:not-sr-only focus:absolute focus:left-2 focus:top-2 focus:z-50 focus:rounded focus:bg-white focus:px-3 focus:py-2 focus:shadow"
      >
        Skip to content
      </a>
      <header className="shrink-0 border-b border-gray-200 bg-white">
        <div className="mx-auto flex max-w-7xl flex-wrap items-center gap-x-4 gap-y-1 px-3 py-2 sm:px-4">
          <Link
            to="/chat"
            className="flex items-center gap-2 rounded-md py-1 pr-2 text-lg font-semibold text-gray-900 focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-accent-600"
          >
            <Logo />
            Mangoo
          </Link>
          <nav aria-label="Main" className="order-3 w-full sm:order-none sm:w-auto">
            <ul className="flex flex-wrap gap-1">
              <li>
                <NavLink to="/chat" className={navClass}>
                  Chat
                </NavLink>
              </li>
              <li>
                <NavLink to="/agents" className={navClass}>
                  Agents
                </NavLink>
              </li>
              <li>
                <NavLink to="/bots" className={navClass}>
                  Bots
                </NavLink>
              </li>
              <li>
                <NavLink to="/store" className={navClass}>
                  Store
                </NavLink>
              </li>
              <li>
                <NavLink to="/knowledge" className={navClass}>
                  Knowledge
                </NavLink>
              </li>
              <li>
                <NavLink to="/account" className={navClass}>
                  Account
                </NavLink>
              </li>
              {isAdmin ? (
                <li>
                  <NavLink to="/admin" className={navClass}>
                    Admin
                  </NavLink>
                </li>
              ) : null}
            </ul>
          </nav>
          <div className="ml-auto flex items-center gap-3">
            <span className="hidden max-w-[12rem] truncate text-sm text-gray-700 sm:inline" title={username}>
              <span className="sr-only">Signed in as </span>
              {username}
            </span>
            <button type="button" className="btn-secondary btn-sm" onClick={() => void signOut()}>
              Sign out
            </button>
          </div>
        </div>
      </header>
      <main id="main" tabIndex={-1} className="flex min-h-0 flex-1 flex-col focus:outline-none focus-visible:ring-0">
        {/* the header stays while a screen's code loads */}
        <Suspense fallback={<PageLoading />}>{children ?? <Outlet />}</Suspense>
      </main>
    </div>
  );
}
