import { useEffect, useId, useState, type FormEvent } from 'react';
import { api } from '../../api/client';
import type { MyUsage } from '../../api/types';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { ErrorAlert, errorMessage } from '../../components/ErrorAlert';
import { Spinner } from '../../components/Loading';
import { errorField } from '../../lib/fieldErrors';
import { useTitle } from '../../lib/useTitle';
import { useAuth } from '../../store/auth';
import { n, plural } from '../../lib/format';
import { UsageChart, fillDays } from './UsageChart';

export default function AccountScreen() {
  useTitle('Account');
  return (
    <div className="relative min-h-0 flex-1 overflow-y-auto">
      <div className="mx-auto max-w-3xl space-y-6 px-4 py-6 sm:px-6">
        <h1 className="text-2xl font-semibold text-gray-900">Account</h1>
        <Profile />
        <Usage />
        <YourData />
      </div>
    </div>
  );
}

function Section({ title, children, id }: { title: string; children: React.ReactNode; id: string }) {
  return (
    <section aria-labelledby={id} className="card p-5">
      <h2 id={id} className="text-lg font-semibold text-gray-900">
        {title}
      </h2>
      <div className="mt-4">{children}</div>
    </section>
  );
}

function Profile() {
  const profile = useAuth((s) => s.profile);
  const loadProfile = useAuth((s) => s.loadProfile);
  const setProfile = useAuth((s) => s.setProfile);
  const id = useId();
  const [username, setUsername] = useState(profile?.username ?? '');
  const [email, setEmail] = useState(profile?.email ?? '');
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  const [busy, setBusy] = useState(false);
  const [loadFailed, setLoadFailed] = useState(false);

  useEffect(() => {
    void loadProfile().then((p) => {
      if (p) {
        setUsername(p.username);
        setEmail(p.email ?? '');
      } else {
        setLoadFailed(true);
      }
    });
  }, [loadProfile]);

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(null);
    setSaved(false);
    try {
      const u = await api.updateMe({ username: username.trim(), email: email.trim() === '' ? null : email.trim() });
      setProfile(u);
      setUsername(u.username);
      setEmail(u.email ?? '');
      setSaved(true);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  const field = errorField(error);
  const errFor = (k: string) => (field === k ? errorMessage(error) : null);

  return (
    <Section title="Profile" id={`${id}-h`}>
      {!profile && !loadFailed ? <Spinner label="Loading profile…" /> : null}
      {loadFailed && !profile ? <ErrorAlert>Your profile could not be loaded.</ErrorAlert> : null}
      {profile ? (
        <form onSubmit={submit} className="space-y-4" noValidate>
          <div className="grid gap-4 sm:grid-cols-2">
            <div>
              <label htmlFor={`${id}-username`} className="label">
                Username
              </label>
              <input
                id={`${id}-username`}
                className="input"
                value={username}
                maxLength={128}
                autoComplete="username"
                aria-invalid={errFor('username') ? true : undefined}
                aria-describedby={errFor('username') ? `${id}-username-err` : undefined}
                onChange={(e) => setUsername(e.target.value)}
              />
              {errFor('username') ? (
                <p id={`${id}-username-err`} role="alert" className="mt-1 text-sm text-red-800">
                  {errFor('username')}
                </p>
              ) : null}
            </div>
            <div>
              <label htmlFor={`${id}-email`} className="label">
                Email
              </label>
              <input
                id={`${id}-email`}
                className="input"
                type="email"
                value={email}
                autoComplete="email"
                aria-invalid={errFor('email') ? true : undefined}
                aria-describedby={errFor('email') ? `${id}-email-err` : `${id}-email-hint`}
                onChange={(e) => setEmail(e.target.value)}
              />
              {errFor('email') ? (
                <p id={`${id}-email-err`} role="alert" className="mt-1 text-sm text-red-800">
                  {errFor('email')}
                </p>
              ) : (
                <p id={`${id}-email-hint`} className="hint">
                  Optional. Leave empty to remove it.
                </p>
              )}
            </div>
          </div>
          <dl className="grid grid-cols-[auto,1fr] gap-x-4 gap-y-1 text-sm text-gray-700">
            <dt className="text-gray-600">Role</dt>
            <dd>{profile.role === 'admin' ? 'Administrator' : 'User'}</dd>
            <dt className="text-gray-600">Member since</dt>
            <dd>{new Date(profile.created_at).toLocaleDateString()}</dd>
          </dl>
          {error && !field ? <ErrorAlert error={error} /> : null}
          <div className="flex items-center gap-3">
            <button type="submit" className="btn-primary" disabled={busy || !username.trim()}>
              Save
            </button>
            <span role="status" className="text-sm text-green-800">
              {saved ? 'Saved.' : ''}
            </span>
          </div>
        </form>
      ) : null}
    </Section>
  );
}

function Usage() {
  const id = useId();
  const [usage, setUsage] = useState<MyUsage | null>(null);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    const ctl = new AbortController();
    api.myUsage({}, ctl.signal).then(setUsage, (e) => {
      if (!ctl.signal.aborted) setError(e);
    });
    return () => ctl.abort();
  }, []);

  return (
    <Section title="Usage" id={`${id}-h`}>
      {error ? <ErrorAlert error={error} /> : null}
      {!usage && !error ? <Spinner label="Loading usage…" /> : null}
      {usage ? (
        <div className="space-y-5">
          <div className="grid gap-3 sm:grid-cols-3">
            <Stat label="Today" value={`${n(usage.today.input_tokens + usage.today.output_tokens)} tokens`} />
            <Stat
              label="Daily quota"
              value={usage.today.quota === null ? 'No quota' : `${n(usage.today.quota)} tokens`}
            />
            <Stat
              label="Remaining today"
              value={usage.today.remaining === null ? 'No quota' : `${n(usage.today.remaining)} tokens`}
            />
          </div>
          <p className="text-sm text-gray-700">
            Last {fillDays(usage.from, usage.to, []).length} days: {plural(usage.total.requests, 'request')},{' '}
            {n(usage.total.input_tokens)} input and {n(usage.total.output_tokens)} output tokens.
          </p>
          <UsageChart points={fillDays(usage.from, usage.to, usage.days)} />
        </div>
      ) : null}
    </Section>
  );
}

