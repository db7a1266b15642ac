import type { ReactNode } from 'react';
import { Logo } from '../../components/Logo';

/** The centered card the signed-out screens share. */
export function AuthFrame({ title, children }: { title: string; children: ReactNode }) {
  return (
    <main className="flex min-h-full items-start justify-center bg-gray-50 px-4 py-10 sm:items-center">
      <div className="w-full max-w-sm">
        <div className="mb-6 flex items-center justify-center gap-2">
          <Logo className="h-9 w-9" />
          <span className="text-2xl font-semibold tracking-tight text-gray-900">Mangoo</span>
        </div>
        <div className="card p-6">
          <h1 className="mb-5 text-xl font-semibold text-gray-900">{title}</h1>
          {children}
        </div>
      </div>
    </main>
  );
}
