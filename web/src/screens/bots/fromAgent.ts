// "Make a bot from this agent": the new-bot form (/bots/new?from_agent=<id>)
// prefilled from a published agent. A bot has no tools and hands no work
// to other agents, so the form says which of the agent's it will not have.
import { useEffect, useState } from 'react';
import { api } from '../../api/client';
import type { Agent, Bot } from '../../api/types';
import { toolLabel } from '../../lib/agentTools';

/** What the bot form starts with. */
export type BotDraft = Pick<Bot, 'name' | 'description' | 'model_id' | 'instructions' | 'temperature' | 'max_tokens'>;

/** The address of the new-bot form prefilled from an agent. */
export function newBotFromAgentPath(agentId: string): string {
  return `/bots/new?from_agent=${encodeURIComponent(agentId)}`;
}

const NAME_MAX = 255;
const NAME_SUFFIX = ' (my bot)';

const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));

/** The bot's fields from the agent's, kept within what a bot accepts. */
export function botDraftFromAgent(agent: Agent): BotDraft {
  const base = agent.name.trim().slice(0, NAME_MAX - NAME_SUFFIX.length);
  const temperature = Number.isFinite(agent.temperature) ? clamp(agent.temperature, 0, 1) : 0.7;
  const maxTokens = Number.isFinite(agent.max_tokens) ? clamp(Math.round(agent.max_tokens), 1, 65536) : 4096;
  return {
    name: `${base}${NAME_SUFFIX}`,
    description: (agent.description ?? '').slice(0, 2000),
    model_id: agent.model_id || 'local',
    instructions: (agent.instructions ?? '').slice(0, 32000),
    temperature,
    max_tokens: maxTokens,
  };
}

/** What the bot will not have: the agent's tools by their labels, and its
 * sub-agents by name (`names`: id → name, null when it could not be read,
 * absent while it loads). */
export function missingFromBot(
  agent: Agent,
  names: Record<string, string | null | undefined> = {},
): { tools: string[]; subAgents: string[] } {
  return {
    tools: agent.tools.map(toolLabel),
    subAgents: agent.sub_agents.map((id) => {
      const n = names[id];
      return n === undefined ? '…' : n === null ? 'an agent that is not published' : n;
    }),
  };
}

/** The agent behind ?from_agent= (null id: none), with its sub-agents'
 * names as they load. */
export function useAgentForBot(id: string | null): {
  agent: Agent | null;
  names: Record<string, string | null>;
  error: unknown;
} {
  const [agent, setAgent] = useState<Agent | null>(null);
  const [names, setNames] = useState<Record<string, string | null>>({});
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    setAgent(null);
    setNames({});
    setError(null);
    if (!id) return;
    const ctl = new AbortController();
    api.agent(id, ctl.signal).then(
      (a) => {
        setAgent(a);
        for (const sub of a.sub_agents) {
          api.agent(sub, ctl.signal).then(
            (s) => setNames((cur) => ({ ...cur, [sub]: s.name })),
            () => {
              if (!ctl.signal.aborted) setNames((cur) => ({ ...cur, [sub]: null }));
            },
          );
        }
      },
      (e) => {
        if (!ctl.signal.aborted) setError(e);
      },
    );
    return () => ctl.abort();
  }, [id]);

  return { agent, names, error };
}
