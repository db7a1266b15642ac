import { Link } from 'react-router-dom';
import { useTitle } from '../../lib/useTitle';
import { useAuth } from '../../store/auth';

export default function NotFoundScreen() {
  useTitle('Page not found');
  const signedIn = useAuth((s) => s.status === 'signed-in');
  const body = (
    <div className="mx-auto max-w-md px-4 py-16 text-center">
      <p className="text-sm font-semibold text-accent-700">404</p>
      <h1 className="mt-2 text-2xl font-semibold text-gray-900">Page not found</h1>
      <p className="mt-3 text-gray-700">There is nothing at this address.</p>
      <p className="mt-6">
        <Link to={signedIn ? '/chat' : '/signin'} className="btn-primary">
          {signedIn ? 'Back to Mangoo' : 'Go to sign in'}
        </Link>
      </p>
    </div>
  );
  return signedIn ? body : <main className="min-h-full">{body}</main>;
}
