export function Spinner({ label = 'Loading…' }: { label?: string }) {
  return (
    <span className="inline-flex items-center gap-2 text-sm text-gray-600" role="status">
      <span
        aria-hidden="true"
        className="h-4 w-4 animate-spin rounded-full border-2 border-gray-300 border-t-accent-600 motion-reduce:animate-none"
      />
      {label}
    </span>
  );
}

export function PageLoading() {
  return (
    <div className="flex h-full min-h-[50vh] items-center justify-center">
      <Spinner />
    </div>
  );
}
