import type { AgentStatus } from '../../api/types';
import { STATUS_TEXT } from './agents/agentForm';

const BADGE = 'inline-flex items-center rounded-full px-2 py-0.5 text-xs font-medium ring-1';

const STATUS_CLASS: Record<AgentStatus, string> = {
  draft: 'bg-gray-100 text-gray-800 ring-gray-300',
  published: 'bg-green-50 text-green-800 ring-green-200',
  retired: 'bg-amber-50 text-amber-900 ring-amber-200',
};

export function StatusBadge({ status }: { status: AgentStatus }) {
  return (
    <span className={`${BADGE} ${STATUS_CLASS[status] ?? STATUS_CLASS.draft}`} data-badge="status">
      {STATUS_TEXT[status] ?? status}
    </span>
  );
}

export function Badge({ tone = 'gray', children }: { tone?: 'gray' | 'green' | 'red' | 'blue'; children: React.ReactNode }) {
  const cls =
    tone === 'green'
      ? 'bg-green-50 text-green-800 ring-green-200'
      : tone === 'red'
        ? 'bg-red-50 text-red-800 ring-red-200'
        : tone === 'blue'
          ? 'bg-sky-50 text-sky-900 ring-sky-200'
          : 'bg-gray-100 text-gray-800 ring-gray-300';
  return <span className={`${BADGE} ${cls}`}>{children}</span>;
}
