import { useEffect, useId, useRef, type ReactNode, type RefObject } from 'react';
import { createPortal } from 'react-dom';

const FOCUSABLE =
  'a[href], button:not([disabled]), input:not([disabled]):not([type="hidden"]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

// While a dialog is open the rest of the app is inert and hidden from
// assistive technology (the dialog lives outside #root, in a portal).
let openDialogs = 0;

function setBackgroundInert(on: boolean): void {
  const root = document.getElementById('root');
  if (!root) return;
  if (on) {
    root.setAttribute('aria-hidden', 'true');
    root.setAttribute('inert', '');
  } else {
    root.removeAttribute('aria-hidden');
    root.removeAttribute('inert');
  }
}

export interface DialogProps {
  title: string;
  onClose: () => void;
  children: ReactNode;
  /** What gets focus when the dialog opens (default: its first field or
   * button). */
  initialFocus?: RefObject<HTMLElement>;
  description?: ReactNode;
  size?: 'sm' | 'md' | 'lg';
}

/**
 * A modal dialog: focus moves in and stays in (Tab cycles), Escape or the
 * backdrop closes it, and focus returns to what had it before.
 */
export function Dialog({ title, onClose, children, initialFocus, description, size = 'md' }: DialogProps) {
  const ref = useRef<HTMLDivElement>(null);
  const titleId = useId();
  const descId = useId();
  const onCloseRef = useRef(onClose);
  onCloseRef.current = onClose;

  useEffect(() => {
    const previous = document.activeElement as HTMLElement | null;
    const node = ref.current;
    openDialogs += 1;
    if (openDialogs === 1) setBackgroundInert(true);
    const first =
      initialFocus?.current ?? node?.querySelector<HTMLElement>(FOCUSABLE) ?? node;
    first?.focus();

    function onKey(e: KeyboardEvent) {
      if (e.key === 'Escape') {
        e.stopPropagation();
        onCloseRef.current();
        return;
      }
      if (e.key !== 'Tab' || !node) return;
      const items = Array.from(node.querySelectorAll<HTMLElement>(FOCUSABLE)).filter(
        (el) => el.offsetParent !== null || el === document.activeElement,
      );
      if (items.length === 0) {
        e.preventDefault();
        node.focus();
        return;
      }
      const firstEl = items[0];
      const lastEl = items[items.length - 1];
      const active = document.activeElement;
      if (e.shiftKey && (active === firstEl || !node.contains(active))) {
        e.preventDefault();
        lastEl.focus();
      } else if (!e.shiftKey && (active === lastEl || !node.contains(active))) {
        e.preventDefault();
        firstEl.focus();
      }
    }
    document.addEventListener('keydown', onKey, true);
    const { overflow } = document.body.style;
    document.body.style.overflow = 'hidden';
    return () => {
      document.removeEventListener('keydown', onKey, true);
      document.body.style.overflow = overflow;
      openDialogs -= 1;
      if (openDialogs === 0) setBackgroundInert(false);
      // back to what had focus; if it is gone (e.g. the dialog was opened
      // by a link that navigated), to the page's main region
      if (previous && document.contains(previous) && previous !== document.body) previous.focus();
      else document.getElementById('main')?.focus();
    };
    // open once per mount
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  const width = size === 'sm' ? 'max-w-sm' : size === 'lg' ? 'max-w-2xl' : 'max-w-lg';

  return createPortal(
    <div className="fixed inset-0 z-50 flex items-end justify-center p-0 sm:items-center sm:p-4">
      <div
        className="absolute inset-0 bg-gray-900/50"
        aria-hidden="true"
        onMouseDown={() => onCloseRef.current()}
      />
      <div
        ref={ref}
        role="dialog"
        aria-modal="true"
        aria-labelledby={titleId}
        aria-describedby={description ? descId : undefined}
        tabIndex={-1}
        className={`relative max-h-[90vh] w-full ${width} overflow-y-auto rounded-t-xl bg-white p-5 shadow-xl focus-visible:ring-0 sm:rounded-xl`}
      >
        <h2 id={titleId} className="text-lg font-semibold text-gray-900">
          {title}
        </h2>
        {description ? (
          <div id={descId} className="mt-2 text-sm text-gray-700">
            {description}
          </div>
        ) : null}
        <div className="mt-4">{children}</div>
      </div>
    </div>,
    document.body,
  );
}
