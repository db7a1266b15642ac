// @vitest-environment node
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../../api/errors';
import type { Agent, McpServer } from '../../../api/types';
import {
  agentBody,
  agentErrorField,
  agentFormFrom,
  moveInOrder,
  subAgentChoices,
  toggleInOrder,
  toolChecklist,
} from './agentForm';
import { mcpToolRef, modelToolName, parseMcpToolRef, toolLabel } from '../../../lib/agentTools';

const AGENT: Agent = {
  id: 'a1',
  name: 'Calculator',
  category: 'Math',
  description: 'Does sums.',
  model_id: 'local',
  instructions: 'Use the calculator.',
  temperature: 0.2,
  max_tokens: 1024,
  tools: ['calculator'],
  sub_agents: ['s1', 's2'],
  limits: { max_steps: 4, timeout_seconds: 60, tool_timeout_seconds: 10 },
  status: 'draft',
  created_at: '2025-01-01T00:00:00Z',
  updated_at: '2025-01-01T00:00:00Z',
};

function agent(over: Partial<Agent>): Agent {
  return { ...AGENT, ...over };
}

function server(over: Partial<McpServer>): McpServer {
  return {
    id: 'm1',
    name: 'every',
    description: '',
    transport: 'stdio',
    url: null,
    headers: [],
    command: ['node', 'x.js'],
    env: [],
    allowed_tools: [],
    enabled: true,
    tools: null,
    tools_listed_at: null,
    last_error: null,
    created_at: '',
    updated_at: '',
    ...over,
  };
}

describe('tool references', () => {
  it('builds and reads mcp:<server>/<tool>', () => {
    expect(mcpToolRef('every', 'echo')).toBe('mcp:every/echo');
    expect(parseMcpToolRef('mcp:every/echo')).toEqual({ server: 'every', tool: 'echo' });
    expect(parseMcpToolRef('mcp:my-srv/get-sum')).toEqual({ server: 'my-srv', tool: 'get-sum' });
    expect(parseMcpToolRef('calculator')).toBeNull();
    expect(parseMcpToolRef('mcp:/echo')).toBeNull();
    expect(parseMcpToolRef('mcp:every/')).toBeNull();
    expect(parseMcpToolRef('mcp:every')).toBeNull();
  });

  it('names a tool as the model sees it and as people read it', () => {
    expect(modelToolName('mcp:every/echo')).toBe('every__echo');
    expect(modelToolName('calculator')).toBe('calculator');
    expect(toolLabel('calculator')).toBe('Calculator');
    expect(toolLabel('mcp:every/echo')).toBe('echo (from every)');
    expect(toolLabel('mystery')).toBe('mystery');
  });
});

describe('agentBody', () => {
  it('sends every field on a create, with the limits as one object', () => {
    const form = { ...agentFormFrom(null, 'local'), name: '  Adder ', category: 'Math ', tools: ['calculator'], status: 'published' as const };
    const { body, errors } = agentBody(form, null);
    expect(errors).toEqual({});
    expect(body).toEqual({
      name: 'Adder',
      category: 'Math',
      description: '',
      model_id: 'local',
      instructions: '',
      temperature: 0.7,
      max_tokens: 4096,
      tools: ['calculator'],
      sub_agents: [],
      limits: { max_steps: 8, timeout_seconds: 120, tool_timeout_seconds: 20 },
      status: 'published',
    });
  });

  it('leaves the model to the server when none is chosen', () => {
    const form = { ...agentFormFrom(null, ''), name: 'A', category: 'B' };
    expect('model_id' in agentBody(form, null).body).toBe(false);
  });

  it('sends only what changed on an edit', () => {
    const form = agentFormFrom(AGENT, 'local');
    expect(agentBody(form, AGENT)).toEqual({ body: {}, errors: {} });

    expect(agentBody({ ...form, status: 'retired' }, AGENT).body).toEqual({ status: 'retired' });
    expect(agentBody({ ...form, temperature: '0.5', instructions: 'New.' }, AGENT).body).toEqual({
      temperature: 0.5,
      instructions: 'New.',
    });
    // a limit changed: all three go, as the "limits" object
    expect(agentBody({ ...form, max_steps: '10' }, AGENT).body).toEqual({
      limits: { max_steps: 10, timeout_seconds: 60, tool_timeout_seconds: 10 },
    });
    // lists are compared in order: sub-agents' order matters
    expect(agentBody({ ...form, sub_agents: ['s2', 's1'] }, AGENT).body).toEqual({ sub_agents: ['s2', 's1'] });
    expect(agentBody({ ...form, tools: [] }, AGENT).body).toEqual({ tools: [] });
    // "1024" and 1024 are the same number
    expect(agentBody({ ...form, max_tokens: ' 1024 ' }, AGENT).body).toEqual({});
  });

  it('refuses blank names, numbers out of range, and an agent handing work to itself', () => {
    const form = agentFormFrom(AGENT, 'local');
    const { body, errors } = agentBody(
      { ...form, name: ' ', temperature: '1.5', max_tokens: '', max_steps: '2.5', timeout_seconds: '0', sub_agents: ['a1'] },
      AGENT,
    );
    expect(body).toEqual({});
    expect(Object.keys(errors).sort()).toEqual(['max_steps', 'max_tokens', 'name', 'sub_agents', 'temperature', 'timeout_seconds']);
    expect(errors.temperature).toBe('Temperature must be a number from 0 to 1.');
    expect(errors.max_steps).toBe('Max steps must be a whole number from 1 to 50.');
  });
});

