// @vitest-environment node
import { describe, expect, it } from 'vitest';
import {
  addToolCall,
  agentTree,
  applyAgentEvent,
  applyToolResult,
  formatMs,
  inputPreview,
  oneLine,
  prettyJson,
  toolCallsFromSteps,
  type UiAgentRun,
} from './toolCallModel';

describe('tool call view model', () => {
  it('returns the same list for events it cannot use', () => {
    const calls = addToolCall(null, { id: 't1', name: 'calculator', input: { expression: '1' }, step: 1 });
    expect(calls).toHaveLength(1);
    for (const bad of [null, 'x', [], { id: 't2' }, { name: 'calculator' }, { id: '', name: 'x' }, { id: 't1', name: 'calculator' }]) {
      expect(addToolCall(calls, bad)).toBe(calls);
    }
    for (const bad of [null, { ok: true }, { id: 'other', ok: true, summary: 'x' }]) {
      expect(applyToolResult(calls, bad)).toBe(calls);
    }
    expect(applyToolResult(null, { id: 't1', ok: true, summary: 'x' })).toBeNull();
  });

  it('a failed result without a summary still says it failed; a missing step is the first', () => {
    const calls = addToolCall(null, { id: 't1', name: 'web_fetch', input: { url: 'u' } });
    expect(calls?.[0].step).toBe(1);
    expect(applyToolResult(calls, { id: 't1', ok: false, ms: 4 })?.[0]).toMatchObject({ state: 'failed', result: 'The tool failed.', ms: 4 });
  });

  it('skips stored steps and calls not in the expected shape', () => {
    expect(toolCallsFromSteps(null)).toBeNull();
    expect(toolCallsFromSteps('x')).toBeNull();
    expect(toolCallsFromSteps([])).toBeNull();
    const calls = toolCallsFromSteps([
      null,
      { step: 2, tool_calls: 'no' },
      { tool_calls: [{ id: 'a', name: 'clock', input: {}, ok: true, output: null, error: null }, { name: 'no id' }, 7] },
      { step: 4, tool_calls: [{ id: 'b', name: 'calculator', input: { expression: 'x' }, ok: false, output: null, error: null, ms: 2 }] },
    ]);
    expect(calls).toEqual([
      { id: 'a', name: 'clock', step: 3, input: {}, state: 'ok', result: '', ms: null },
      { id: 'b', name: 'calculator', step: 4, input: { expression: 'x' }, state: 'failed', result: 'The tool failed.', ms: 2 },
    ]);
  });

  it('nests sub-agents under the run whose path they extend', () => {
    let runs: UiAgentRun[] | null = null;
    for (const [path, state, ok] of [
      ['orchestrator', 'start'],
      ['orchestrator/web-reader', 'start'],
      ['orchestrator/web-reader/summarizer', 'start'],
      ['orchestrator/web-reader/summarizer', 'end', true],
      ['orchestrator/web-reader', 'end', true],
      ['orchestrator/calc', 'start'],
      ['other', 'start'],
    ] as const) {
      runs = applyAgentEvent(runs, { path, state, ok });
    }
    const shape = (nodes: ReturnType<typeof agentTree>): unknown =>
      nodes.map((n) => [n.run.path, n.run.state, shape(n.children)]);
    expect(shape(agentTree(runs ?? []))).toEqual([
      [
        'orchestrator',
        'running',
        [
          ['orchestrator/web-reader', 'ok', [['orchestrator/web-reader/summarizer', 'ok', []]]],
          ['orchestrator/calc', 'running', []],
        ],
      ],
      ['other', 'running', []],
    ]);
    expect(applyAgentEvent(runs, { path: 'x', state: 'middle' })).toBe(runs);
  });

  it('shows a line of the input and result, the input as indented JSON, and durations', () => {
    expect(inputPreview({ expression: '2*(3+4)' })).toBe('2*(3+4)');
    expect(inputPreview({ a: 1, b: 'x' })).toBe('{"a":1,"b":"x"}');
    expect(inputPreview({})).toBe('');
    expect(oneLine('line one\n  line two\t')).toBe('line one line two');
    expect(oneLine('x'.repeat(200), 10)).toBe(`${'x'.repeat(9)}…`);
    expect(prettyJson({ expression: '2*(3+4)' })).toBe('{\n  "expression": "2*(3+4)"\n}');
    expect([3, 999, 1234, 20000, 125000].map(formatMs)).toEqual(['3 ms', '999 ms', '1.2 s', '20 s', '2 min 5 s']);
  });
});
