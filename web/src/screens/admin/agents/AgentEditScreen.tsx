// /admin/agents/new and /admin/agents/:agentId: an agent's every field —
// what it is, its model, its tools (built in, and MCP servers' allowed
// tools), the agents it hands work to (in order), its limits and status.
// A refused save shows the server's words at the field they are about.
import { useEffect, useId, useMemo, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { Link, useNavigate, useParams } from 'react-router-dom';
import { api } from '../../../api/client';
import { isAbortError } from '../../../api/errors';
import type { Agent, AgentStatus, McpServer, Model } from '../../../api/types';
import { ErrorAlert, errorMessage } from '../../../components/ErrorAlert';
import { FormRow } from '../../../components/FormRow';
import { Spinner } from '../../../components/Loading';
import { MODELS_FAILED_HINT, ModelSelect } from '../../../components/ModelSelect';
import { TOOL_HINTS, TOOL_LABELS, toolLabel } from '../../../lib/agentTools';
import { useTitle } from '../../../lib/useTitle';
import { StatusBadge } from '../badges';
import {
  MAX_SUB_AGENTS,
  MAX_TOOLS,
  STATUS_HINT,
  STATUS_TEXT,
  agentBody,
  agentErrorField,
  agentFormFrom,
  moveInOrder,
  subAgentChoices,
  toggleInOrder,
  toolChecklist,
  type AgentErrors,
  type AgentField,
  type AgentFormState,
  type ToolChoice,
} from './agentForm';

/** Every agent (all pages), for the sub-agent choice and the categories. */
async function allAgents(signal: AbortSignal): Promise<Agent[]> {
  const out: Agent[] = [];
  let cursor: string | null = null;
  for (let i = 0; i < 50; i++) {
    const page = await api.adminAgents({ limit: 100, cursor }, signal);
    out.push(...page.items);
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  return out;
}

export default function AgentEditScreen() {
  const { agentId } = useParams();
  return <AgentEditor key={agentId ?? 'new'} agentId={agentId ?? null} />;
}

function AgentEditor({ agentId }: { agentId: string | null }) {
  const [agent, setAgent] = useState<Agent | null>(null);
  const [error, setError] = useState<unknown>(null);
  useTitle(agentId ? `${agent?.name ?? 'Agent'} · Administration` : 'New agent · Administration');

  useEffect(() => {
    if (!agentId) return;
    const ctl = new AbortController();
    api.adminAgent(agentId, ctl.signal).then(setAgent, (e) => {
      if (!ctl.signal.aborted) setError(e);
    });
    return () => ctl.abort();
  }, [agentId]);

  return (
    <section aria-labelledby="agent-form-h" className="space-y-4">
      <p>
        <Link to="/admin/agents" className="link text-sm">
          ← All agents
        </Link>
      </p>
      <div className="flex flex-wrap items-center gap-x-3 gap-y-1">
        <h2 id="agent-form-h" className="break-words text-lg font-semibold text-gray-900">
          {agentId ? (agent ? `Edit “${agent.name}”` : 'Edit agent') : 'New agent'}
        </h2>
        {agent ? <StatusBadge status={agent.status} /> : null}
        {agent?.status === 'published' ? (
          <Link to={`/agents/${encodeURIComponent(agent.id)}`} className="link text-sm">
            See it in the marketplace
          </Link>
        ) : null}
      </div>
      {agentId && error ? (
        <ErrorAlert error={error} />
      ) : agentId && !agent ? (
        <Spinner label="Loading the agent…" />
      ) : (
        <AgentForm agent={agent} />
      )}
    </section>
  );
}

/** The fields in the order the form shows them: the first in error gets
 * focus. */
const FIELD_ORDER: AgentField[] = [
  'name',
  'category',
  'description',
  'status',
  'model_id',
  'instructions',
  'temperature',
  'max_tokens',
  'tools',
  'sub_agents',
  'limits',
  'max_steps',
  'timeout_seconds',
  'tool_timeout_seconds',
];

/** Fields shown as a group: focus goes to their error message. */
const GROUPS = new Set<AgentField>(['tools', 'sub_agents', 'limits']);

function AgentForm({ agent }: { agent: Agent | null }) {
  const id = useId();
  const navigate = useNavigate();
  const [form, setForm] = useState<AgentFormState>(() => agentFormFrom(agent, ''));
  const [errors, setErrors] = useState<AgentErrors>({});
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const focusErrors = useRef(false);

  const [models, setModels] = useState<Model[] | null>(null);
  const [modelsFailed, setModelsFailed] = useState(false);
  const [servers, setServers] = useState<McpServer[] | null>(null);
  const [serversError, setServersError] = useState<unknown>(null);
  const [agents, setAgents] = useState<Agent[] | null>(null);
  const [agentsError, setAgentsError] = useState<unknown>(null);

  useEffect(() => {
    const ctl = new AbortController();
    const failed = (set: (e: unknown) => void) => (e: unknown) => {
      if (!ctl.signal.aborted && !isAbortError(e)) set(e);
    };
    api.models(ctl.signal).then((m) => {
      setModels(m.items);
      // a new agent starts on the server's default model
      setForm((f) => (f.model_id ? f : { ...f, model_id: m.default || m.items[0]?.id || '' }));
    }, failed(() => setModelsFailed(true)));
    api.mcpServers(ctl.signal).then((r) => setServers(r.items), failed(setServersError));
    allAgents(ctl.signal).then(setAgents, failed(setAgentsError));
    return () => ctl.abort();
  }, []);

  // after a refused save, the first field in error gets focus
  useEffect(() => {
    if (!focusErrors.current) return;
    focusErrors.current = false;
    const first = FIELD_ORDER.find((f) => errors[f]);
    if (!first) return;
    const el = document.getElementById(GROUPS.has(first) ? `${id}-${first}-error` : `${id}-${first}`);
    el?.focus();
  }, [errors, id]);

  function set<K extends keyof AgentFormState>(key: K, value: AgentFormState[K]) {
    setForm((f) => ({ ...f, [key]: value }));
  }

  const categories = useMemo(
    () => [...new Set((agents ?? []).map((a) => a.category))].sort((a, b) => a.localeCompare(b)),
    [agents],
  );

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (busy) return;
    setError(null);
    const { body, errors: mine } = agentBody(form, agent);
    if (Object.keys(mine).length > 0) {
      focusErrors.current = true;
      setErrors(mine);
      return;
    }
    setErrors({});
    if (agent && Object.keys(body).length === 0) {
      navigate('/admin/agents', { state: { notice: `Nothing to save: “${agent.name}” is unchanged.` } });
      return;
    }
    setBusy(true);
    try {
      const saved = agent ? await api.adminUpdateAgent(agent.id, body) : await api.adminCreateAgent(body);
      const status = STATUS_TEXT[saved.status]?.toLowerCase() ?? saved.status;
      navigate('/admin/agents', {
        state: { notice: `${agent ? 'Saved' : 'Created'} “${saved.name}” (${status}).` },
      });
    } catch (err) {
      setBusy(false);
      const field = agentErrorField(err);
      if (field) {
        focusErrors.current = true;
        setErrors({ [field]: errorMessage(err) });
      } else {
        setError(err);
      }
    }
  }

  const err = (f: AgentField) => errors[f] ?? null;
  const fid = (f: AgentField) => `${id}-${f}`;

  return (
    <form onSubmit={submit} className="space-y-6" noValidate aria-labelledby="agent-form-h">
      <Card title="About">
        <FormRow id={fid('name')} label="Name" error={err('name')} hint="Unique; people see it in the marketplace.">
          {(p) => (
            <input {...p} className="input" value={form.name} maxLength={255} required onChange={(e) => set('name', e.target.value)} />
          )}
        </FormRow>
        <FormRow id={fid('category')} label="Category" error={err('category')} hint="The marketplace groups agents by it.">
          {(p) => (
            <>
              <input
                {...p}
                className="input"
                value={form.category}
                maxLength={100}
                required
                list={`${id}-categories`}
                autoComplete="off"
                onChange={(e) => set('category', e.target.value)}
              />
              <datalist id={`${id}-categories`}>
                {categories.map((c) => (
                  <option key={c} value={c} />
                ))}
              </datalist>
            </>
          )}
        </FormRow>
        <FormRow id={fid('description')} label="Description" error={err('description')}>
          {(p) => (
            <textarea
              {...p}
              className="input"
              rows={2}
              maxLength={2000}
              value={form.description}
              onChange={(e) => set('description', e.target.value)}
            />
          )}
        </FormRow>
        <FormRow id={fid('status')} label="Status" error={err('status')} hint={STATUS_HINT[form.status]}>
          {(p) => (
            <select {...p} className="input sm:w-auto" value={form.status} onChange={(e) => set('status', e.target.value as AgentStatus)}>
              {(Object.keys(STATUS_TEXT) as AgentStatus[]).map((s) => (
                <option key={s} value={s}>
                  {STATUS_TEXT[s]}
                </option>
              ))}
            </select>
          )}
        </FormRow>
      </Card>

      <Card title="Model">
        <FormRow id={fid('model_id')} label="Model" error={err('model_id')} hint={modelsFailed ? MODELS_FAILED_HINT : undefined}>
          {(p) => (
            <ModelSelect control={p} models={models} modelsFailed={modelsFailed} value={form.model_id} onChange={(v) => set('model_id', v)} />
          )}
        </FormRow>
        <FormRow
          id={fid('instructions')}
          label="Instructions"
          error={err('instructions')}
          hint="The system prompt: what the agent is for and how it works."
        >
          {(p) => (
            <textarea
              {...p}
              className="input font-mono text-[0.85rem]"
              rows={6}
              maxLength={32000}
              value={form.instructions}
              onChange={(e) => set('instructions', e.target.value)}
            />
          )}
        </FormRow>
        <div className="grid gap-4 sm:grid-cols-2">
          <FormRow id={fid('temperature')} label="Temperature" error={err('temperature')} hint="0 (focused) to 1 (creative).">
            {(p) => (
              <input
                {...p}
                className="input"
                type="number"
                inputMode="decimal"
                min={0}
                max={1}
                step={0.1}
                value={form.temperature}
                onChange={(e) => set('temperature', e.target.value)}
              />
            )}
          </FormRow>
          <FormRow id={fid('max_tokens')} label="Max tokens" error={err('max_tokens')} hint="Longest answer of one step, 1 to 65536.">
            {(p) => (
              <input
                {...p}
                className="input"
                type="number"
                inputMode="numeric"
                min={1}
                max={65536}
                step={1}
                value={form.max_tokens}
                onChange={(e) => set('max_tokens', e.target.value)}
              />
            )}
          </FormRow>
        </div>
      </Card>

      <ToolsField
        id={id}
        servers={servers}
        serversError={serversError}
        selected={form.tools}
        onChange={(tools) => set('tools', tools)}
        error={err('tools')}
      />

      <SubAgentsField
        id={id}
        agents={agents}
        agentsError={agentsError}
        selfId={agent?.id ?? null}
        selected={form.sub_agents}
        onChange={(subs) => set('sub_agents', subs)}
        error={err('sub_agents')}
      />

      <fieldset className="card space-y-4 p-5" aria-describedby={`${id}-limits-hint`}>
        <legend className="float-left mb-1 w-full text-base font-semibold text-gray-900">Limits</legend>
        <p id={`${id}-limits-hint`} className="clear-left text-sm text-gray-700">
          A run stops when it reaches any of them.
        </p>
        <div className="grid gap-4 sm:grid-cols-3">
          <FormRow id={fid('max_steps')} label="Max steps" error={err('max_steps')} hint="Model calls in a run, 1 to 50.">
            {(p) => (
              <input {...p} className="input" type="number" inputMode="numeric" min={1} max={50} step={1} value={form.max_steps} onChange={(e) => set('max_steps', e.target.value)} />
            )}
          </FormRow>
          <FormRow id={fid('timeout_seconds')} label="Time limit (seconds)" error={err('timeout_seconds')} hint="A whole run, 1 to 3600.">
            {(p) => (
              <input
                {...p}
                className="input"
                type="number"
                inputMode="numeric"
                min={1}
                max={3600}
                step={1}
                value={form.timeout_seconds}
                onChange={(e) => set('timeout_seconds', e.target.value)}
              />
            )}
          </FormRow>
          <FormRow
            id={fid('tool_timeout_seconds')}
            label="Tool call time limit (seconds)"
            error={err('tool_timeout_seconds')}
            hint="One tool call, 1 to 600."
          >
            {(p) => (
              <input
                {...p}
                className="input"
                type="number"
                inputMode="numeric"
                min={1}
                max={600}
                step={1}
                value={form.tool_timeout_seconds}
                onChange={(e) => set('tool_timeout_seconds', e.target.value)}
              />
            )}
          </FormRow>
        </div>
        <GroupError id={`${id}-limits-error`} text={err('limits')} />
      </fieldset>

      {error ? <ErrorAlert error={error} /> : null}
      <div className="flex flex-wrap justify-end gap-2">
        <Link to="/admin/agents" className="btn-secondary">
          Cancel
        </Link>
        <button type="submit" className="btn-primary" disabled={busy}>
          {busy ? 'Saving…' : 'Save'}
        </button>
      </div>
    </form>
  );
}

function Card({ title, children }: { title: string; children: ReactNode }) {
  const hid = useId();
  return (
    <section aria-labelledby={hid} className="card space-y-4 p-5">
      <h3 id={hid} className="text-base font-semibold text-gray-900">
        {title}
      </h3>
      {children}
    </section>
  );
}

/** A group's error: announced, and focusable so a refused save can move
 * focus to it. */
function GroupError({ id, text }: { id: string; text: string | null }) {
  if (!text) return null;
  return (
    <p id={id} tabIndex={-1} role="alert" className="text-sm text-red-800 focus:outline-none focus-visible:ring-2 focus-visible:ring-accent-600">
      {text}
    </p>
  );
}

// ---- tools ---------------------------------------------------------------------

function ToolsField({
  id,
  servers,
  serversError,
  selected,
  onChange,
  error,
}: {
  id: string;
  servers: McpServer[] | null;
  serversError: unknown;
  selected: string[];
  onChange: (tools: string[]) => void;
  error: string | null;
}) {
  const list = toolChecklist(servers ?? [], selected, TOOL_HINTS);
  const full = selected.length >= MAX_TOOLS;
  const errId = `${id}-tools-error`;
  const toggle = (ref: string, on: boolean) => onChange(toggleInOrder(selected, ref, on));
  const group = (
    legend: string,
    tools: ToolChoice[],
    note: ReactNode,
    label: (t: ToolChoice) => ReactNode,
    code?: (t: ToolChoice) => string,
  ) => (
    <fieldset className="rounded-md border border-gray-200 px-3 pb-3 pt-1">
      <legend className="px-1 text-sm font-medium text-gray-900">{legend}</legend>
      {note ? <p className="mb-2 text-xs text-gray-600">{note}</p> : null}
      <ul className="space-y-2">
        {tools.map((t) => {
          const cid = `${id}-tool-${t.ref}`;
          const on = selected.includes(t.ref);
          return (
            <li key={t.ref} className="flex items-start gap-2">
              <input
                id={cid}
                type="checkbox"
                className="mt-0.5 h-4 w-4 shrink-0"
                value={t.ref}
                checked={on}
                disabled={!on && full}
                aria-describedby={t.description ? `${cid}-d` : undefined}
                onChange={(e) => toggle(t.ref, e.target.checked)}
              />
              <div className="min-w-0">
                <label htmlFor={cid} className="break-words text-sm font-medium text-gray-900">
                  {label(t)}
                </label>
                {code ? <code className="ml-2 inline-block break-all font-mono text-xs text-gray-600">{code(t)}</code> : null}
                {t.description ? (
                  <p id={`${cid}-d`} className="line-clamp-2 text-xs text-gray-600">
                    {t.description}
                  </p>
                ) : null}
              </div>
            </li>
          );
        })}
      </ul>
    </fieldset>
  );

  return (
    <fieldset className="card space-y-3 p-5" aria-describedby={`${id}-tools-hint`} aria-invalid={error ? true : undefined}>
      <legend className="float-left mb-1 w-full text-base font-semibold text-gray-900">Tools</legend>
      <p id={`${id}-tools-hint`} className="clear-left text-sm text-gray-700">
        What the agent may use, at most {MAX_TOOLS}. An MCP server’s tools appear here once they are allowed on the server’s
        page (<Link to="/admin/mcp-servers" className="link">MCP servers</Link>) and the server is enabled.
      </p>
      {group(
        'Built in',
        list.builtin,
        null,
        (t) => TOOL_LABELS[t.name] ?? t.name,
        (t) => t.name,
      )}
      {servers === null && !serversError ? <Spinner label="Loading MCP servers…" /> : null}
      {serversError ? <ErrorAlert>MCP servers’ tools could not be loaded: {errorMessage(serversError)}</ErrorAlert> : null}
      {list.servers.map((g) => (
        <div key={g.server}>
          {group(`MCP server ${g.server}`, g.tools, g.description || null, (t) => <span className="font-mono">{t.name}</span>)}
        </div>
      ))}
      {servers && list.servers.length === 0 ? (
        <p className="text-sm text-gray-700">No enabled MCP server has allowed tools yet.</p>
      ) : null}
      {list.other.length > 0
        ? group(
            'No longer offered',
            list.other.map((ref) => ({ ref, name: ref, description: '' })),
            'The agent has these, but their server is disabled or gone, or the tool is no longer allowed. Untick them to take them away.',
            (t) => toolLabel(t.ref),
            (t) => t.ref,
          )
        : null}
      {full ? <p className="hint">An agent can have at most {MAX_TOOLS} tools.</p> : null}
      <GroupError id={errId} text={error} />
    </fieldset>
  );
}

// ---- sub-agents -------------------------------------------------------------------

function SubAgentsField({
  id,
  agents,
  agentsError,
  selfId,
  selected,
  onChange,
  error,
}: {
  id: string;
  agents: Agent[] | null;
  agentsError: unknown;
  selfId: string | null;
  selected: string[];
  onChange: (subs: string[]) => void;
  error: string | null;
}) {
  const choices = agents ? subAgentChoices(agents, selfId, selected) : [];
  const full = selected.length >= MAX_SUB_AGENTS;
  return (
    <fieldset className="card space-y-3 p-5" aria-describedby={`${id}-subs-hint`} aria-invalid={error ? true : undefined}>
      <legend className="float-left mb-1 w-full text-base font-semibold text-gray-900">Sub-agents</legend>
      <p id={`${id}-subs-hint`} className="clear-left text-sm text-gray-700">
        Agents this one may hand work to, offered to its model in the order shown by their numbers. At most {MAX_SUB_AGENTS};
        hand-offs at most 3 deep; no agent may hand work back to one that called it. Retired agents cannot take work.
      </p>
      {!agents && !agentsError ? <Spinner label="Loading agents…" /> : null}
      {agentsError ? (
        <ErrorAlert>
          The agents could not be loaded: {errorMessage(agentsError)} The sub-agents stay as they are unless you reload and
          change them.
        </ErrorAlert>
      ) : null}
      {agents && choices.length === 0 ? <p className="text-sm text-gray-700">There is no other agent yet.</p> : null}
      {choices.length > 0 ? (
        <ul className="max-h-96 space-y-1 overflow-y-auto rounded-md border border-gray-200 p-2">
          {choices.map((c) => {
            const cid = `${id}-sub-${c.id}`;
            const on = c.position > 0;
            return (
              <li key={c.id} className="flex flex-wrap items-center gap-x-2 gap-y-1 rounded px-1 py-1 hover:bg-gray-50">
                <input
                  id={cid}
                  type="checkbox"
                  className="h-4 w-4 shrink-0"
                  value={c.id}
                  checked={on}
                  disabled={!on && full}
                  aria-describedby={`${cid}-d`}
                  onChange={(e) => onChange(toggleInOrder(selected, c.id, e.target.checked))}
                />
                <label htmlFor={cid} className="min-w-0 break-words text-sm font-medium text-gray-900">
                  {c.name}
                </label>
                <span id={`${cid}-d`} className="text-xs text-gray-600">
                  {[c.category, c.status && c.status !== 'published' ? STATUS_TEXT[c.status].toLowerCase() : null]
                    .filter(Boolean)
                    .join(' · ')}
                  {on ? <span className="sr-only">, hand-off {c.position} of {selected.length}</span> : null}
                </span>
                {on ? (
                  <span className="ml-auto flex items-center gap-1">
                    <span aria-hidden="true" className="rounded bg-accent-50 px-1.5 text-xs font-medium text-accent-800 ring-1 ring-accent-200">
                      {c.position}
                    </span>
                    <button
                      type="button"
                      className="btn-ghost btn-sm"
                      disabled={c.position === 1}
                      aria-label={`Move ${c.name} earlier`}
                      onClick={() => onChange(moveInOrder(selected, c.id, -1))}
                    >
                      ↑
                    </button>
                    <button
                      type="button"
                      className="btn-ghost btn-sm"
                      disabled={c.position === selected.length}
                      aria-label={`Move ${c.name} later`}
                      onClick={() => onChange(moveInOrder(selected, c.id, 1))}
                    >
                      ↓
                    </button>
                  </span>
                ) : null}
              </li>
            );
          })}
        </ul>
      ) : null}
      {full ? <p className="hint">An agent can hand work to at most {MAX_SUB_AGENTS} agents.</p> : null}
      <GroupError id={`${id}-sub_agents-error`} text={error} />
    </fieldset>
  );
}
