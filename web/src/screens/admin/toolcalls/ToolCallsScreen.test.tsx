import { act } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { MemoryRouter } from 'react-router-dom';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { AdminToolCall } from '../../../api/types';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

const adminToolCalls = vi.fn();
vi.mock('../../../api/client', () => ({ api: { adminToolCalls: (...a: unknown[]) => adminToolCalls(...a) } }));

const { default: ToolCallsScreen } = await import('./ToolCallsScreen');

const ROW: AdminToolCall = {
  id: 'r1',
  user_id: 'u1',
  username: 'ann',
  chat_id: 'c1',
  message_id: 'm1',
  agent_id: 'a1',
  step: 1,
  call_id: 'call_1',
  tool: 'calculator',
  input: { expression: '2+3' },
  ok: true,
  output: '5',
  error: null,
  duration_ms: 3,
  created_at: '2024-05-01T10:00:00Z',
};

describe('ToolCallsScreen', () => {
  let host: HTMLDivElement;
  let root: Root;
  beforeEach(() => {
    host = document.createElement('div');
    document.body.append(host);
    root = createRoot(host);
    adminToolCalls.mockReset();
  });
  afterEach(() => {
    act(() => root.unmount());
    host.remove();
  });

  it('lists the calls with the filters from the address, each opening its input and output', async () => {
    adminToolCalls.mockResolvedValue({
      items: [ROW, { ...ROW, id: 'r2', ok: false, output: null, error: 'bad expression', username: null }],
      next_cursor: 'next',
    });
    await act(async () => {
      root.render(
        <MemoryRouter future={{ v7_startTransition: true, v7_relativeSplatPath: true }} initialEntries={['/admin/tool-calls?user_id=u1&tool=calculator']}>
          <ToolCallsScreen />
        </MemoryRouter>,
      );
    });
    expect(adminToolCalls).toHaveBeenCalledWith({ user_id: 'u1', tool: 'calculator', limit: 50, cursor: null });
    const rows = [...host.querySelectorAll<HTMLElement>('[data-tool-call-row]')];
    expect(rows.map((r) => [r.dataset.ok, r.dataset.tool])).toEqual([
      ['true', 'calculator'],
      ['false', 'calculator'],
    ]);
    expect(rows[0].querySelector('[data-tool-summary]')!.textContent).toBe('2+3 → 5');
    expect(rows[1].textContent).toContain('by u1');
    const button = rows[0].querySelector<HTMLButtonElement>('button[aria-expanded]')!;
    expect(button.getAttribute('aria-expanded')).toBe('false');
    expect(rows[0].querySelector('[data-tool-input]')).toBeNull();
    act(() => button.click());
    expect(button.getAttribute('aria-expanded')).toBe('true');
    expect(rows[0].querySelector('[data-tool-input]')!.textContent).toBe('{\n  "expression": "2+3"\n}');
    expect(rows[0].querySelector('[data-tool-output]')!.textContent).toBe('5');
    const more = [...host.querySelectorAll('button')].find((b) => b.textContent === 'Load more tool calls');
    expect(more).toBeDefined();
  });
});
