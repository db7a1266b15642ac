// The agent form's pure parts: the form from an agent, the body of a save
// (a create sends everything, an edit only what changed), the field a
// server error is about, the tool checklist's groups and the ordered
// sub-agent choice.

import { ApiError } from '../../../api/errors';
import type { Agent, AgentInput, AgentStatus, McpServer } from '../../../api/types';
import { BUILTIN_TOOLS, mcpToolRef } from '../../../lib/agentTools';

/** What the server takes when a field is not given. */
export const AGENT_DEFAULTS = {
  temperature: 0.7,
  max_tokens: 4096,
  max_steps: 8,
  timeout_seconds: 120,
  tool_timeout_seconds: 20,
  status: 'draft' as AgentStatus,
};

export const MAX_TOOLS = 32;
export const MAX_SUB_AGENTS = 10;

export const STATUS_TEXT: Record<AgentStatus, string> = {
  draft: 'Draft',
  published: 'Published',
  retired: 'Retired',
};

export const STATUS_HINT: Record<AgentStatus, string> = {
  draft: 'Only administrators see it; nobody can chat with it yet.',
  published: 'Listed in the agents marketplace: everyone can chat with it.',
  retired: 'Hidden from the marketplace and from new chats; no agent can hand work to it.',
};

export interface AgentFormState {
  name: string;
  category: string;
  description: string;
  model_id: string;
  instructions: string;
  temperature: string;
  max_tokens: string;
  /** Tool references, in the order they were chosen. */
  tools: string[];
  /** Agent ids, in the order they are offered to the model. */
  sub_agents: string[];
  max_steps: string;
  timeout_seconds: string;
  tool_timeout_seconds: string;
  status: AgentStatus;
}

export type AgentField =
  | 'name'
  | 'category'
  | 'description'
  | 'model_id'
  | 'instructions'
  | 'temperature'
  | 'max_tokens'
  | 'tools'
  | 'sub_agents'
  | 'max_steps'
  | 'timeout_seconds'
  | 'tool_timeout_seconds'
  | 'limits'
  | 'status';

export type AgentErrors = Partial<Record<AgentField, string>>;

export function agentFormFrom(agent: Agent | null, defaultModel: string): AgentFormState {
  return {
    name: agent?.name ?? '',
    category: agent?.category ?? '',
    description: agent?.description ?? '',
    model_id: agent?.model_id ?? defaultModel,
    instructions: agent?.instructions ?? '',
    temperature: String(agent?.temperature ?? AGENT_DEFAULTS.temperature),
    max_tokens: String(agent?.max_tokens ?? AGENT_DEFAULTS.max_tokens),
    tools: agent ? [...agent.tools] : [],
    sub_agents: agent ? [...agent.sub_agents] : [],
    max_steps: String(agent?.limits.max_steps ?? AGENT_DEFAULTS.max_steps),
    timeout_seconds: String(agent?.limits.timeout_seconds ?? AGENT_DEFAULTS.timeout_seconds),
    tool_timeout_seconds: String(agent?.limits.tool_timeout_seconds ?? AGENT_DEFAULTS.tool_timeout_seconds),
    status: agent?.status ?? AGENT_DEFAULTS.status,
  };
}

interface NumberRule {
  label: string;
  min: number;
  max: number;
  integer: boolean;
}

const NUMBER_RULES: Record<'temperature' | 'max_tokens' | 'max_steps' | 'timeout_seconds' | 'tool_timeout_seconds', NumberRule> = {
  temperature: { label: 'Temperature', min: 0, max: 1, integer: false },
  max_tokens: { label: 'Max tokens', min: 1, max: 65536, integer: true },
  max_steps: { label: 'Max steps', min: 1, max: 50, integer: true },
  timeout_seconds: { label: 'The time limit', min: 1, max: 3600, integer: true },
  tool_timeout_seconds: { label: 'The tool call time limit', min: 1, max: 600, integer: true },
};

/** A number field's value, or the sentence saying what it must be. */
export function parseNumberField(text: string, rule: NumberRule): number | string {
  const t = text.trim();
  const x = t === '' ? NaN : Number(t);
  const what = rule.integer ? 'a whole number' : 'a number';
  if (!Number.isFinite(x) || x < rule.min || x > rule.max || (rule.integer && !Number.isInteger(x))) {
    return `${rule.label} must be ${what} from ${rule.min} to ${rule.max}.`;
  }
  return x;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * The body of a save and the form's own errors (a body is only sent when
 * there are none).  original null: a create, every field given; else a
 * PATCH of the fields that differ from the agent (limits as one object).
 */
