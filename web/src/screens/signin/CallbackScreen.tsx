import { useEffect, useState } from 'react';
import { Link, useNavigate } from 'react-router-dom';
import { errorMessage } from '../../components/ErrorAlert';
import { Spinner } from '../../components/Loading';
import { redirectUri, takePkce } from '../../lib/pkce';
import { useAuth } from '../../store/auth';
import { AuthFrame } from './AuthFrame';

// One exchange per code, even when React runs the effect twice.
const exchanges = new Map<string, Promise<string>>();

function exchange(search: string): Promise<string> {
  const params = new URLSearchParams(search);
  const key = params.get('code') ?? params.get('error') ?? 'none';
  let p = exchanges.get(key);
  if (!p) {
    p = (async () => {
      const err = params.get('error');
      if (err) {
        const desc = params.get('error_description');
        throw new Error(`Sign-in did not complete: ${desc || err}.`);
      }
      const code = params.get('code');
      const state = params.get('state');
      const saved = takePkce();
      if (!code || !state || !saved.verifier || !saved.state || saved.state !== state) {
        throw new Error('This sign-in link is not valid any more. Please sign in again.');
      }
      await useAuth.getState().completeCognito(code, saved.verifier, redirectUri());
      return saved.returnTo && saved.returnTo.startsWith('/') && !saved.returnTo.startsWith('//')
        ? saved.returnTo
        : '/chat';
    })();
    exchanges.set(key, p);
  }
  return p;
}

export default function CallbackScreen() {
  const navigate = useNavigate();
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    exchange(window.location.search).then(
      (to) => live && navigate(to, { replace: true }),
      (e) => live && setError(errorMessage(e)),
    );
    return () => {
      live = false;
    };
  }, [navigate]);

  return (
    <AuthFrame title="Signing in">
      {error ? (
        <div className="space-y-4">
          <p role="alert" className="alert-error">
            {error}
          </p>
          <Link to="/signin" className="btn-primary w-full">
            Back to sign in
          </Link>
        </div>
      ) : (
        <Spinner label="Completing sign-in…" />
      )}
    </AuthFrame>
  );
}
