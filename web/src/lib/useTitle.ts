import { useEffect } from 'react';

/** The document title for a screen: "<page> · Mangoo". */
export function useTitle(page: string | null | undefined): void {
  useEffect(() => {
    document.title = page ? `${page} · Mangoo` : 'Mangoo';
  }, [page]);
}
