// How agents name their tools: a built-in tool by its name ("calculator"),
// an MCP server's tool as "mcp:<server>/<tool>" (its model sees it as
// "<server>__<tool>").

/** The tools every server has, in the order forms offer them. */
export const BUILTIN_TOOLS = ['calculator', 'current_time', 'knowledge_search', 'http_fetch'] as const;

/** What a built-in tool does, in a few words. */
export const TOOL_LABELS: Record<string, string> = {
  calculator: 'Calculator',
  current_time: 'Current time',
  knowledge_search: 'Your knowledge bases',
  http_fetch: 'Web pages',
};

/** A longer word on each built-in tool, for administrators. */
export const TOOL_HINTS: Record<string, string> = {
  calculator: 'Arithmetic on an expression.',
  current_time: 'The date and time in a time zone.',
  knowledge_search: "Searches the knowledge bases of the person chatting.",
  http_fetch: 'Reads a public web page.',
};

export interface McpToolRef {
  server: string;
  tool: string;
}

/** "mcp:<server>/<tool>" */
export function mcpToolRef(server: string, tool: string): string {
  return `mcp:${server}/${tool}`;
}

/** The server and tool of an "mcp:<server>/<tool>" reference, or null
 * (a built-in tool, or not a reference). */
export function parseMcpToolRef(ref: string): McpToolRef | null {
  if (!ref.startsWith('mcp:')) return null;
  const rest = ref.slice(4);
  const slash = rest.indexOf('/');
  if (slash < 1 || slash === rest.length - 1) return null;
  return { server: rest.slice(0, slash), tool: rest.slice(slash + 1) };
}

/** The name the agent's model (and its tool-call rows) use: "calculator",
 * "<server>__<tool>". */
export function modelToolName(ref: string): string {
  const m = parseMcpToolRef(ref);
  return m ? `${m.server}__${m.tool}` : ref;
}

/** How a tool is named to people: "Calculator", "echo (from everything)". */
export function toolLabel(ref: string): string {
  if (TOOL_LABELS[ref]) return TOOL_LABELS[ref];
  const m = parseMcpToolRef(ref);
  return m ? `${m.tool} (from ${m.server})` : ref;
}
