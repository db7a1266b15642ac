// @vitest-environment node
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../../api/errors';
import type { McpServer } from '../../../api/types';
import {
  allowRows,
  allowedChanged,
  allowedFromRows,
  argvFromText,
  argvToText,
  mcpBody,
  mcpErrorField,
  mcpFormFrom,
  newSecretRow,
  notAllowableReason,
  secretsChanged,
  secretsValue,
  type SecretRow,
} from './mcpForm';

const STDIO: McpServer = {
  id: 'm1',
  name: 'every',
  description: 'The reference server',
  transport: 'stdio',
  url: null,
  headers: [],
  command: ['node', '/srv/index.js', 'stdio'],
  env: ['API_KEY'],
  allowed_tools: ['echo'],
  enabled: true,
  tools: null,
  tools_listed_at: null,
  last_error: null,
  created_at: '',
  updated_at: '',
};

const HTTP: McpServer = { ...STDIO, id: 'm2', name: 'remote', transport: 'http', url: 'https://mcp.example/mcp', command: null, env: [], headers: ['Authorization', 'X-Team'] };

function rows(...pairs: [string, string, boolean][]): SecretRow[] {
  return pairs.map(([name, value, stored]) => ({ ...newSecretRow(name, stored), value }));
}

describe('the command textarea', () => {
  it('is one argument a line', () => {
    expect(argvFromText('node\n/srv/index.js\r\n  stdio  \n\n')).toEqual(['node', '/srv/index.js', 'stdio']);
    expect(argvFromText('node\r/a b.js')).toEqual(['node', '/a b.js']);
    expect(argvFromText(' \n ')).toEqual([]);
    expect(argvToText(['node', '/a b.js', '--flag=x y'])).toBe('node\n/a b.js\n--flag=x y');
    expect(argvToText(null)).toBe('');
    const argv = ['python3', '-m', 'server', '--name', 'two words'];
    expect(argvFromText(argvToText(argv))).toEqual(argv);
  });
});

describe('write-only headers and environment', () => {
  it('sends nothing while the stored ones are untouched', () => {
    expect(secretsChanged(['A', 'B'], rows(['A', '', true], ['B', '', true]))).toBe(false);
    expect(secretsValue('headers', ['A', 'B'], rows(['A', '', true], ['B', '', true], ['', '', false]))).toEqual({});
    expect(secretsValue('env', [], [])).toEqual({});
  });

  it('replaces them whole: every row needs a value once one changes', () => {
    const r = rows(['Authorization', 'Bearer new', true], ['X-Team', '', true]);
    expect(secretsChanged(['Authorization', 'X-Team'], r)).toBe(true);
    expect(secretsValue('headers', ['Authorization', 'X-Team'], r).error).toMatch(/new value for “X-Team” too/);
    r[1].value = 'blue';
    expect(secretsValue('headers', ['Authorization', 'X-Team'], r)).toEqual({
      value: { Authorization: 'Bearer new', 'X-Team': 'blue' },
    });
  });

  it('removes them all with an empty object, and one with the rest re-entered', () => {
    expect(secretsValue('headers', ['Authorization'], [])).toEqual({ value: {} });
    expect(secretsValue('headers', ['A', 'B'], rows(['B', '', true])).error).toMatch(/“B” too/);
    expect(secretsValue('headers', ['A', 'B'], rows(['B', 'b', true]))).toEqual({ value: { B: 'b' } });
  });

  it('checks names: the characters, repeats, a value without a name', () => {
    expect(secretsValue('env', [], rows(['API KEY', 'x', false])).error).toMatch(/letters, digits and '_'/);
    expect(secretsValue('headers', [], rows(['X_Bad', 'x', false])).error).toMatch(/letters, digits and '-'/);
    expect(secretsValue('headers', [], rows(['X-A', '1', false], ['x-a', '2', false])).error).toMatch(/twice/);
    expect(secretsValue('env', [], rows(['', 'x', false])).error).toMatch(/name/);
    expect(secretsValue('env', [], rows(['TOKEN', '', false])).error).toBe('Enter a value for “TOKEN”.');
    expect(secretsValue('env', [], rows(['TOKEN', 's3cr3t', false]))).toEqual({ value: { TOKEN: 's3cr3t' } });
  });
});

