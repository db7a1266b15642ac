import { useId, useState, type FormEvent } from 'react';
import { Link, Navigate, useLocation } from 'react-router-dom';
import type { ServerConfig } from '../../api/types';
import { ErrorAlert, errorMessage } from '../../components/ErrorAlert';
import { PageLoading } from '../../components/Loading';
import { errorField } from '../../lib/fieldErrors';
import { cognitoAuthorizeUrl } from '../../lib/pkce';
import { useTitle } from '../../lib/useTitle';
import { useAuth } from '../../store/auth';
import { AuthFrame } from './AuthFrame';
import { InputRow } from '../../components/FormRow';

type Mode = 'signin' | 'signup';

function returnPath(state: unknown): string {
  const from = (state as { from?: unknown } | null)?.from;
  return typeof from === 'string' && from.startsWith('/') && !from.startsWith('//') && from !== '/signin'
    ? from
    : '/chat';
}

export default function SignInScreen({ mode }: { mode: Mode }) {
  useTitle(mode === 'signup' ? 'Create account' : 'Sign in');
  const status = useAuth((s) => s.status);
  const config = useAuth((s) => s.config);
  const configError = useAuth((s) => s.configError);
  const notice = useAuth((s) => s.notice);
  const location = useLocation();
  const to = returnPath(location.state);

  if (status === 'signed-in') return <Navigate to={to} replace />;
  if (status === 'unknown' || (!config && !configError)) return <PageLoading />;

  if (!config) {
    return (
      <AuthFrame title="Sign in">
        <ConfigProblem message={configError ?? 'The server could not be reached.'} />
      </AuthFrame>
    );
  }

  if (config.identity === 'cognito') {
    return (
      <AuthFrame title="Sign in">
        <Notice text={notice} />
        <CognitoSignIn config={config} returnTo={to} />
      </AuthFrame>
    );
  }

  return mode === 'signup' ? (
    <AuthFrame title="Create account">
      <SignUpForm config={config} />
    </AuthFrame>
  ) : (
    <AuthFrame title="Sign in">
      <Notice text={notice} />
      <SignInForm config={config} />
    </AuthFrame>
  );
}

function Notice({ text }: { text: string | null }) {
  if (!text) return null;
  return (
    <div role="alert" className="alert-info mb-4">
      {text}
    </div>
  );
}

function ConfigProblem({ message }: { message: string }) {
  const loadConfig = useAuth((s) => s.loadConfig);
  const [busy, setBusy] = useState(false);
  return (
    <div className="space-y-4">
      <ErrorAlert>{message}</ErrorAlert>
      <button
        type="button"
        className="btn-secondary w-full"
        disabled={busy}
        onClick={async () => {
          setBusy(true);
          await loadConfig();
          setBusy(false);
        }}
      >
        Try again
      </button>
    </div>
  );
}

function CognitoSignIn({ config, returnTo }: { config: ServerConfig; returnTo: string }) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  async function go() {
    if (!config.cognito) return;
    setBusy(true);
    setError(null);
    try {
      window.location.assign(await cognitoAuthorizeUrl(config.cognito, returnTo));
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  }
  return (
    <div className="space-y-4">
      <p className="text-sm text-gray-700">You sign in to Mangoo with your organization’s account.</p>
      <ErrorAlert error={error} />
      <button type="button" className="btn-primary w-full" onClick={go} disabled={busy || !config.cognito}>
        Sign in
      </button>
    </div>
  );
}

function SignInForm({ config }: { config: ServerConfig }) {
  const login = useAuth((s) => s.login);
  const clearNotice = useAuth((s) => s.clearNotice);
  const id = useId();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(null);
    clearNotice();
    try {
      await login(username.trim(), password);
      // the store is signed in now: <Navigate> takes over
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  }

  return (
    <form onSubmit={submit} className="space-y-4" noValidate>
      <InputRow
        id={`${id}-username`}
        label="Username"
        name="username"
        autoComplete="username"
        autoCapitalize="off"
        spellCheck={false}
        required
        value={username}
        onChange={(e) => setUsername(e.target.value)}
      />
      <InputRow
        id={`${id}-password`}
        label="Password"
        name="password"
        type="password"
        autoComplete="current-password"
        required
        value={password}
        onChange={(e) => setPassword(e.target.value)}
      />
      {error ? <ErrorAlert>{errorMessage(error)}</ErrorAlert> : null}
      <button type="submit" className="btn-primary w-full" disabled={busy || !username || !password}>
        Sign in
      </button>
      <p className="text-center text-sm text-gray-700">
        {config.can_register ? (
          <>
            New to Mangoo?{' '}
            <Link to="/signup" className="link">
              Create account
            </Link>
          </>
        ) : (
          'Registration is closed on this server.'
        )}
      </p>
      {config.can_register && config.registration === 'first-admin' ? (
        <p className="hint text-center">Only the first account can be created; it becomes the administrator.</p>
      ) : null}
    </form>
  );
}

function SignUpForm({ config }: { config: ServerConfig }) {
  const register = useAuth((s) => s.register);
  const id = useId();
  const [username, setUsername] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  if (!config.can_register) {
    return (
      <div className="space-y-4">
        <p role="status" className="alert-info">
          Registration is closed on this server.
        </p>
        <p className="text-center text-sm">
          <Link to="/signin" className="link">
            Back to sign in
          </Link>
        </p>
      </div>
    );
  }

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(null);
    try {
      await register(username.trim(), password, email.trim() || null);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  }

  const field = errorField(error);
  const fieldMsg = (name: string) => (field === name ? errorMessage(error) : null);

  return (
    <form onSubmit={submit} className="space-y-4" noValidate>
      {config.registration === 'first-admin' ? (
        <p className="alert-info">Only the first account can be created; it becomes the administrator.</p>
      ) : null}
      <InputRow
        id={`${id}-username`}
        label="Username"
        name="username"
        autoComplete="username"
        autoCapitalize="off"
        spellCheck={false}
        required
        value={username}
        error={fieldMsg('username')}
        hint="3 to 64 characters: letters, digits, “.”, “_” and “-”."
        onChange={(e) => setUsername(e.target.value)}
      />
      <InputRow
        id={`${id}-email`}
        label="Email"
        name="email"
        type="email"
        autoComplete="email"
        value={email}
        error={fieldMsg('email')}
        hint="Optional."
        onChange={(e) => setEmail(e.target.value)}
      />
      <InputRow
        id={`${id}-password`}
        label="Password"
        name="password"
        type="password"
        autoComplete="new-password"
        required
        value={password}
        error={fieldMsg('password')}
        hint="At least 8 characters, with a lowercase and an uppercase letter, a digit and a symbol."
        onChange={(e) => setPassword(e.target.value)}
      />
      {error && !field ? <ErrorAlert>{errorMessage(error)}</ErrorAlert> : null}
      <button type="submit" className="btn-primary w-full" disabled={busy || !username || !password}>
        Create account
      </button>
      <p className="text-center text-sm text-gray-700">
        Already have an account?{' '}
        <Link to="/signin" className="link">
          Back to sign in
        </Link>
      </p>
    </form>
  );
}
