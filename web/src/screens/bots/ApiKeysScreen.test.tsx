import { act } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { MemoryRouter, Route, Routes } from 'react-router-dom';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ApiKey, Bot } from '../../api/types';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

const calls = {
  bot: vi.fn(),
  list: vi.fn(),
  create: vi.fn(),
  revoke: vi.fn(),
  publication: vi.fn(),
  updatePublication: vi.fn(),
};
let canPublish = true;
vi.mock('../../api/sharing', async (orig) => {
  const real = await orig<typeof import('../../api/sharing')>();
  return {
    ...real,
    sharingApi: { bot: (...a: unknown[]) => calls.bot(...a) },
    apiKeysApi: {
      list: (...a: unknown[]) => calls.list(...a),
      create: (...a: unknown[]) => calls.create(...a),
      revoke: (...a: unknown[]) => calls.revoke(...a),
      publication: (...a: unknown[]) => calls.publication(...a),
      updatePublication: (...a: unknown[]) => calls.updatePublication(...a),
    },
  };
});
vi.mock('../../lib/permissions', async (orig) => {
  const real = await orig<typeof import('../../lib/permissions')>();
  return { ...real, usePermissions: () => ({ admin: false, create_bots: true, publish_bots: canPublish }) };
});

const { default: ApiKeysScreen } = await import('./ApiKeysScreen');

const BOT = { id: 'b1', owner_id: 'u1', name: 'Weather desk', description: '', model_id: 'local', instructions: 'secret',
  temperature: 0.7, max_tokens: 100, rag_enabled: false, knowledge_base_id: null, created_at: '', updated_at: '',
  visibility: 'private', is_owner: true } as Bot;
const KEY: ApiKey = { id: 'k1', name: 'Old key', prefix: 'mgk_AAAAAAAA', rate_per_second: 5, burst: 10, expires_at: null,
  revoked_at: null, created_at: '2026-12-01T00:00:00Z', last_used_at: null, today: { requests: 3, input_tokens: 10, output_tokens: 20 } };
const SECRET = 'mgk_' + 'Z'.repeat(43);

function type(el: HTMLInputElement, value: string) {
  const set = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value')!.set!;
  set.call(el, value);
  el.dispatchEvent(new Event('input', { bubbles: true }));
}
const byText = (root: ParentNode, sel: string, text: string) =>
  [...root.querySelectorAll<HTMLElement>(sel)].find((e) => e.textContent?.trim() === text);
const flush = () => act(async () => { await new Promise((r) => setTimeout(r, 0)); });

describe('ApiKeysScreen', () => {
  let host: HTMLDivElement;
  let root: Root;
  beforeEach(() => {
    host = document.createElement('div');
    host.id = 'root';
    document.body.append(host);
    root = createRoot(host);
    Object.values(calls).forEach((f) => f.mockReset());
    canPublish = true;
    calls.bot.mockResolvedValue(BOT);
    calls.list.mockResolvedValue({ items: [KEY] });
    calls.publication.mockResolvedValue({ quota_requests: null, quota_tokens: 5000, endpoint: '/api/v1/published/b1/chat', stream_endpoint: '/api/v1/published/b1/chat/stream' });
  });
  afterEach(() => {
    act(() => root.unmount());
    host.remove();
    document.body.innerHTML = '';
  });

  async function render() {
    await act(async () => {
      root.render(
        <MemoryRouter future={{ v7_startTransition: true, v7_relativeSplatPath: true }} initialEntries={['/bots/b1/api-keys']}>
          <Routes>
            <Route path="/bots/:botId/api-keys" element={<ApiKeysScreen />} />
          </Routes>
        </MemoryRouter>,
      );
    });
    await flush();
  }

  it('lists the keys and the quota, and shows a new key once with its curl', async () => {
    await render();
    const row = host.querySelector<HTMLElement>('tr[data-key-id="k1"]')!;
    expect(row.dataset.state).toBe('active');
    expect(row.textContent).toContain('mgk_AAAAAAAA…');
    expect(row.textContent).toContain('3 req · 30 tok');
    const quota = [...host.querySelectorAll('input')].map((i) => i.value);
    expect(quota).toContain('5000');

    calls.create.mockResolvedValue({ ...KEY, id: 'k2', name: 'CI', prefix: SECRET.slice(0, 12), today: undefined, key: SECRET });
    act(() => byText(host, 'button', 'Create API key')!.click());
    const dialog = document.querySelector<HTMLElement>('[role="dialog"]')!;
    const name = dialog.querySelector<HTMLInputElement>('input')!;
    act(() => type(name, 'CI'));
    await act(async () => byText(dialog, 'button', 'Create key')!.click());
    await flush();
    expect(calls.create).toHaveBeenCalledWith('b1', { name: 'CI', rate_per_second: 5, burst: 10, expires_at: null });
    const shown = document.querySelector<HTMLElement>('[role="dialog"]')!;
    expect(shown.querySelector<HTMLInputElement>('[data-api-key]')!.value).toBe(SECRET);
    const curl = shown.querySelector('[data-curl="json"]')!.textContent!;
    expect(curl).toContain(`${window.location.origin}/api/v1/published/b1/chat`);
    expect(curl).toContain(`-H 'X-API-Key: ${SECRET}'`);
    expect(curl).toContain(`-d '{"message":"Hello"}'`);
    expect(shown.querySelector('[data-curl="stream"]')!.textContent).toContain('/chat/stream');

    act(() => byText(shown, 'button', 'Done')!.click());
    expect(document.querySelector('[role="dialog"]')).toBeNull();
    expect(document.body.innerHTML).not.toContain(SECRET);
    expect(host.querySelector('tr[data-key-id="k2"]')!.textContent).toContain(`${SECRET.slice(0, 12)}…`);
  });

  it('revokes a key after asking', async () => {
    await render();
    calls.revoke.mockResolvedValue({ ...KEY, revoked_at: '2026-12-06T01:00:00Z' });
    act(() => host.querySelector<HTMLButtonElement>('button[aria-label="Revoke Old key"]')!.click());
    const dialog = document.querySelector<HTMLElement>('[role="dialog"]')!;
    await act(async () => byText(dialog, 'button', 'Revoke')!.click());
    await flush();
    expect(calls.revoke).toHaveBeenCalledWith('b1', 'k1');
    expect(host.querySelector<HTMLElement>('tr[data-key-id="k1"]')!.dataset.state).toBe('revoked');
  });

  it('says why when the user may not publish', async () => {
    canPublish = false;
    await render();
    expect(host.textContent).toContain('may not publish bots');
    expect(calls.list).not.toHaveBeenCalled();
  });
});
