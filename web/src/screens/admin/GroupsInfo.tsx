import { useEffect, useState } from 'react';
import { ApiError } from '../../api/errors';
import { signupApi } from '../../api/sharing';
import type { AdminPermissions } from '../../api/types';
import { ErrorAlert } from '../../components/ErrorAlert';

/** The configured group names (environment, read-only). */
export function GroupsInfo() {
  const [perm, setPerm] = useState<AdminPermissions | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    const ctl = new AbortController();
    signupApi.permissions(ctl.signal).then(setPerm, (e) => {
      if (!ctl.signal.aborted) setError(e);
    });
    return () => ctl.abort();
  }, []);
  if (error instanceof ApiError && error.status === 404) return null;
  return (
    <div className="border-t border-gray-200 pt-4" data-permission-groups="">
      <h3 className="text-base font-semibold text-gray-900">Permission groups</h3>
      {error ? <ErrorAlert error={error} className="mt-2" /> : null}
      {perm ? (
        <dl className="mt-2 grid grid-cols-[auto,1fr] gap-x-4 gap-y-1 text-sm">
          <dt className="text-gray-600">Administrators</dt>
          <dd>
            <code>{perm.admin_group}</code>
          </dd>
          <dt className="text-gray-600">May create bots</dt>
          <dd>{perm.create_group ? <code>{perm.create_group}</code> : 'Every user'}</dd>
          <dt className="text-gray-600">May publish bots</dt>
          <dd>
            <code>{perm.publish_group}</code> (and administrators)
          </dd>
        </dl>
      ) : null}
      <p className="hint">Set on the server (MANGOO_CREATE_GROUP, MANGOO_PUBLISH_GROUP). Give users groups on the Users tab.</p>
    </div>
  );
}

