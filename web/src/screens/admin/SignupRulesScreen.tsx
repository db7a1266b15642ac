// /admin/signup: who may create a local account.  The registration mode
// and the allow-list of e-mail domains (saved together), and invitations:
// list, create (the code and its sign-up link shown once), revoke.  Also
// the permission groups the server is configured with (read-only).
import { useCallback, useEffect, useId, useRef, useState, type FormEvent } from 'react';
import { badDomain, groupsProblem, invitationLink, parseDomains, parseGroups, signupApi } from '../../api/sharing';
import type { Invitation, InvitationCreated, RegistrationMode, Role } from '../../api/types';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { CopyButton } from '../../components/CopyButton';
import { Dialog } from '../../components/Dialog';
import { ErrorAlert, errorMessage } from '../../components/ErrorAlert';
import { FormRow } from '../../components/FormRow';
import { Spinner } from '../../components/Loading';
import { useTitle } from '../../lib/useTitle';
import { useAuth } from '../../store/auth';
import { GroupsInfo } from './GroupsInfo';

export default function SignupRulesScreen() {
  useTitle('Sign-up rules');
  return (
    <>
      <RulesPanel />
      <InvitationsPanel />
    </>
  );
}

const MODES: { value: RegistrationMode; label: string; hint: string }[] = [
  { value: 'open', label: 'Open', hint: 'Anyone can create an account (within the allowed domains, if any).' },
  { value: 'first-admin', label: 'First account only', hint: 'Only the first account can be created; it becomes the administrator.' },
  { value: 'closed', label: 'Closed', hint: 'No one can create an account, except with an invitation.' },
];

