// Small inline icons (decorative: the buttons carry the text).
const base = 'h-4 w-4 shrink-0';

export function PlusIcon({ className = base }: { className?: string }) {
  return (
    <svg viewBox="0 0 20 20" className={className} aria-hidden="true" focusable="false">
      <path d="M10 4v12M4 10h12" stroke="currentColor" strokeWidth={2} strokeLinecap="round" fill="none" />
    </svg>
  );
}

export function StopIcon({ className = base }: { className?: string }) {
  return (
    <svg viewBox="0 0 20 20" className={className} aria-hidden="true" focusable="false">
      <rect x="5" y="5" width="10" height="10" rx="1.5" fill="currentColor" />
    </svg>
  );
}

export function CloseIcon({ className = base }: { className?: string }) {
  return (
    <svg viewBox="0 0 20 20" className={className} aria-hidden="true" focusable="false">
      <path d="M5 5l10 10M15 5L5 15" stroke="currentColor" strokeWidth={2} strokeLinecap="round" fill="none" />
    </svg>
  );
}

export function MenuIcon({ className = base }: { className?: string }) {
  return (
    <svg viewBox="0 0 20 20" className={className} aria-hidden="true" focusable="false">
      <path d="M3 5h14M3 10h14M3 15h14" stroke="currentColor" strokeWidth={2} strokeLinecap="round" fill="none" />
    </svg>
  );
}

/** A turning ring (still when the reader asks for reduced motion). */
export function SpinnerIcon({ className = base }: { className?: string }) {
  return (
    <svg viewBox="0 0 20 20" className={`${className} animate-spin motion-reduce:animate-none`} aria-hidden="true" focusable="false">
      <circle cx="10" cy="10" r="7" stroke="currentColor" strokeOpacity={0.25} strokeWidth={2.5} fill="none" />
      <path d="M10 3a7 7 0 0 1 7 7" stroke="currentColor" strokeWidth={2.5} strokeLinecap="round" fill="none" />
    </svg>
  );
}

export function CheckIcon({ className = base }: { className?: string }) {
  return (
    <svg viewBox="0 0 20 20" className={className} aria-hidden="true" focusable="false">
      <path d="M4.5 10.5l3.5 3.5 7.5-8" stroke="currentColor" strokeWidth={2.2} strokeLinecap="round" strokeLinejoin="round" fill="none" />
    </svg>
  );
}

export function WarningIcon({ className = base }: { className?: string }) {
  return (
    <svg viewBox="0 0 20 20" className={className} aria-hidden="true" focusable="false">
      <path d="M10 2.5L18.5 17h-17L10 2.5z" fill="currentColor" />
      <path d="M10 8v4" stroke="white" strokeWidth={2} strokeLinecap="round" />
      <circle cx="10" cy="14.5" r="1.1" fill="white" />
    </svg>
  );
}

export function ChevronRightIcon({ className = base }: { className?: string }) {
  return (
    <svg viewBox="0 0 20 20" className={className} aria-hidden="true" focusable="false">
      <path d="M8 5l5 5-5 5" stroke="currentColor" strokeWidth={2} strokeLinecap="round" strokeLinejoin="round" fill="none" />
    </svg>
  );
}