export function agentBody(form: AgentFormState, original: Agent | null): { body: AgentInput; errors: AgentErrors } {
  const errors: AgentErrors = {};
  const name = form.name.trim();
  const category = form.category.trim();
  if (!name) errors.name = 'Give the agent a name.';
  if (!category) errors.category = 'Give the agent a category (the marketplace groups agents by it).';
  if (form.tools.length > MAX_TOOLS) errors.tools = `An agent can have at most ${MAX_TOOLS} tools.`;
  if (form.sub_agents.length > MAX_SUB_AGENTS) errors.sub_agents = `An agent can hand work to at most ${MAX_SUB_AGENTS} agents.`;
  if (original && form.sub_agents.includes(original.id)) errors.sub_agents = 'An agent cannot hand work to itself.';

  const nums = {} as Record<keyof typeof NUMBER_RULES, number>;
  for (const key of Object.keys(NUMBER_RULES) as (keyof typeof NUMBER_RULES)[]) {
    const v = parseNumberField(form[key], NUMBER_RULES[key]);
    if (typeof v === 'string') errors[key] = v;
    else nums[key] = v;
  }
  const model = form.model_id.trim();

  const full: Required<AgentInput> = {
    name,
    category,
    description: form.description,
    model_id: model,
    instructions: form.instructions,
    temperature: nums.temperature,
    max_tokens: nums.max_tokens,
    tools: [...form.tools],
    sub_agents: [...form.sub_agents],
    limits: {
      max_steps: nums.max_steps,
      timeout_seconds: nums.timeout_seconds,
      tool_timeout_seconds: nums.tool_timeout_seconds,
    },
    status: form.status,
  };
  if (Object.keys(errors).length > 0) return { body: {}, errors };

  if (!original) {
    const body: AgentInput = { ...full };
    if (!model) delete body.model_id; // the server's default
    return { body, errors };
  }

  const body: AgentInput = {};
  if (name !== original.name) body.name = name;
  if (category !== original.category) body.category = category;
  if (form.description !== original.description) body.description = form.description;
  if (model && model !== original.model_id) body.model_id = model;
  if (form.instructions !== original.instructions) body.instructions = form.instructions;
  if (nums.temperature !== original.temperature) body.temperature = nums.temperature;
  if (nums.max_tokens !== original.max_tokens) body.max_tokens = nums.max_tokens;
  if (!sameList(form.tools, original.tools)) body.tools = [...form.tools];
  if (!sameList(form.sub_agents, original.sub_agents)) body.sub_agents = [...form.sub_agents];
  const l = original.limits;
  if (
    nums.max_steps !== l.max_steps ||
    nums.timeout_seconds !== l.timeout_seconds ||
    nums.tool_timeout_seconds !== l.tool_timeout_seconds
  ) {
    body.limits = full.limits;
  }
  if (form.status !== original.status) body.status = form.status;
  return { body, errors };
}

const FIELD_NAMES: Record<string, AgentField> = {
  name: 'name',
  category: 'category',
  description: 'description',
  model_id: 'model_id',
  instructions: 'instructions',
  temperature: 'temperature',
  max_tokens: 'max_tokens',
  max_steps: 'max_steps',
  timeout_seconds: 'timeout_seconds',
  tool_timeout_seconds: 'tool_timeout_seconds',
  status: 'status',
  tools: 'tools',
  sub_agents: 'sub_agents',
  limits: 'limits',
};

/**
 * The field a refused save is about, from the server's words: `field
 * "max_tokens" must be ...` (the field validator), "tools must be ...",
 * "every sub-agent must be ...", "these sub-agents would make a cycle",
 * "sub-agents may be nested ...", "limits.x is not a limit", "status must
 * be ..."; a 409 agent_name_taken is the name's.  null: not one field's.
 */
