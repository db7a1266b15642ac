// /admin/mcp-servers: the registered MCP servers, how each is reached,
// whether it is enabled, its tools (listed / allowed) and its last error.
import { useCallback, useEffect, useId, useState } from 'react';
import { Link } from 'react-router-dom';
import { api } from '../../../api/client';
import type { McpServer } from '../../../api/types';
import { PlusIcon, WarningIcon } from '../../../components/Icons';
import { ListStatus } from '../../../components/ListStatus';
import { plural } from '../../../lib/format';
import { useTitle } from '../../../lib/useTitle';
import { Badge } from '../badges';
import { Notice, useNotice } from '../notice';

export function reachOf(s: McpServer): string {
  return s.transport === 'http' ? s.url ?? '' : (s.command ?? []).join(' ');
}

export function TransportBadge({ transport }: { transport: McpServer['transport'] }) {
  return <Badge tone="blue">{transport === 'http' ? 'HTTP' : 'stdio'}</Badge>;
}

export function EnabledBadge({ enabled }: { enabled: boolean }) {
  return enabled ? <Badge tone="green">Enabled</Badge> : <Badge>Disabled</Badge>;
}

export default function McpServersScreen() {
  useTitle('MCP servers · Administration');
  const id = useId();
  const [notice, setNotice] = useNotice();
  const [servers, setServers] = useState<McpServer[]>([]);
  const [loaded, setLoaded] = useState(false);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<unknown>(null);

  const load = useCallback(async () => {
    setLoading(true);
    setError(null);
    try {
      const r = await api.mcpServers();
      setServers(r.items);
      setLoaded(true);
    } catch (e) {
      setError(e);
    } finally {
      setLoading(false);
    }
  }, []);

  useEffect(() => {
    void load();
  }, [load]);

  return (
    <section aria-labelledby={`${id}-h`} className="space-y-4">
      <div className="flex flex-wrap items-start justify-between gap-3">
        <div>
          <h2 id={`${id}-h`} className="text-lg font-semibold text-gray-900">
            MCP servers
          </h2>
          <p className="mt-1 max-w-prose text-sm text-gray-700">
            Tools from outside Mangoo, over the Model Context Protocol. Agents can be given only the tools you allow on a
            server’s page.
          </p>
        </div>
        <Link to="/admin/mcp-servers/new" className="btn-primary">
          <PlusIcon />
          Register server
        </Link>
      </div>

      <Notice text={notice} onDismiss={() => setNotice(null)} />

      <ListStatus error={error} loading={loading} loaded={loaded} label="Loading MCP servers…" onRetry={() => void load()} />

      {loaded && servers.length === 0 && !error ? (
        <div className="card p-8 text-center">
          <h3 className="text-lg font-semibold text-gray-900">No MCP servers yet</h3>
          <p className="mt-2 text-gray-700">Register one to give agents its tools.</p>
        </div>
      ) : null}

      {servers.length > 0 ? (
        <ul aria-label="MCP servers" className="card divide-y divide-gray-100">
          {servers.map((s) => (
            <li key={s.id} data-server-id={s.id} data-enabled={s.enabled} className="space-y-2 p-4">
              <div className="flex flex-wrap items-center gap-2">
                <Link to={`/admin/mcp-servers/${encodeURIComponent(s.id)}`} className="link break-all font-mono text-base">
                  {s.name}
                </Link>
                <TransportBadge transport={s.transport} />
                <EnabledBadge enabled={s.enabled} />
              </div>
              {s.description ? <p className="break-words text-sm text-gray-700">{s.description}</p> : null}
              <p className="break-all font-mono text-xs text-gray-700">
                <span className="sr-only">{s.transport === 'http' ? 'URL: ' : 'Command: '}</span>
                {reachOf(s)}
              </p>
              <p className="text-xs text-gray-700">
                {s.tools ? `${plural(s.tools.length, 'tool')} listed` : 'Tools not listed yet'} · {s.allowed_tools.length} allowed
              </p>
              {s.last_error ? (
                <p className="flex items-start gap-1.5 rounded-md border border-amber-200 bg-amber-50 px-2 py-1 text-xs text-amber-900">
                  <WarningIcon className="mt-0.5 h-3.5 w-3.5 shrink-0 text-amber-700" />
                  <span className="min-w-0 break-words">
                    <span className="font-medium">Last error:</span> {s.last_error}
                  </span>
                </p>
              ) : null}
            </li>
          ))}
        </ul>
      ) : null}
    </section>
  );
}
