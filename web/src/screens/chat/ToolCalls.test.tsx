import { act } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentRuns, ToolCalls } from './ToolCalls';
import type { UiToolCall } from './toolCallModel';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

const CALLS: UiToolCall[] = [
  { id: 't1', name: 'calculator', step: 1, input: { expression: '2*(3+4)' }, state: 'ok', result: '14', ms: 3 },
  { id: 't2', name: 'web_fetch', step: 1, input: { url: 'https://example.org/' }, state: 'failed', result: 'timed out after 20 s', ms: 20000 },
  { id: 't3', name: 'clock', step: 2, input: { zone: 'UTC' }, state: 'running', result: null, ms: null },
];

describe('ToolCalls', () => {
  let host: HTMLDivElement;
  let root: Root;
  beforeEach(() => {
    host = document.createElement('div');
    document.body.append(host);
    root = createRoot(host);
  });
  afterEach(() => {
    act(() => root.unmount());
    host.remove();
  });

  it('lists the calls in order, collapsed, each a button that opens its input and output', () => {
    act(() => root.render(<ToolCalls calls={CALLS} />));
    const list = host.querySelector('ol[aria-label="Tool calls"]');
    expect(list).not.toBeNull();
    const rows = [...host.querySelectorAll<HTMLElement>('[data-tool-call-id]')];
    expect(rows.map((r) => [r.dataset.toolName, r.dataset.toolState, r.dataset.toolStep])).toEqual([
      ['calculator', 'ok', '1'],
      ['web_fetch', 'failed', '1'],
      ['clock', 'running', '2'],
    ]);
    const buttons = rows.map((r) => r.querySelector('button')!);
    expect(buttons.map((b) => b.getAttribute('aria-expanded'))).toEqual(['false', 'false', 'false']);
    expect(buttons[0].textContent).toBe('calculator, done: 14, took 3 ms');
    expect(buttons[1].textContent).toContain('failed: timed out after 20 s');
    // running: the line is what it was asked
    expect(buttons[2].textContent).toBe('clock, running: UTC');
    const panel = (b: HTMLButtonElement) => document.getElementById(b.getAttribute('aria-controls')!)!;
    expect(buttons.every((b) => panel(b).hidden)).toBe(true);

    act(() => buttons[0].click());
    expect(buttons[0].getAttribute('aria-expanded')).toBe('true');
    expect(panel(buttons[0]).hidden).toBe(false);
    expect(rows[0].querySelector('[data-tool-input]')?.textContent).toBe('{\n  "expression": "2*(3+4)"\n}');
    expect(rows[0].querySelector('[data-tool-output]')?.textContent).toBe('14');
    expect(panel(buttons[1]).hidden).toBe(true);

    act(() => buttons[1].click());
    expect([...rows[1].querySelectorAll('dt')].map((d) => d.textContent)).toEqual(['Input', 'Error']);
    expect(rows[1].querySelector('[data-tool-output]')?.textContent).toBe('timed out after 20 s');

    act(() => buttons[0].click());
    expect(buttons[0].getAttribute('aria-expanded')).toBe('false');
    expect(panel(buttons[0]).hidden).toBe(true);
  });

  it('keeps a row open when its call gets its result', () => {
    act(() => root.render(<ToolCalls calls={[CALLS[2]]} />));
    const button = host.querySelector('button')!;
    act(() => button.click());
    expect(host.querySelector('[data-tool-output]')).toBeNull();
    act(() => root.render(<ToolCalls calls={[{ ...CALLS[2], state: 'ok', result: '12:00', ms: 1 }]} />));
    expect(host.querySelector('button')!.getAttribute('aria-expanded')).toBe('true');
    expect(host.querySelector('[data-tool-output]')?.textContent).toBe('12:00');
  });

  it('nests sub-agents as lists', () => {
    act(() =>
      root.render(
        <AgentRuns
          runs={[
            { key: 'a', path: 'orchestrator/web-reader', state: 'ok' },
            { key: 'b', path: 'orchestrator/web-reader/summarizer', state: 'running' },
          ]}
        />,
      ),
    );
    const outer = host.querySelector('ul[aria-label="Agents"]')!;
    const reader = outer.querySelector(':scope > li')!;
    expect(reader.getAttribute('data-agent-path')).toBe('orchestrator/web-reader');
    expect(reader.querySelector('ul > li')?.getAttribute('data-agent-state')).toBe('running');
    expect(reader.textContent).toContain('web-reader, done');
  });
});