function Stat({ label, value }: { label: string; value: string }) {
  return (
    <div className="rounded-md bg-gray-50 px-3 py-2 ring-1 ring-gray-200">
      <div className="text-xs text-gray-600">{label}</div>
      <div className="mt-0.5 text-base font-semibold tabular-nums text-gray-900">{value}</div>
    </div>
  );
}

export function downloadJson(data: unknown, filename: string): void {
  const blob = new Blob([JSON.stringify(data, null, 2)], { type: 'application/json' });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  a.rel = 'noopener';
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function YourData() {
  const id = useId();
  const username = useAuth((s) => s.profile?.username ?? s.username);
  const signOut = useAuth((s) => s.signOut);
  const [exporting, setExporting] = useState(false);
  const [exportError, setExportError] = useState<unknown>(null);
  const [exported, setExported] = useState(false);
  const [deleting, setDeleting] = useState(false);

  async function doExport() {
    setExporting(true);
    setExportError(null);
    setExported(false);
    try {
      downloadJson(await api.exportMe(), 'mangoo-export.json');
      setExported(true);
    } catch (e) {
      setExportError(e);
    } finally {
      setExporting(false);
    }
  }

  return (
    <Section title="Your data" id={`${id}-h`}>
      <div className="space-y-6">
        <div>
          <p className="text-sm text-gray-700">
            Download everything Mangoo stores about you (profile, bots, chats, messages, usage) as one JSON file.
          </p>
          <div className="mt-3 flex items-center gap-3">
            <button type="button" className="btn-secondary" onClick={doExport} disabled={exporting}>
              Export my data
            </button>
            <span role="status" className="text-sm text-gray-700">
              {exporting ? 'Preparing your export…' : exported ? 'Downloaded mangoo-export.json.' : ''}
            </span>
          </div>
          {exportError ? <ErrorAlert error={exportError} className="mt-3" /> : null}
        </div>
        <div className="border-t border-gray-200 pt-5">
          <h3 className="font-semibold text-red-800">Delete your account</h3>
          <p className="mt-1 text-sm text-gray-700">
            This deletes your account, bots, chats and usage for good. It cannot be undone.
          </p>
          <button type="button" className="btn-danger mt-3" onClick={() => setDeleting(true)}>
            Delete my account
          </button>
        </div>
      </div>
      {deleting ? (
        <ConfirmDialog
          title="Delete your account?"
          description={
            <>
              Everything stored about you will be deleted, and you will be signed out. Type your username,{' '}
              <strong className="font-semibold">{username}</strong>, to confirm.
            </>
          }
          requireText={username}
          requireLabel="Type your username to confirm"
          confirmLabel="Delete my account"
          onClose={() => setDeleting(false)}
          onConfirm={async () => {
            await api.deleteMe();
            await signOut({ notice: 'Your account has been deleted.' });
          }}
        />
      ) : null}
    </Section>
  );
}
