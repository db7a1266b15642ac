// An agent's tool calls inside its answer, above the text: one compact row
// each (state, tool, a line of its result, how long it took), collapsed;
// the row's button opens the input as JSON and the whole output or error.
// The sub-agents of a live turn are a nested list above them.

import { memo, useId, useMemo, useState } from 'react';
import { CheckIcon, ChevronRightIcon, SpinnerIcon, WarningIcon } from '../../components/Icons';
import {
  agentTree,
  formatMs,
  inputPreview,
  oneLine,
  prettyJson,
  type AgentNode,
  type ToolCallState,
  type UiAgentRun,
  type UiToolCall,
} from './toolCallModel';

/** What a screen reader hears after the tool's name. */
const STATE_TEXT: Record<ToolCallState, string> = { running: 'running', ok: 'done', failed: 'failed' };

function StateIcon({ state }: { state: ToolCallState }) {
  if (state === 'running') return <SpinnerIcon className="h-4 w-4 shrink-0 text-accent-600" />;
  if (state === 'ok') return <CheckIcon className="h-4 w-4 shrink-0 text-green-700" />;
  return <WarningIcon className="h-4 w-4 shrink-0 text-amber-600" />;
}

const PRE =
  'max-h-60 overflow-auto whitespace-pre-wrap break-words rounded bg-white p-2 font-mono text-xs leading-snug text-gray-900 ring-1 ring-gray-200';

export function ToolCalls({ calls }: { calls: UiToolCall[] }) {
  return (
    <ol aria-label="Tool calls" className="mb-3 space-y-1.5">
      {calls.map((c) => (
        <ToolCallRow key={c.id} call={c} />
      ))}
    </ol>
  );
}

const ToolCallRow = memo(function ToolCallRow({ call: c }: { call: UiToolCall }) {
  const [open, setOpen] = useState(false);
  const panelId = useId();
  const input = useMemo(() => prettyJson(c.input), [c.input]);
  // while it runs, what it was asked; then what it answered
  const line = c.state === 'running' ? inputPreview(c.input) : oneLine(c.result ?? '');
  const failed = c.state === 'failed';
  return (
    <li
      data-tool-call-id={c.id}
      data-tool-name={c.name}
      data-tool-state={c.state}
      data-tool-step={c.step}
      className="min-w-0 rounded-md bg-gray-50 ring-1 ring-gray-200"
    >
      <button
        type="button"
        aria-expanded={open}
        aria-controls={panelId}
        onClick={() => setOpen((o) => !o)}
        className="flex w-full min-w-0 items-center gap-2 rounded-md px-2.5 py-1.5 text-left text-sm hover:bg-gray-100"
      >
        <StateIcon state={c.state} />
        <span className="max-w-[40%] shrink-0 truncate font-mono text-[0.8rem] font-medium text-gray-900">{c.name}</span>
        <span className="sr-only">
          {`, ${STATE_TEXT[c.state]}${line ? ':' : ''} `}
        </span>
        <span className={`min-w-0 flex-1 truncate ${failed ? 'text-red-800' : 'text-gray-600'}`}>{line}</span>
        {c.ms !== null ? (
          <span className="shrink-0 text-xs tabular-nums text-gray-600">
            <span className="sr-only">, took </span>
            {formatMs(c.ms)}
          </span>
        ) : null}
        <ChevronRightIcon
          className={`h-4 w-4 shrink-0 text-gray-500 transition-transform motion-reduce:transition-none ${open ? 'rotate-90' : ''}`}
        />
      </button>
      <div id={panelId} hidden={!open} className="border-t border-gray-200 px-2.5 pb-2.5 pt-2">
        <dl className="space-y-2 text-xs">
          <div>
            <dt className="mb-1 font-semibold text-gray-700">Input</dt>
            <dd>
              <pre data-tool-input="" tabIndex={0} className={PRE}>
                {input}
              </pre>
            </dd>
          </div>
          <div>
            <dt className="mb-1 font-semibold text-gray-700">{failed ? 'Error' : 'Output'}</dt>
            <dd>
              {c.result === null ? (
                <p className="italic text-gray-600">Running…</p>
              ) : c.result === '' ? (
                <p data-tool-output="" className="italic text-gray-600">
                  (empty)
                </p>
              ) : (
                <pre data-tool-output="" tabIndex={0} className={`${PRE} ${failed ? 'text-red-800' : ''}`}>
                  {c.result}
                </pre>
              )}
            </dd>
          </div>
        </dl>
      </div>
    </li>
  );
});

/** The sub-agents of a live turn, nested as they handed over. */
export function AgentRuns({ runs }: { runs: UiAgentRun[] }) {
  const tree = useMemo(() => agentTree(runs), [runs]);
  return <AgentList nodes={tree} top />;
}

function AgentList({ nodes, top = false }: { nodes: AgentNode[]; top?: boolean }) {
  return (
    <ul
      aria-label={top ? 'Agents' : undefined}
      className={top ? 'mb-3 space-y-1 text-sm' : 'ml-2 mt-1 space-y-1 border-l border-gray-200 pl-3'}
    >
      {nodes.map(({ run, children }) => (
        <li key={run.key} data-agent-path={run.path} data-agent-state={run.state} className="min-w-0">
          <span className="flex min-w-0 items-center gap-2">
            <StateIcon state={run.state} />
            <span className="truncate font-medium text-gray-800">{run.path.split('/').pop() || run.path}</span>
            <span className="sr-only">{`, ${STATE_TEXT[run.state]}`}</span>
          </span>
          {children.length > 0 ? <AgentList nodes={children} /> : null}
        </li>
      ))}
    </ul>
  );
}