export function agentErrorField(e: unknown): AgentField | null {
  if (!(e instanceof ApiError)) return null;
  if (e.status === 409 && e.code === 'agent_name_taken') return 'name';
  if (e.status !== 400) return null;
  const m = e.message;
  const quoted = /field "([^"]+)"/.exec(m);
  if (quoted) return FIELD_NAMES[quoted[1]] ?? null;
  if (/^tools\b/.test(m)) return 'tools';
  if (/^sub_agents\b/.test(m) || /sub-agent/i.test(m)) return 'sub_agents';
  if (/^limits\b/.test(m)) return 'limits';
  if (/^status\b/.test(m)) return 'status';
  const first = /^([a-z_]+)\b/.exec(m);
  return first && FIELD_NAMES[first[1]] ? FIELD_NAMES[first[1]] : null;
}

// ---- the tool checklist ---------------------------------------------------

export interface ToolChoice {
  /** What the agent stores: "calculator", "mcp:<server>/<tool>". */
  ref: string;
  /** The tool's own name. */
  name: string;
  description: string;
}

export interface ToolGroup {
  server: string;
  description: string;
  tools: ToolChoice[];
}

export interface ToolChecklist {
  builtin: ToolChoice[];
  /** One group per enabled MCP server with allowed tools, by name. */
  servers: ToolGroup[];
  /** Tools the agent has that none of the above offers (a disabled or
   * deleted server, a tool no longer allowed): kept unless unticked. */
  other: string[];
}

/**
 * The choices of the tool checklist: the built-in tools, then each
 * enabled MCP server's allowed tools as mcp:<server>/<tool> (described
 * from its last listing when the tool is in it), then what else the agent
 * already has.
 */
export function toolChecklist(
  servers: readonly McpServer[],
  selected: readonly string[],
  builtinHints: Record<string, string> = {},
): ToolChecklist {
  const builtin: ToolChoice[] = BUILTIN_TOOLS.map((name) => ({ ref: name, name, description: builtinHints[name] ?? '' }));
  const groups: ToolGroup[] = servers
    .filter((s) => s.enabled && s.allowed_tools.length > 0)
    .map((s) => ({
      server: s.name,
      description: s.description,
      tools: s.allowed_tools.map((tool) => {
        const listed = s.tools?.find((t) => t.name === tool);
        return {
          ref: mcpToolRef(s.name, tool),
          name: tool,
          description: typeof listed?.description === 'string' ? listed.description : '',
        };
      }),
    }))
    .sort((a, b) => a.server.localeCompare(b.server));
  const offered = new Set([...builtin.map((t) => t.ref), ...groups.flatMap((g) => g.tools.map((t) => t.ref))]);
  const other = selected.filter((ref, i) => !offered.has(ref) && selected.indexOf(ref) === i);
  return { builtin, servers: groups, other };
}

/** Tick (appended at the end) or untick one item, keeping the others'
 * order. */
export function toggleInOrder(list: readonly string[], item: string, on: boolean): string[] {
  if (on) return list.includes(item) ? [...list] : [...list, item];
  return list.filter((x) => x !== item);
}

/** Move an item one place earlier (-1) or later (+1). */
export function moveInOrder(list: readonly string[], item: string, delta: -1 | 1): string[] {
  const i = list.indexOf(item);
  const j = i + delta;
  if (i < 0 || j < 0 || j >= list.length) return [...list];
  const out = [...list];
  [out[i], out[j]] = [out[j], out[i]];
  return out;
}

export interface SubAgentChoice {
  id: string;
  name: string;
  category: string;
  status: AgentStatus | null;
  /** 1-based place in the hand-off order, or 0 when not chosen. */
  position: number;
}

/**
 * The agents this one may hand work to: every other agent that is not
 * retired, by name; plus the ones it already has that are retired or
 * unknown (so they can be unticked).
 */
export function subAgentChoices(all: readonly Agent[], selfId: string | null, selected: readonly string[]): SubAgentChoice[] {
  const byId = new Map(all.map((a) => [a.id, a]));
  const out: SubAgentChoice[] = all
    .filter((a) => a.id !== selfId && (a.status !== 'retired' || selected.includes(a.id)))
    .map((a) => ({ id: a.id, name: a.name, category: a.category, status: a.status, position: selected.indexOf(a.id) + 1 }));
  for (const id of selected) {
    if (!byId.has(id)) out.push({ id, name: `Unknown agent ${id}`, category: '', status: null, position: selected.indexOf(id) + 1 });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}
