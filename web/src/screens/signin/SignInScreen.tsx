import { useId, useState, type FormEvent } from 'react';
import { Link, Navigate, useLocation, useSearchParams } from 'react-router-dom';
import { ApiError } from '../../api/errors';
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
        ) : config.invitations ? (
          <>
            Registration is closed on this server. Invited?{' '}
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

/** "Sign-up needs an e-mail address at example.com or example.org." */
export function domainsHint(domains: string[] | undefined): string | null {
  if (!domains || domains.length === 0) return null;
  const list = domains.map((d) => `@${d}`);
  const words = list.length === 1 ? list[0] : `${list.slice(0, -1).join(', ')} or ${list[list.length - 1]}`;
  return `Sign-up needs an e-mail address ending in ${words}, or an invitation.`;
}

function SignUpForm({ config }: { config: ServerConfig }) {
  const register = useAuth((s) => s.register);
  const id = useId();
  const [params] = useSearchParams();
  const invited = params.get('invitation') ?? '';
  const [username, setUsername] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [invitation, setInvitation] = useState(invited);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const domains = config.allowed_domains ?? [];
  const takesInvitations = config.invitations === true || invited !== '';
  const hasInvitation = invitation.trim() !== '';
  const emailNeeded = hasInvitation || domains.length > 0;

  if (!config.can_register && !takesInvitations) {
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
      await register(username.trim(), password, email.trim() || null, invitation.trim() || null);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  }

  const field = errorField(error);
  const fieldMsg = (name: string) => (field === name ? errorMessage(error) : null);

  return (
    <form onSubmit={submit} className="space-y-4" noValidate>
      {!config.can_register ? (
        <p className="alert-info">
          Registration is closed on this server: you can create an account with an invitation code.
        </p>
      ) : config.registration === 'first-admin' ? (
        <p className="alert-info">Only the first account can be created; it becomes the administrator.</p>
      ) : null}
      {config.can_register && domainsHint(domains) ? (
        <p className="alert-info" data-allowed-domains={domains.join(',')}>
          {domainsHint(domains)}
        </p>
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
        required={emailNeeded}
        hint={
          hasInvitation
            ? 'The address the invitation was sent to.'
            : domains.length > 0
              ? `Required: an address at ${domains.join(', ')}.`
              : 'Optional.'
        }
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
      {takesInvitations ? (
        <InputRow
          id={`${id}-invitation`}
          label="Invitation code"
          name="invitation"
          autoComplete="off"
          autoCapitalize="off"
          spellCheck={false}
          required={!config.can_register}
          value={invitation}
          error={fieldMsg('invitation')}
          hint={config.can_register ? 'Optional: if an administrator invited you.' : 'From your invitation.'}
          onChange={(e) => setInvitation(e.target.value)}
        />
      ) : null}
      {error && !field ? <ErrorAlert>{signUpErrorMessage(error)}</ErrorAlert> : null}
      <button
        type="submit"
        className="btn-primary w-full"
        disabled={busy || !username || !password || (!config.can_register && !hasInvitation)}
      >
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

/** The API's message, with what to do for the sign-up rules' refusals. */
function signUpErrorMessage(e: unknown): string {
  const msg = errorMessage(e);
  if (e instanceof ApiError && e.code === 'invitation_invalid') {
    return `${msg} Check the code, or ask the administrator for a new invitation.`;
  }
  if (e instanceof ApiError && e.code === 'domain_not_allowed') {
    return `${msg} Use an address in an allowed domain, or ask an administrator for an invitation.`;
  }
  return msg;
}
