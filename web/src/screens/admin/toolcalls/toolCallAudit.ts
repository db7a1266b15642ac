// The tool-call audit's rows as the admin screen shows them.
import type { AdminToolCall } from '../../../api/types';
import { inputPreview, oneLine } from '../../chat/toolCallModel';

/** "2+3 → 5", "x/0 → failed: division by zero": the input and the result
 * in a line. */
export function toolCallSummary(c: Pick<AdminToolCall, 'input' | 'ok' | 'output' | 'error'>, max = 160): string {
  const input = inputPreview(c.input, max);
  const result = c.ok ? oneLine(c.output ?? '', max) : `failed: ${oneLine(c.error ?? '', max)}`;
  const line = input ? `${input} → ${result}` : result;
  return oneLine(line, max);
}

/** Who made the call: the username, else the user id. */
export function toolCallUser(c: Pick<AdminToolCall, 'username' | 'user_id'>): string {
  return c.username || c.user_id;
}

/** The filters in the address (?user_id=&tool=), trimmed; empty ones left out. */
export function auditQuery(userId: string, tool: string): { user_id?: string; tool?: string } {
  const q: { user_id?: string; tool?: string } = {};
  if (userId.trim()) q.user_id = userId.trim();
  if (tool.trim()) q.tool = tool.trim();
  return q;
}
