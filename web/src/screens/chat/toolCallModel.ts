// The tool calls (and sub-agents) of an agent's answer, one view model for
// both sources: the live turn's `tool_call` / `tool_result` / `agent`
// events, and a stored message's `steps`.  Every function here is pure and
// takes the server's data as unknown: anything not in the expected shape is
// skipped, never thrown on.

export type ToolCallState = 'running' | 'ok' | 'failed';

export interface UiToolCall {
  /** The model's id for the call ("tooluse_1"); unique within a turn. */
  id: string;
  name: string;
  /** The model call (1-based) that asked for it. */
  step: number;
  /** The arguments, as the model gave them (a JSON object). */
  input: unknown;
  state: ToolCallState;
  /** The tool's answer, or the error when it failed; null while running. */
  result: string | null;
  /** How long it took; null while running or when not known. */
  ms: number | null;
}

export interface UiAgentRun {
  /** Stable React key. */
  key: string;
  /** "orchestrator/web-reader": the agents that handed over, then this one. */
  path: string;
  state: ToolCallState;
}

/** Why a call still running when the answer ended has no result. */
export const NO_RESULT_STOPPED = 'Stopped before the tool finished.';
export const NO_RESULT_ENDED = 'No result: the answer ended before the tool finished.';

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function finite(x: unknown): number | null {
  return typeof x === 'number' && Number.isFinite(x) ? x : null;
}

// ---- the live turn ----------------------------------------------------------

/** A `tool_call` event: the call is added, running, after those before it.
 * The same list comes back when the event is malformed or its id is already
 * there. */
export function addToolCall(calls: UiToolCall[] | null, data: unknown): UiToolCall[] | null {
  if (!isObject(data) || typeof data.id !== 'string' || !data.id || typeof data.name !== 'string') return calls;
  const id = data.id;
  if (calls?.some((c) => c.id === id)) return calls;
  const step = finite(data.step);
  const call: UiToolCall = {
    id,
    name: data.name,
    step: step !== null && step > 0 ? step : 1,
    input: 'input' in data ? data.input : {},
    state: 'running',
    result: null,
    ms: null,
  };
  return [...(calls ?? []), call];
}

/** A `tool_result` event: the call with its id becomes ok or failed.  The
 * same list comes back when no call has that id (or the event is
 * malformed). */
export function applyToolResult(calls: UiToolCall[] | null, data: unknown): UiToolCall[] | null {
  if (!calls || !isObject(data) || typeof data.id !== 'string') return calls;
  const i = calls.findIndex((c) => c.id === data.id);
  if (i < 0) return calls;
  const ok = data.ok === true;
  const summary = typeof data.summary === 'string' ? data.summary : '';
  const next = calls.slice();
  next[i] = {
    ...calls[i],
    state: ok ? 'ok' : 'failed',
    result: summary || (ok ? '' : 'The tool failed.'),
    ms: finite(data.ms),
  };
  return next;
}

/** The answer ended: calls still running get no result and are shown
 * failed, with the reason. */
export function settleToolCalls(calls: UiToolCall[] | null, reason: string): UiToolCall[] | null {
  if (!calls || !calls.some((c) => c.state === 'running')) return calls;
  return calls.map((c) => (c.state === 'running' ? { ...c, state: 'failed', result: reason } : c));
}

/** An `agent` event: `start` adds a running sub-agent; `end` settles the
 * latest running one with that path (an end without a start is ignored). */
export function applyAgentEvent(runs: UiAgentRun[] | null, data: unknown): UiAgentRun[] | null {
  if (!isObject(data) || typeof data.path !== 'string' || !data.path) return runs;
  const path = data.path;
  const list = runs ?? [];
  if (data.state === 'start') {
    return [...list, { key: `${path}#${list.length}`, path, state: 'running' }];
  }
  if (data.state === 'end') {
    for (let i = list.length - 1; i >= 0; i--) {
      if (list[i].path === path && list[i].state === 'running') {
        const next = list.slice();
        next[i] = { ...list[i], state: data.ok === false ? 'failed' : 'ok' };
        return next;
      }
    }
  }
  return runs;
}

/** The answer ended: sub-agents still running are shown failed. */
export function settleAgents(runs: UiAgentRun[] | null): UiAgentRun[] | null {
  if (!runs || !runs.some((r) => r.state === 'running')) return runs;
  return runs.map((r) => (r.state === 'running' ? { ...r, state: 'failed' } : r));
}

export interface AgentNode {
  run: UiAgentRun;
  children: AgentNode[];
}

/** Sub-agents as a tree: each under the latest earlier run whose path is
 * the longest prefix of its own. */
export function agentTree(runs: UiAgentRun[]): AgentNode[] {
  const roots: AgentNode[] = [];
  const nodes: AgentNode[] = [];
  for (const run of runs) {
    const node: AgentNode = { run, children: [] };
    let parent: AgentNode | null = null;
    for (let i = nodes.length - 1; i >= 0; i--) {
      const p = nodes[i].run.path;
      if (run.path.startsWith(`${p}/`) && (!parent || p.length > parent.run.path.length)) parent = nodes[i];
    }
    (parent ? parent.children : roots).push(node);
    nodes.push(node);
  }
  return roots;
}

// ---- a stored message ---------------------------------------------------------

/** A stored message's `steps`, in order, as the same view model as the live
 * turn's calls; null when there are none. */
export function toolCallsFromSteps(steps: unknown): UiToolCall[] | null {
  if (!Array.isArray(steps)) return null;
  const out: UiToolCall[] = [];
  const seen = new Set<string>();
  steps.forEach((st, index) => {
    if (!isObject(st) || !Array.isArray(st.tool_calls)) return;
    const n = finite(st.step);
    const step = n !== null && n > 0 ? n : index + 1;
    for (const c of st.tool_calls) {
      if (!isObject(c) || typeof c.id !== 'string' || typeof c.name !== 'string' || seen.has(c.id)) continue;
      seen.add(c.id);
      const ok = c.ok === true;
      const text = ok ? c.output : c.error;
      out.push({
        id: c.id,
        name: c.name,
        step,
        input: 'input' in c ? c.input : {},
        state: ok ? 'ok' : 'failed',
        result: typeof text === 'string' ? text : ok ? '' : 'The tool failed.',
        ms: finite(c.ms),
      });
    }
  });
  return out.length > 0 ? out : null;
}

// ---- shown ------------------------------------------------------------------------

/** The first line of a text, whitespace collapsed, at most `max` characters. */
export function oneLine(text: string, max = 140): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** The input in a line: a lone scalar argument as itself ("2*(3+4)"), else
 * compact JSON. */
export function inputPreview(input: unknown, max = 140): string {
  if (isObject(input)) {
    const values = Object.values(input);
    if (values.length === 0) return '';
    if (values.length === 1 && (typeof values[0] === 'string' || typeof values[0] === 'number')) {
      return oneLine(String(values[0]), max);
    }
  }
  return oneLine(compactJson(input), max);
}

function compactJson(x: unknown): string {
  try {
    return JSON.stringify(x) ?? '';
  } catch {
    return String(x);
  }
}

/** The input for reading: JSON indented by two spaces. */
export function prettyJson(x: unknown): string {
  try {
    return JSON.stringify(x, null, 2) ?? String(x);
  } catch {
    return String(x);
  }
}

/** "3 ms", "1.2 s", "2 min 5 s" */
export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${s % 60} s`;
}