function RulesPanel() {
  const id = useId();
  const loadConfig = useAuth((s) => s.loadConfig);
  const [mode, setMode] = useState<RegistrationMode>('open');
  const [domains, setDomains] = useState<string[]>([]);
  const [newDomain, setNewDomain] = useState('');
  const [loaded, setLoaded] = useState(false);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [status, setStatus] = useState('');

  useEffect(() => {
    const ctl = new AbortController();
    signupApi.rules(ctl.signal).then(
      (r) => {
        setMode(r.registration);
        setDomains(r.allowed_domains ?? []);
        setLoaded(true);
      },
      (e) => {
        if (!ctl.signal.aborted) setLoadError(e);
      },
    );
    return () => ctl.abort();
  }, []);

  async function save(next: { registration?: RegistrationMode; allowed_domains?: string[] }, done: string) {
    setBusy(true);
    setError(null);
    setStatus('');
    try {
      const r = await signupApi.updateRules(next);
      setMode(r.registration);
      setDomains(r.allowed_domains ?? []);
      setStatus(done);
      void loadConfig();
      return true;
    } catch (e) {
      setError(errorMessage(e));
      return false;
    } finally {
      setBusy(false);
    }
  }

  async function addDomain(e: FormEvent) {
    e.preventDefault();
    const add = parseDomains(newDomain);
    if (add.length === 0) return;
    const bad = add.find(badDomain);
    if (bad) {
      setError(`“${bad}” is not a domain name (e.g. example.com).`);
      return;
    }
    const next = [...domains, ...add.filter((d) => !domains.includes(d))];
    if (await save({ allowed_domains: next }, `Allowed domains: ${next.join(', ')}.`)) setNewDomain('');
  }

  return (
    <section aria-labelledby={`${id}-h`} className="card space-y-4 p-5">
      <h2 id={`${id}-h`} className="text-lg font-semibold text-gray-900">
        Sign-up rules
      </h2>
      {loadError ? <ErrorAlert error={loadError} /> : null}
      {!loaded && !loadError ? <Spinner label="Loading the sign-up rules…" /> : null}
      {loaded ? (
        <>
          <fieldset disabled={busy}>
            <legend className="label">Registration</legend>
            <div className="space-y-2">
              {MODES.map((m) => {
                const rid = `${id}-mode-${m.value}`;
                return (
                  <div key={m.value} className="flex items-start gap-2">
                    <input
                      id={rid}
                      type="radio"
                      name={`${id}-mode`}
                      className="mt-0.5 h-4 w-4"
                      checked={mode === m.value}
                      aria-describedby={`${rid}-hint`}
                      onChange={() => {
                        // shown at once; put back if the server refuses
                        const before = mode;
                        setMode(m.value);
                        void save({ registration: m.value }, `Registration: ${m.label}.`).then((ok) => {
                          if (!ok) setMode(before);
                        });
                      }}
                    />
                    <div>
                      <label htmlFor={rid} className="text-sm font-medium text-gray-900">
                        {m.label}
                      </label>
                      <p id={`${rid}-hint`} className="hint mt-0">
                        {m.hint}
                      </p>
                    </div>
                  </div>
                );
              })}
            </div>
          </fieldset>

          <div className="border-t border-gray-200 pt-4">
            <h3 id={`${id}-dom-h`} className="text-base font-semibold text-gray-900">
              Allowed e-mail domains
            </h3>
            <p className="hint">
              {domains.length === 0
                ? 'Any e-mail address may sign up. Add a domain to allow only addresses in it (invitations still work).'
                : 'Sign-up needs an e-mail address in one of these domains (invitations still work).'}
            </p>
            {domains.length > 0 ? (
              <ul aria-labelledby={`${id}-dom-h`} className="mt-2 flex flex-wrap gap-2">
                {domains.map((d) => (
                  <li key={d} data-domain={d} className="inline-flex items-center gap-1 rounded-full bg-gray-100 py-0.5 pl-3 pr-1 text-sm ring-1 ring-gray-300">
                    {d}
                    <button
                      type="button"
                      className="btn-ghost btn-sm rounded-full px-2 py-0.5"
                      aria-label={`Remove ${d}`}
                      disabled={busy}
                      onClick={() =>
                        void save(
                          { allowed_domains: domains.filter((x) => x !== d) },
                          `Removed ${d}.`,
                        )
                      }
                    >
                      ×
                    </button>
                  </li>
                ))}
              </ul>
            ) : null}
            <form onSubmit={addDomain} className="mt-3 flex flex-wrap items-end gap-2">
              <div className="min-w-0 flex-1 basis-56">
                <label htmlFor={`${id}-domain`} className="label">
                  Domain
                </label>
                <input
                  id={`${id}-domain`}
                  className="input"
                  placeholder="example.com"
                  autoCapitalize="off"
                  spellCheck={false}
                  value={newDomain}
                  onChange={(e) => setNewDomain(e.target.value)}
                />
              </div>
              <button type="submit" className="btn-primary" disabled={busy || !newDomain.trim()}>
                Add domain
              </button>
            </form>
          </div>
          <p role="status" aria-live="polite" className="text-sm text-gray-700">
            {status}
          </p>
          {error ? <ErrorAlert>{error}</ErrorAlert> : null}
        </>
      ) : null}
      <GroupsInfo />
    </section>
  );
}

// ---- invitations -------------------------------------------------------------------

function inviteState(i: Invitation): { text: string; tone: string } {
  if (i.revoked_at) return { text: 'Revoked', tone: 'bg-gray-100 text-gray-800 ring-gray-300' };
  if (i.used_at) return { text: 'Used', tone: 'bg-sky-50 text-sky-900 ring-sky-200' };
  if (Date.parse(i.expires_at) <= Date.now()) return { text: 'Expired', tone: 'bg-gray-100 text-gray-800 ring-gray-300' };
  return { text: 'Open', tone: 'bg-green-50 text-green-800 ring-green-200' };
}

