import { useCallback, useEffect, useId, useRef, useState, type FormEvent } from 'react';
import { api } from '../../api/client';
import type { AdminUsage, Role, User } from '../../api/types';
import { ErrorAlert, errorMessage } from '../../components/ErrorAlert';
import { Spinner } from '../../components/Loading';
import { useTitle } from '../../lib/useTitle';
import { useAuth } from '../../store/auth';
import { n, plural } from '../../lib/format';
import { groupsProblem, parseGroups } from '../../api/sharing';
import { Dialog } from '../../components/Dialog';
import { GroupsInfo } from './GroupsInfo';


/** /admin: users and their usage (inside AdminLayout's heading and tabs). */
export default function AdminScreen() {
  useTitle('Administration');
  return (
    <>
      <Users />
      <UsageReport />
    </>
  );
}

// ---- users ------------------------------------------------------------------

function Users() {
  const id = useId();
  const me = useAuth((s) => s.userId);
  const [q, setQ] = useState('');
  const [query, setQuery] = useState('');
  const [users, setUsers] = useState<User[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [rowError, setRowError] = useState<{ id: string; message: string } | null>(null);
  const [busyId, setBusyId] = useState<string | null>(null);
  const [editingGroups, setEditingGroups] = useState<User | null>(null);
  const reqSeq = useRef(0);

  const load = useCallback(async (search: string, after: string | null) => {
    const mySeq = ++reqSeq.current;
    setLoading(true);
    setError(null);
    try {
      const page = await api.adminUsers({ q: search || undefined, limit: 20, cursor: after });
      if (mySeq !== reqSeq.current) return;
      setUsers((cur) => (after ? [...cur, ...page.items.filter((u) => !cur.some((c) => c.id === u.id))] : page.items));
      setCursor(page.next_cursor);
      setLoaded(true);
    } catch (e) {
      if (mySeq === reqSeq.current) setError(e);
    } finally {
      if (mySeq === reqSeq.current) setLoading(false);
    }
  }, []);

  // search as you type, a moment after the last key
  useEffect(() => {
    const t = setTimeout(() => setQuery(q.trim()), 300);
    return () => clearTimeout(t);
  }, [q]);

  useEffect(() => {
    void load(query, null);
  }, [query, load]);

  async function update(u: User, patch: { role?: Role; disabled?: boolean }) {
    setBusyId(u.id);
    setRowError(null);
    try {
      const updated = await api.adminUpdateUser(u.id, patch);
      setUsers((cur) => cur.map((x) => (x.id === u.id ? updated : x)));
    } catch (e) {
      setRowError({ id: u.id, message: errorMessage(e) });
    } finally {
      setBusyId(null);
    }
  }

  return (
    <section aria-labelledby={`${id}-h`} className="card p-5">
      <h2 id={`${id}-h`} className="text-lg font-semibold text-gray-900">
        Users
      </h2>
      <form
        role="search"
        className="mt-4 max-w-sm"
        onSubmit={(e) => {
          e.preventDefault();
          setQuery(q.trim());
        }}
      >
        <label htmlFor={`${id}-q`} className="label">
          Search users
        </label>
        <input
          id={`${id}-q`}
          type="search"
          className="input"
          value={q}
          placeholder="Name or email"
          onChange={(e) => setQ(e.target.value)}
        />
      </form>

      {error ? <ErrorAlert error={error} className="mt-4" /> : null}
      {rowError ? (
        <ErrorAlert className="mt-4">
          {users.find((u) => u.id === rowError.id)?.username ?? 'User'}: {rowError.message}
        </ErrorAlert>
      ) : null}

      <div className="relative mt-4 overflow-x-auto">
        <table className="w-full min-w-[44rem] text-left text-sm">
          <caption className="sr-only">Users</caption>
          <thead className="text-gray-700">
            <tr className="border-b border-gray-200">
              <th scope="col" className="py-2 pr-3 font-medium">User</th>
              <th scope="col" className="py-2 pr-3 font-medium">Role</th>
              <th scope="col" className="py-2 pr-3 font-medium">Groups</th>
              <th scope="col" className="py-2 pr-3 font-medium">Status</th>
              <th scope="col" className="py-2 pr-3 font-medium">Joined</th>
              <th scope="col" className="py-2 font-medium">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {users.map((u) => {
              const self = u.id === me;
              return (
                <tr key={u.id} className="border-b border-gray-100 align-middle" data-user-id={u.id}>
                  <th scope="row" className="py-2 pr-3 font-normal">
                    <div className="font-medium text-gray-900">
                      {u.username}
                      {self ? <span className="ml-1 text-xs font-normal text-gray-600">(you)</span> : null}
                    </div>
                    {u.email ? <div className="text-xs text-gray-600">{u.email}</div> : null}
                  </th>
                  <td className="py-2 pr-3">
                    <label htmlFor={`${id}-role-${u.id}`} className="sr-only">
                      Role for {u.username}
                    </label>
                    <select
                      id={`${id}-role-${u.id}`}
                      className="input w-auto py-1"
                      value={u.role}
                      disabled={busyId === u.id}
                      onChange={(e) => void update(u, { role: e.target.value as Role })}
                    >
                      <option value="user">User</option>
                      <option value="admin">Administrator</option>
                    </select>
                  </td>
                  <td className="py-2 pr-3" data-groups={(u.groups ?? []).join(',')}>
                    <div className="flex flex-wrap items-center gap-1">
                      {(u.groups ?? []).length === 0 ? <span className="text-xs text-gray-600">None</span> : null}
                      {(u.groups ?? []).map((g) => (
                        <span key={g} className="rounded-full bg-gray-100 px-2 py-0.5 text-xs text-gray-800 ring-1 ring-gray-300">
                          {g}
                        </span>
                      ))}
                      <button
                        type="button"
                        className="btn-ghost btn-sm"
                        aria-label={`Edit groups of ${u.username}`}
                        disabled={busyId === u.id}
                        onClick={() => setEditingGroups(u)}
                      >
                        Edit
                      </button>
                    </div>
                  </td>
                  <td className="py-2 pr-3">
                    {u.disabled ? (
                      <span className="rounded-full bg-red-50 px-2 py-0.5 text-xs font-medium text-red-800 ring-1 ring-red-200">
                        Disabled
                      </span>
                    ) : (
                      <span className="rounded-full bg-green-50 px-2 py-0.5 text-xs font-medium text-green-800 ring-1 ring-green-200">
                        Active
                      </span>
                    )}
                  </td>
                  <td className="py-2 pr-3 text-gray-700">{new Date(u.created_at).toLocaleDateString()}</td>
                  <td className="py-2 text-right">
                    <button
                      type="button"
                      className="btn-secondary btn-sm"
                      disabled={busyId === u.id}
                      aria-label={`${u.disabled ? 'Enable' : 'Disable'} ${u.username}`}
                      onClick={() => void update(u, { disabled: !u.disabled })}
                    >
                      {u.disabled ? 'Enable' : 'Disable'}
                    </button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      {loaded && users.length === 0 ? (
        <p className="mt-4 text-sm text-gray-700">{query ? `No user matches “${query}”.` : 'No users.'}</p>
      ) : null}
      {loading ? (
        <div className="mt-4">
          <Spinner label="Loading users…" />
        </div>
      ) : null}
      {cursor && !loading ? (
        <div className="mt-4 flex justify-center">
          <button type="button" className="btn-secondary" onClick={() => void load(query, cursor)}>
            Load more users
          </button>
        </div>
      ) : null}
      <div className="mt-6">
        <GroupsInfo />
      </div>
      {editingGroups ? (
        <GroupsDialog
          user={editingGroups}
          onClose={() => setEditingGroups(null)}
          onSaved={(updated) => setUsers((cur) => cur.map((x) => (x.id === updated.id ? updated : x)))}
        />
      ) : null}
    </section>
  );
}

/** A user's permission groups ("admin" is the role, not a group here). */
function GroupsDialog({ user, onClose, onSaved }: { user: User; onClose: () => void; onSaved: (u: User) => void }) {
  const id = useId();
  const inputRef = useRef<HTMLInputElement>(null);
  const [text, setText] = useState((user.groups ?? []).join(', '));
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (busy) return;
    const groups = parseGroups(text);
    const problem = groupsProblem(groups);
    if (problem) {
      setError(problem);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const updated = await api.adminUpdateUser(user.id, { groups });
      onSaved({ ...updated, groups: updated.groups ?? groups });
      onClose();
    } catch (err) {
      setError(errorMessage(err));
      setBusy(false);
    }
  }

  return (
    <Dialog title={`Groups of ${user.username}`} onClose={busy ? () => {} : onClose} initialFocus={inputRef}>
      <form onSubmit={submit} className="space-y-4" noValidate>
        <div>
          <label htmlFor={`${id}-groups`} className="label">
            Groups
          </label>
          <input
            id={`${id}-groups`}
            ref={inputRef}
            className="input"
            value={text}
            autoCapitalize="off"
            spellCheck={false}
            aria-describedby={`${id}-hint`}
            aria-invalid={error ? true : undefined}
            onChange={(e) => setText(e.target.value)}
          />
          <p id={`${id}-hint`} className="hint">
            Separated by commas, at most 20. Administrators get their rights from the role. The groups take effect at
            the user’s next sign-in or token refresh.
          </p>
        </div>
        {error ? <ErrorAlert>{error}</ErrorAlert> : null}
        <div className="flex justify-end gap-2">
          <button type="button" className="btn-secondary" onClick={onClose} disabled={busy}>
            Cancel
          </button>
          <button type="submit" className="btn-primary" disabled={busy}>
            Save groups
          </button>
        </div>
      </form>
    </Dialog>
  );
}

// ---- usage per user -----------------------------------------------------------

function isoDay(d: Date): string {
  return d.toISOString().slice(0, 10);
}

function UsageReport() {
  const id = useId();
  const today = new Date();
  const [from, setFrom] = useState(isoDay(new Date(today.getTime() - 29 * 86_400_000)));
  const [to, setTo] = useState(isoDay(today));
  const [report, setReport] = useState<AdminUsage | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(false);

  const load = useCallback(async (f: string, t: string, cursor: string | null) => {
    setLoading(true);
    setError(null);
    try {
      const r = await api.adminUsage({ from: f || undefined, to: t || undefined, limit: 50, cursor });
      setReport((cur) => (cursor && cur ? { ...r, items: [...cur.items, ...r.items] } : r));
    } catch (e) {
      setError(e);
    } finally {
      setLoading(false);
    }
  }, []);

  useEffect(() => {
    void load(from, to, null);
    // first load only; later ones by the form
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [load]);

  function submit(e: FormEvent) {
    e.preventDefault();
    void load(from, to, null);
  }

  return (
    <section aria-labelledby={`${id}-h`} className="card p-5">
      <h2 id={`${id}-h`} className="text-lg font-semibold text-gray-900">
        Usage per user
      </h2>
      <form onSubmit={submit} className="mt-4 flex flex-wrap items-end gap-3">
        <div>
          <label htmlFor={`${id}-from`} className="label">
            From
          </label>
          <input id={`${id}-from`} type="date" className="input" value={from} max={to || undefined} onChange={(e) => setFrom(e.target.value)} />
        </div>
        <div>
          <label htmlFor={`${id}-to`} className="label">
            To
          </label>
          <input id={`${id}-to`} type="date" className="input" value={to} min={from || undefined} onChange={(e) => setTo(e.target.value)} />
        </div>
        <button type="submit" className="btn-primary" disabled={loading}>
          Show usage
        </button>
      </form>
      <p className="hint">Dates are UTC days, both included, at most 366 days.</p>

      {error ? <ErrorAlert error={error} className="mt-4" /> : null}
      {loading && !report ? (
        <div className="mt-4">
          <Spinner label="Loading usage…" />
        </div>
      ) : null}
      {report ? (
        <div className="relative mt-4 overflow-x-auto" tabIndex={0} role="region" aria-label="Usage per user, table">
          <table className="w-full min-w-[32rem] text-left text-sm">
            <caption className="mb-2 text-left text-sm text-gray-700">
              {report.from} to {report.to}: {plural(report.total.requests, 'request')}, {n(report.total.input_tokens)} input and{' '}
              {n(report.total.output_tokens)} output tokens in all.
            </caption>
            <thead className="text-gray-700">
              <tr className="border-b border-gray-200">
                <th scope="col" className="py-2 pr-3 font-medium">User</th>
                <th scope="col" className="py-2 pr-3 text-right font-medium">Requests</th>
                <th scope="col" className="py-2 pr-3 text-right font-medium">Input tokens</th>
                <th scope="col" className="py-2 pr-3 text-right font-medium">Output tokens</th>
                <th scope="col" className="py-2 text-right font-medium">Total</th>
              </tr>
            </thead>
            <tbody>
              {report.items.map((it) => (
                <tr key={it.user_id} className="border-b border-gray-100">
                  <th scope="row" className="py-2 pr-3 font-normal">{it.username ?? it.user_id}</th>
                  <td className="py-2 pr-3 text-right tabular-nums">{n(it.requests)}</td>
                  <td className="py-2 pr-3 text-right tabular-nums">{n(it.input_tokens)}</td>
                  <td className="py-2 pr-3 text-right tabular-nums">{n(it.output_tokens)}</td>
                  <td className="py-2 text-right tabular-nums">{n(it.input_tokens + it.output_tokens)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {report.items.length === 0 ? <p className="mt-3 text-sm text-gray-700">No usage in this period.</p> : null}
          {report.next_cursor ? (
            <div className="mt-4 flex justify-center">
              <button
                type="button"
                className="btn-secondary"
                disabled={loading}
                onClick={() => void load(report.from, report.to, report.next_cursor)}
              >
                Load more
              </button>
            </div>
          ) : null}
        </div>
      ) : null}
    </section>
  );
}
