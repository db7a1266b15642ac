import { lazy, type ReactNode } from 'react';
import { Navigate, useLocation } from 'react-router-dom';
import { useAuth } from '../store/auth';
import { PageLoading } from './Loading';

/** Signed-in users only; others go to /signin and come back after. */
export function RequireAuth({ children }: { children: ReactNode }) {
  const status = useAuth((s) => s.status);
  const location = useLocation();
  if (status === 'unknown') return <PageLoading />;
  if (status !== 'signed-in') {
    const from = location.pathname + location.search + location.hash;
    return <Navigate to="/signin" replace state={{ from }} />;
  }
  return <>{children}</>;
}

const NotFoundScreen = lazy(() => import('../screens/notfound/NotFoundScreen'));

/** Administrators only (group "admin"); to anyone else the page does not
 * exist. */
export function RequireAdmin({ children }: { children: ReactNode }) {
  const isAdmin = useAuth((s) => s.isAdmin);
  if (!isAdmin) return <NotFoundScreen />;
  return <>{children}</>;
}
