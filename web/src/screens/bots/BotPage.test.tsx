import { act } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { MemoryRouter, Route, Routes } from 'react-router-dom';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiError } from '../../api/errors';
import type { Bot, SharedBot } from '../../api/types';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

const calls = { bot: vi.fn(), setVisibility: vi.fn(), shares: vi.fn(), addShare: vi.fn(), usage: vi.fn(), pin: vi.fn(), unpin: vi.fn() };
let canPublish = false;
vi.mock('../../api/sharing', async (orig) => {
  const real = await orig<typeof import('../../api/sharing')>();
  const fwd = (k: keyof typeof calls) => (...a: unknown[]) => calls[k](...a);
  return {
    ...real,
    sharingApi: { bot: fwd('bot'), setVisibility: fwd('setVisibility'), shares: fwd('shares'), addShare: fwd('addShare'),
      usage: fwd('usage'), pin: fwd('pin'), unpin: fwd('unpin') },
  };
});
vi.mock('../../api/client', async (orig) => {
  const real = await orig<typeof import('../../api/client')>();
  return { ...real, api: { ...real.api, models: async () => ({ items: [], default: 'local' }), bots: async () => ({ items: [], next_cursor: null }) } };
});
vi.mock('../../lib/permissions', async (orig) => {
  const real = await orig<typeof import('../../lib/permissions')>();
  return { ...real, usePermissions: () => ({ admin: false, create_bots: true, publish_bots: canPublish }) };
});

const { default: BotPage } = await import('./BotPage');

const MINE = { id: 'b1', owner_id: 'u1', name: 'Keeper', description: 'Lights', model_id: 'local', instructions: 'TANGERINE',
  temperature: 0.7, max_tokens: 100, rag_enabled: false, knowledge_base_id: null, created_at: '', updated_at: '',
  visibility: 'private', use_count: 4, is_owner: true, pinned: false } as Bot;
const THEIRS: SharedBot = { id: 'b1', name: 'Keeper', description: 'Lights', model_id: 'local', visibility: 'shared',
  owner: { username: 'olga' }, use_count: 4, is_owner: false, pinned: false, rag_enabled: false, created_at: '', updated_at: '' };

const byText = (root: ParentNode, sel: string, text: string) =>
  [...root.querySelectorAll<HTMLElement>(sel)].find((e) => e.textContent?.trim() === text);
const flush = () => act(async () => { await new Promise((r) => setTimeout(r, 0)); });

describe('BotPage', () => {
  let host: HTMLDivElement;
  let root: Root;
  beforeEach(() => {
    host = document.createElement('div');
    document.body.append(host);
    root = createRoot(host);
    Object.values(calls).forEach((f) => f.mockReset());
    canPublish = false;
    calls.shares.mockResolvedValue({ items: [{ user_id: 'u2', username: 'fred', email: 'fred@example.com', created_at: '' }] });
    calls.usage.mockResolvedValue({ bot_id: 'b1', days: [{ day: new Date().toISOString().slice(0, 10), requests: 7, input_tokens: 100, output_tokens: 50 }] });
  });
  afterEach(() => {
    act(() => root.unmount());
    host.remove();
  });

  async function render() {
    await act(async () => {
      root.render(
        <MemoryRouter future={{ v7_startTransition: true, v7_relativeSplatPath: true }} initialEntries={['/bots/b1']}>
          <Routes>
            <Route path="/bots/:botId" element={<BotPage />} />
          </Routes>
        </MemoryRouter>,
      );
    });
    await flush();
    await flush();
  }

  it('shows others only the name, description and owner, with Chat and Pin', async () => {
    calls.bot.mockResolvedValue(THEIRS);
    calls.pin.mockResolvedValue({ pinned: true });
    await render();
    expect(host.querySelector('h1')!.textContent).toBe('Keeper');
    expect(host.textContent).toContain('by olga');
    expect(byText(host, 'button', 'Chat')).toBeDefined();
    expect(byText(host, 'button', 'Edit')).toBeUndefined();
    expect(host.querySelector('input[type="radio"]')).toBeNull();
    expect(calls.shares).not.toHaveBeenCalled();
    await act(async () => byText(host, 'button', 'Pin')!.click());
    await flush();
    expect(calls.pin).toHaveBeenCalledWith('b1');
    expect(byText(host, 'button', 'Unpin')).toBeDefined();
  });

  it('gives the owner visibility, the link, named people and usage; Store is disabled with the reason', async () => {
    calls.bot.mockResolvedValue(MINE);
    calls.setVisibility.mockResolvedValue({ ...MINE, visibility: 'shared' });
    await render();
    const radios = [...host.querySelectorAll<HTMLInputElement>('input[type="radio"]')];
    expect(radios.map((r) => r.value)).toEqual(['private', 'shared', 'store']);
    expect(radios[0].checked).toBe(true);
    expect(radios[2].disabled).toBe(true);
    expect(host.textContent).toContain('may not publish bots');
    expect(host.querySelector<HTMLInputElement>('input[readonly]')!.value).toBe(`${window.location.origin}/bots/b1`);
    expect(host.querySelector('[data-share="fred"]')!.textContent).toContain('fred@example.com');
    expect(host.querySelector('[data-usage-total]')!.textContent).toContain('7 requests, 150 tokens');
    expect(byText(host, 'a', 'API keys')).toBeUndefined();

    await act(async () => radios[1].click());
    await flush();
    expect(calls.setVisibility).toHaveBeenCalledWith('b1', 'shared');
    expect(host.textContent).toContain('Saved: Shared via link or named people.');
  });

  it('puts the visibility back and shows the API\u2019s message when it refuses', async () => {
    canPublish = true;
    calls.bot.mockResolvedValue(MINE);
    calls.setVisibility.mockRejectedValue(new ApiError(403, 'publish_not_allowed', 'only members of "publishers" may publish bots'));
    await render();
    expect(byText(host, 'a', 'API keys')).toBeDefined();
    const store = host.querySelector<HTMLInputElement>('input[type="radio"][value="store"]')!;
    expect(store.disabled).toBe(false);
    await act(async () => store.click());
    await flush();
    expect(host.querySelector('[role="alert"]')!.textContent).toBe('only members of "publishers" may publish bots');
    expect(host.querySelector<HTMLInputElement>('input[type="radio"][value="private"]')!.checked).toBe(true);
  });

  it('says a private or missing bot was not found', async () => {
    calls.bot.mockRejectedValue(new ApiError(404, 'bot_not_found', 'bot not found'));
    await render();
    expect(host.querySelector('h1')!.textContent).toBe('Bot not found');
  });
});