function InvitationsPanel() {
  const id = useId();
  const [items, setItems] = useState<Invitation[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [creating, setCreating] = useState(false);
  const [revoking, setRevoking] = useState<Invitation | null>(null);
  const [status, setStatus] = useState('');

  const load = useCallback(async () => {
    setError(null);
    try {
      setItems((await signupApi.invitations()).items);
    } catch (e) {
      setError(e);
    }
  }, []);

  useEffect(() => {
    void load();
  }, [load]);

  return (
    <section aria-labelledby={`${id}-h`} className="card p-5">
      <div className="flex flex-wrap items-center justify-between gap-3">
        <h2 id={`${id}-h`} className="text-lg font-semibold text-gray-900">
          Invitations
        </h2>
        <button type="button" className="btn-primary" onClick={() => setCreating(true)}>
          Invite someone
        </button>
      </div>
      <p className="mt-1 text-sm text-gray-700">
        An invitation lets one person sign up with its e-mail address, whatever the rules above say.
      </p>
      <p role="status" aria-live="polite" className="text-sm text-gray-700">
        {status}
      </p>
      {error ? <ErrorAlert error={error} className="mt-3" /> : null}
      {!items && !error ? <Spinner label="Loading invitations…" /> : null}
      {items && items.length === 0 ? <p className="mt-3 text-sm text-gray-700">No invitations.</p> : null}
      {items && items.length > 0 ? (
        <div className="relative mt-3 overflow-x-auto" tabIndex={0} role="region" aria-label="Invitations, table">
          <table className="w-full min-w-[40rem] text-left text-sm">
            <caption className="sr-only">Invitations</caption>
            <thead className="text-gray-700">
              <tr className="border-b border-gray-200">
                <th scope="col" className="py-2 pr-3 font-medium">E-mail</th>
                <th scope="col" className="py-2 pr-3 font-medium">Role and groups</th>
                <th scope="col" className="py-2 pr-3 font-medium">Expires</th>
                <th scope="col" className="py-2 pr-3 font-medium">Status</th>
                <th scope="col" className="py-2 font-medium">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((i) => {
                const st = inviteState(i);
                return (
                  <tr key={i.id} className="border-b border-gray-100" data-invitation={i.email}>
                    <th scope="row" className="py-2 pr-3 font-normal">{i.email}</th>
                    <td className="py-2 pr-3">
                      {i.role === 'admin' ? 'Administrator' : 'User'}
                      {i.groups?.length ? ` · ${i.groups.join(', ')}` : ''}
                    </td>
                    <td className="py-2 pr-3">{new Date(i.expires_at).toLocaleDateString()}</td>
                    <td className="py-2 pr-3">
                      <span className={`rounded-full px-2 py-0.5 text-xs font-medium ring-1 ${st.tone}`}>{st.text}</span>
                    </td>
                    <td className="py-2 text-right">
                      {st.text === 'Open' ? (
                        <button
                          type="button"
                          className="btn-secondary btn-sm"
                          aria-label={`Revoke the invitation of ${i.email}`}
                          onClick={() => setRevoking(i)}
                        >
                          Revoke
                        </button>
                      ) : null}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      ) : null}
      {creating ? (
        <InviteDialog
          onClose={() => setCreating(false)}
          onCreated={(inv) => setItems((cur) => [inv, ...(cur ?? [])])}
        />
      ) : null}
      {revoking ? (
        <ConfirmDialog
          title="Revoke this invitation?"
          description={<>The invitation of {revoking.email} stops working at once.</>}
          confirmLabel="Revoke"
          onClose={() => setRevoking(null)}
          onConfirm={async () => {
            await signupApi.revokeInvitation(revoking.id);
            setItems((cur) =>
              (cur ?? []).map((x) => (x.id === revoking.id ? { ...x, revoked_at: new Date().toISOString() } : x)),
            );
            setStatus(`Revoked the invitation of ${revoking.email}.`);
          }}
        />
      ) : null}
    </section>
  );
}

function InviteDialog({ onClose, onCreated }: { onClose: () => void; onCreated: (i: InvitationCreated) => void }) {
  const id = useId();
  const emailRef = useRef<HTMLInputElement>(null);
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<Role>('user');
  const [groups, setGroups] = useState('');
  const [days, setDays] = useState('7');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [created, setCreated] = useState<InvitationCreated | null>(null);

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (busy) return;
    const g = parseGroups(groups);
    const gp = groupsProblem(g);
    if (!email.trim()) return setError('Enter the e-mail address of the person to invite.');
    if (gp) return setError(gp);
    const d = Number(days);
    if (!Number.isInteger(d) || d < 1 || d > 90) return setError('Valid for 1 to 90 days.');
    setBusy(true);
    setError(null);
    try {
      const inv = await signupApi.invite({ email: email.trim(), role, groups: g, expires_in_days: d });
      setCreated(inv);
      onCreated(inv);
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  }

  if (created) {
    const link = invitationLink(window.location.origin, created.code);
    return (
      <Dialog title="Invitation created" onClose={onClose} size="lg">
        <div className="space-y-4">
          <p role="alert" className="rounded-md border border-amber-200 bg-amber-50 px-3 py-2 text-sm text-amber-900">
            Send this to {created.email} now: the code is shown only this once.
          </p>
          <div>
            <label htmlFor={`${id}-code`} className="label">
              Invitation code
            </label>
            <div className="flex flex-wrap items-center gap-2">
              <input id={`${id}-code`} className="input min-w-0 flex-1 basis-64 font-mono text-xs" readOnly value={created.code} data-invitation-code="" />
              <CopyButton text={created.code} label="Copy code" />
            </div>
          </div>
          <div>
            <label htmlFor={`${id}-link`} className="label">
              Sign-up link
            </label>
            <div className="flex flex-wrap items-center gap-2">
              <input id={`${id}-link`} className="input min-w-0 flex-1 basis-64 font-mono text-xs" readOnly value={link} data-invitation-link="" />
              <CopyButton text={link} label="Copy link" />
            </div>
            <p className="hint">Valid until {new Date(created.expires_at).toLocaleString()}, for one sign-up.</p>
          </div>
          <div className="flex justify-end">
            <button type="button" className="btn-primary" onClick={onClose}>
              Done
            </button>
          </div>
        </div>
      </Dialog>
    );
  }

  return (
    <Dialog title="Invite someone" onClose={busy ? () => {} : onClose} initialFocus={emailRef}>
      <form onSubmit={submit} className="space-y-4" noValidate>
        <FormRow id={`${id}-email`} label="E-mail">
          {(p) => (
            <input {...p} ref={emailRef} className="input" type="email" autoComplete="off" value={email} onChange={(e) => setEmail(e.target.value)} />
          )}
        </FormRow>
        <div className="grid gap-4 sm:grid-cols-2">
          <FormRow id={`${id}-role`} label="Role">
            {(p) => (
              <select {...p} className="input" value={role} onChange={(e) => setRole(e.target.value as Role)}>
                <option value="user">User</option>
                <option value="admin">Administrator</option>
              </select>
            )}
          </FormRow>
          <FormRow id={`${id}-days`} label="Valid for (days)" hint="1 to 90.">
            {(p) => (
              <input {...p} className="input" type="number" min={1} max={90} step={1} value={days} onChange={(e) => setDays(e.target.value)} />
            )}
          </FormRow>
        </div>
        <FormRow id={`${id}-groups`} label="Groups" hint="Optional, separated by commas, e.g. publishers.">
          {(p) => <input {...p} className="input" autoCapitalize="off" spellCheck={false} value={groups} onChange={(e) => setGroups(e.target.value)} />}
        </FormRow>
        {error ? <ErrorAlert>{error}</ErrorAlert> : null}
        <div className="flex justify-end gap-2">
          <button type="button" className="btn-secondary" onClick={onClose} disabled={busy}>
            Cancel
          </button>
          <button type="submit" className="btn-primary" disabled={busy}>
            Create invitation
          </button>
        </div>
      </form>
    </Dialog>
  );
}
