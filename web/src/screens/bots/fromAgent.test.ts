// @vitest-environment node
import { describe, expect, it } from 'vitest';
import type { Agent } from '../../api/types';
import { botDraftFromAgent, missingFromBot, newBotFromAgentPath } from './fromAgent';

const AGENT: Agent = {
  id: 'a1',
  name: 'Calculator',
  category: 'Math',
  description: 'Does sums.',
  model_id: 'local',
  instructions: 'Use the calculator.',
  temperature: 0.2,
  max_tokens: 1024,
  tools: ['calculator', 'mcp:every/echo'],
  sub_agents: ['s1', 's2', 's3'],
  limits: { max_steps: 8, timeout_seconds: 60, tool_timeout_seconds: 10 },
  status: 'published',
  created_at: '2024-01-01T00:00:00Z',
  updated_at: '2024-01-01T00:00:00Z',
};

describe('a bot from an agent', () => {
  it('is addressed by a query parameter', () => {
    expect(newBotFromAgentPath('a 1/x')).toBe('/bots/new?from_agent=a%201%2Fx');
  });

  it("takes the agent's name, description, model, instructions, temperature and max tokens", () => {
    expect(botDraftFromAgent(AGENT)).toEqual({
      name: 'Calculator (my bot)',
      description: 'Does sums.',
      model_id: 'local',
      instructions: 'Use the calculator.',
      temperature: 0.2,
      max_tokens: 1024,
    });
  });

  it('stays within what a bot accepts', () => {
    const d = botDraftFromAgent({
      ...AGENT,
      name: 'x'.repeat(300),
      description: 'd'.repeat(2500),
      temperature: 1.5,
      max_tokens: 100000,
      model_id: '',
    });
    expect(d.name.length).toBe(255);
    expect(d.name.endsWith(' (my bot)')).toBe(true);
    expect(d.description.length).toBe(2000);
    expect(d.temperature).toBe(1);
    expect(d.max_tokens).toBe(65536);
    expect(d.model_id).toBe('local');
    expect(botDraftFromAgent({ ...AGENT, temperature: -1, max_tokens: 0 })).toMatchObject({ temperature: 0, max_tokens: 1 });
  });

  it('names the tools and sub-agents the bot will not have', () => {
    expect(missingFromBot(AGENT, { s1: 'Clock', s2: null })).toEqual({
      tools: ['Calculator', 'echo (from every)'],
      subAgents: ['Clock', 'an agent that is not published', '…'],
    });
    expect(missingFromBot({ ...AGENT, tools: [], sub_agents: [] })).toEqual({ tools: [], subAgents: [] });
  });
});
