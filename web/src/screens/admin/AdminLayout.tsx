// The administrators' area (/admin/...): its heading and tabs (users and
// usage, agents, MCP servers, the tool-call audit) above the page; the
// page's own code loads below them.
import { Suspense } from 'react';
import { NavLink, Outlet } from 'react-router-dom';
import { Spinner } from '../../components/Loading';

function tabClass({ isActive }: { isActive: boolean }): string {
  return [
    'inline-block rounded-md px-3 py-2 text-sm font-medium transition-colors',
    'focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-accent-600',
    isActive ? 'bg-accent-50 text-accent-800 ring-1 ring-accent-200' : 'text-gray-700 hover:bg-gray-100 hover:text-gray-900',
  ].join(' ');
}

export default function AdminLayout() {
  return (
    <div className="relative min-h-0 flex-1 overflow-y-auto">
      <div className="mx-auto max-w-5xl space-y-6 px-4 py-6 sm:px-6">
        <div>
          <h1 className="text-2xl font-semibold text-gray-900">Administration</h1>
          <nav aria-label="Administration" className="mt-3 border-b border-gray-200 pb-2">
            <ul className="flex flex-wrap gap-1">
              <li>
                <NavLink to="/admin" end className={tabClass}>
                  Users
                </NavLink>
              </li>
              <li>
                <NavLink to="/admin/agents" className={tabClass}>
                  Agents
                </NavLink>
              </li>
              <li>
                <NavLink to="/admin/mcp-servers" className={tabClass}>
                  MCP servers
                </NavLink>
              </li>
              <li>
                <NavLink to="/admin/tool-calls" className={tabClass}>
                  Tool calls
                </NavLink>
              </li>
              <li>
                <NavLink to="/admin/signup" className={tabClass}>
                  Sign-up rules
                </NavLink>
              </li>
            </ul>
          </nav>
        </div>
        <Suspense
          fallback={
            <div className="mt-6">
              <Spinner />
            </div>
          }
        >
          <Outlet />
        </Suspense>
      </div>
    </div>
  );
}
