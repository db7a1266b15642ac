export function Logo({ className = 'h-7 w-7' }: { className?: string }) {
  return (
    <svg viewBox="0 0 32 32" className={className} aria-hidden="true" focusable="false">
      <path fill="#f97316" d="M16 5c7 0 12 5 12 12s-5 11-12 11S4 24 4 17 9 5 16 5z" />
      <path fill="#15803d" d="M16 6c1-3 4-4 7-3-1 3-4 4-7 3z" />
    </svg>
  );
}