describe('mcpBody', () => {
  it('registers a stdio server', () => {
    const form = { ...mcpFormFrom(null), name: 'every', command: 'node\n/srv/index.js\nstdio' };
    expect(mcpBody(form, null)).toEqual({
      body: { name: 'every', description: '', transport: 'stdio', command: ['node', '/srv/index.js', 'stdio'], enabled: true },
      errors: {},
    });
  });

  it('registers an http server with its headers', () => {
    const form = { ...mcpFormFrom(null), name: 'remote', transport: 'http' as const, url: ' https://mcp.example/mcp ', headers: rows(['Authorization', 'Bearer x', false]) };
    expect(mcpBody(form, null).body).toEqual({
      name: 'remote',
      description: '',
      transport: 'http',
      url: 'https://mcp.example/mcp',
      enabled: true,
      headers: { Authorization: 'Bearer x' },
    });
  });

  it('sends only what changed; the way it is reached goes with its transport', () => {
    const form = mcpFormFrom(STDIO);
    expect(mcpBody(form, STDIO)).toEqual({ body: {}, errors: {} });
    expect(mcpBody({ ...form, enabled: false, description: 'x' }, STDIO).body).toEqual({ enabled: false, description: 'x' });
    expect(mcpBody({ ...form, command: 'node\n/srv/index.js\nstdio\n--verbose' }, STDIO).body).toEqual({
      transport: 'stdio',
      command: ['node', '/srv/index.js', 'stdio', '--verbose'],
    });
    const h = mcpFormFrom(HTTP);
    expect(mcpBody({ ...h, url: 'https://other.example/mcp' }, HTTP).body).toEqual({ transport: 'http', url: 'https://other.example/mcp' });
    expect(mcpBody({ ...h, transport: 'stdio', command: 'true' }, HTTP).body).toEqual({ transport: 'stdio', command: ['true'] });
    expect(mcpBody({ ...h, headers: [] }, HTTP).body).toEqual({ headers: {} });
    expect(mcpBody({ ...form, env: [] }, STDIO).body).toEqual({ env: {} });
  });

  it('checks the name, the url, the command', () => {
    const form = mcpFormFrom(null);
    expect(Object.keys(mcpBody({ ...form, name: 'Bad Name' }, null).errors).sort()).toEqual(['command', 'name']);
    expect(mcpBody({ ...form, name: '-x', command: 'true' }, null).errors.name).toBeTruthy();
    expect(mcpBody({ ...form, name: 'ok', transport: 'http', url: 'ftp://x' }, null).errors).toHaveProperty('url');
    expect(mcpBody({ ...form, name: 'a'.repeat(33), command: 'true' }, null).errors).toHaveProperty('name');
    expect(mcpBody({ ...form, name: 'a'.repeat(32), command: 'true' }, null).errors).toEqual({});
  });
});

describe('mcpErrorField', () => {
  const bad = (m: string) => new ApiError(400, 'invalid_field', m);
  it('finds the field in the server’s words', () => {
    expect(mcpErrorField(bad('name must be 1-32 lowercase letters'))).toBe('name');
    expect(mcpErrorField(bad('url must be an http:// or https:// URL of at most 2048 characters'))).toBe('url');
    expect(mcpErrorField(bad('command must be an array of 1-32 arguments, the program first'))).toBe('command');
    expect(mcpErrorField(bad('headers: "X-Bad" needs a plain name and a text value of at most 4096 bytes'))).toBe('headers');
    expect(mcpErrorField(bad('env must be an object of at most 64 names and text values'))).toBe('env');
    expect(mcpErrorField(bad('allowed_tools must be an array of at most 256 tool names'))).toBe('allowed_tools');
    expect(mcpErrorField(bad('an http server needs url and no command'))).toBe('url');
    expect(mcpErrorField(bad('a stdio server needs command and no url'))).toBe('command');
    expect(mcpErrorField(new ApiError(409, 'mcp_server_name_taken', 'an MCP server with this name exists'))).toBe('name');
    expect(mcpErrorField(bad('unknown field "colour"'))).toBeNull();
    expect(mcpErrorField(new ApiError(502, 'mcp_unavailable', 'spawn failed'))).toBeNull();
  });
});

describe('the allow-list', () => {
  it('lists the tools in the server’s order, then allowed ones no longer listed', () => {
    const r = allowRows(
      [
        { name: 'echo', description: 'Echoes', inputSchema: { type: 'object', properties: { message: { type: 'string' } } } },
        { name: 'get-sum' },
      ],
      ['gone', 'echo'],
    );
    expect(r.map((x) => [x.name, x.listed])).toEqual([
      ['echo', true],
      ['get-sum', true],
      ['gone', false],
    ]);
    expect(r[0].schema).toContain('"message"');
    expect(r[1].schema).toBe('');
    expect(allowRows(null, [])).toEqual([]);
    expect(allowedFromRows(r, new Set(['gone', 'echo']))).toEqual(['echo', 'gone']);
    expect(allowedChanged(['echo', 'gone'], ['gone', 'echo'])).toBe(false);
    expect(allowedChanged(['echo'], ['echo', 'get-sum'])).toBe(true);
    expect(allowedChanged(['echo'], ['get-sum'])).toBe(true);
  });

  it('says when a tool cannot be offered to agents', () => {
    expect(notAllowableReason('every', 'echo')).toBeNull();
    expect(notAllowableReason('every', 'tool.with.dots')).toMatch(/characters/);
    expect(notAllowableReason('s'.repeat(32), 't'.repeat(31))).toMatch(/64/);
  });
});
