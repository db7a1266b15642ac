import { ErrorAlert } from './ErrorAlert';
import { Spinner } from './Loading';

interface Props {
  error: unknown;
  loading: boolean;
  /** The first page has arrived. */
  loaded: boolean;
  /** The spinner's words until then, "Loading bots…". */
  label: string;
  onRetry: () => void;
}

/** A paged list's failure (with "Try again") and first load. */
export function ListStatus({ error, loading, loaded, label, onRetry }: Props) {
  return (
    <>
      {error ? (
        <div className="mt-4 space-y-2">
          <ErrorAlert error={error} />
          <button type="button" className="btn-secondary btn-sm" onClick={onRetry}>
            Try again
          </button>
        </div>
      ) : null}

      {!loaded && loading ? (
        <div className="mt-6">
          <Spinner label={label} />
        </div>
      ) : null}
    </>
  );
}