describe('agentErrorField', () => {
  const bad = (message: string) => new ApiError(400, 'invalid_field', message);
  it('finds the field in the server’s words', () => {
    expect(agentErrorField(bad('field "max_tokens" must be an integer from 1 to 65536'))).toBe('max_tokens');
    expect(agentErrorField(bad('field "category" is required'))).toBe('category');
    expect(agentErrorField(bad('tools must be an array of at most 32 names of tools this server has'))).toBe('tools');
    expect(agentErrorField(bad('sub_agents must be an array of at most 10 agent ids'))).toBe('sub_agents');
    expect(agentErrorField(bad('every sub-agent must be an existing agent that is not retired'))).toBe('sub_agents');
    expect(agentErrorField(bad('these sub-agents would make a cycle: an agent cannot hand work back to itself'))).toBe('sub_agents');
    expect(agentErrorField(bad('sub-agents may be nested at most 3 deep'))).toBe('sub_agents');
    expect(agentErrorField(bad('a sub-agent does not exist'))).toBe('sub_agents');
    expect(agentErrorField(bad('limits.foo is not a limit, or is also given at the top level'))).toBe('limits');
    expect(agentErrorField(bad('status must be draft, published or retired'))).toBe('status');
    expect(agentErrorField(new ApiError(409, 'agent_name_taken', 'an agent has this name already'))).toBe('name');
    expect(agentErrorField(new ApiError(400, 'unknown_field', 'unknown field "colour"'))).toBeNull();
    expect(agentErrorField(new ApiError(500, 'internal', 'internal error'))).toBeNull();
    expect(agentErrorField(new Error('x'))).toBeNull();
  });
});

describe('toolChecklist', () => {
  it('offers the built-in tools, then enabled servers’ allowed tools, then what else the agent has', () => {
    const servers = [
      server({
        name: 'zeta',
        allowed_tools: ['echo', 'get-sum'],
        tools: [
          { name: 'echo', description: 'Echoes back', inputSchema: {} },
          { name: 'get-sum', description: 'Adds' },
          { name: 'secret', description: 'not allowed' },
        ],
      }),
      server({ id: 'm2', name: 'alpha', allowed_tools: ['ping'], tools: null }),
      server({ id: 'm3', name: 'off', enabled: false, allowed_tools: ['echo'] }),
      server({ id: 'm4', name: 'none', allowed_tools: [] }),
    ];
    const c = toolChecklist(servers, ['calculator', 'mcp:off/echo', 'mcp:zeta/secret', 'mcp:zeta/echo', 'mcp:off/echo'], {
      calculator: 'Sums.',
    });
    expect(c.builtin.map((t) => t.ref)).toEqual(['calculator', 'current_time', 'knowledge_search', 'http_fetch']);
    expect(c.builtin[0].description).toBe('Sums.');
    expect(c.servers.map((g) => g.server)).toEqual(['alpha', 'zeta']);
    expect(c.servers[1].tools).toEqual([
      { ref: 'mcp:zeta/echo', name: 'echo', description: 'Echoes back' },
      { ref: 'mcp:zeta/get-sum', name: 'get-sum', description: 'Adds' },
    ]);
    expect(c.servers[0].tools).toEqual([{ ref: 'mcp:alpha/ping', name: 'ping', description: '' }]);
    expect(c.other).toEqual(['mcp:off/echo', 'mcp:zeta/secret']);
  });
});

describe('ordered choices', () => {
  it('ticks at the end, unticks in place, and moves', () => {
    expect(toggleInOrder(['a', 'b'], 'c', true)).toEqual(['a', 'b', 'c']);
    expect(toggleInOrder(['a', 'b'], 'a', true)).toEqual(['a', 'b']);
    expect(toggleInOrder(['a', 'b', 'c'], 'b', false)).toEqual(['a', 'c']);
    expect(moveInOrder(['a', 'b', 'c'], 'c', -1)).toEqual(['a', 'c', 'b']);
    expect(moveInOrder(['a', 'b', 'c'], 'a', -1)).toEqual(['a', 'b', 'c']);
    expect(moveInOrder(['a', 'b', 'c'], 'b', 1)).toEqual(['a', 'c', 'b']);
  });

  it('offers other agents that are not retired, and keeps the chosen ones with their places', () => {
    const all = [
      agent({ id: 'a1', name: 'Self' }),
      agent({ id: 's1', name: 'Clock', status: 'published' }),
      agent({ id: 's2', name: 'Alpha', status: 'draft' }),
      agent({ id: 's3', name: 'Old', status: 'retired' }),
      agent({ id: 's4', name: 'Older', status: 'retired' }),
    ];
    const c = subAgentChoices(all, 'a1', ['s4', 's1', 'gone']);
    expect(c.map((x) => [x.name, x.position, x.status])).toEqual([
      ['Alpha', 0, 'draft'],
      ['Clock', 2, 'published'],
      ['Older', 1, 'retired'],
      ['Unknown agent gone', 3, null],
    ]);
  });
});
