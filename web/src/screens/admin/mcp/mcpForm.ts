// The MCP server form's pure parts: the command textarea (one argument a
// line) and its argv, the write-only headers and environment as name/value
// rows, the body of a save (a create sends everything, an edit what
// changed), the field a server error is about, and the tool allow-list.

import { ApiError } from '../../../api/errors';
import type { McpServer, McpServerInput, McpTool, McpTransport } from '../../../api/types';

export const NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,31}$/;
const HEADER_NAME = /^[A-Za-z0-9-]{1,128}$/;
const ENV_NAME = /^[A-Za-z0-9_]{1,128}$/;
export const MAX_ARGS = 32;

/** The command textarea's text as argv: a line each, ends trimmed, blank
 * lines dropped. */
export function argvFromText(text: string): string[] {
  return text
    .split(/\r\n|\r|\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '');
}

/** argv as the textarea shows it. */
export function argvToText(argv: readonly string[] | null | undefined): string {
  return argv ? argv.join('\n') : '';
}

// ---- write-only name/value pairs (headers, env) ----------------------------

export interface SecretRow {
  /** React key, stable while the row lives. */
  key: string;
  name: string;
  /** What the admin typed; '' for a stored value that is not replaced. */
  value: string;
  /** The row stands for a stored entry (its value hidden). */
  stored: boolean;
}

export type SecretKind = 'headers' | 'env';

let rowSeq = 0;
export function newSecretRow(name = '', stored = false): SecretRow {
  rowSeq += 1;
  return { key: `row-${rowSeq}`, name, value: '', stored };
}

export function secretRowsFrom(names: readonly string[]): SecretRow[] {
  return names.map((n) => newSecretRow(n, true));
}

/** Rows the admin left empty (no name, no value) do not count. */
function filled(rows: readonly SecretRow[]): SecretRow[] {
  return rows.filter((r) => r.name.trim() !== '' || r.value !== '');
}

/** The rows differ from what is stored: a value typed, a row added,
 * removed or renamed. */
export function secretsChanged(storedNames: readonly string[], rows: readonly SecretRow[]): boolean {
  const f = filled(rows);
  if (f.some((r) => r.value !== '')) return true;
  const names = f.map((r) => r.name.trim());
  return names.length !== storedNames.length || names.some((n, i) => n !== storedNames[i]);
}

/**
 * What a save sends for headers or env: undefined when nothing changed
 * (the stored ones stay); else the whole new set, since the API replaces
 * them together and never shows a value back, so every row then needs a
 * value ({} removes them all).  error: why the rows cannot be sent.
 */
export function secretsValue(
  kind: SecretKind,
  storedNames: readonly string[],
  rows: readonly SecretRow[],
): { value?: Record<string, string>; error?: string } {
  if (!secretsChanged(storedNames, rows)) return {};
  const what = kind === 'headers' ? 'header' : 'environment variable';
  const pattern = kind === 'headers' ? HEADER_NAME : ENV_NAME;
  const allowed = kind === 'headers' ? "letters, digits and '-'" : "letters, digits and '_'";
  const value: Record<string, string> = {};
  const seen = new Set<string>();
  for (const r of filled(rows)) {
    const name = r.name.trim();
    if (!name) return { error: `Give every ${what} a name.` };
    if (!pattern.test(name)) return { error: `“${name}”: a ${what} name is 1 to 128 ${allowed}.` };
    const folded = kind === 'headers' ? name.toLowerCase() : name;
    if (seen.has(folded)) return { error: `“${name}” is given twice.` };
    seen.add(folded);
    if (r.value === '') {
      return {
        error: r.stored
          ? `Enter a new value for “${name}” too: the ${kind === 'headers' ? 'headers' : 'environment'} is replaced as a whole, and stored values cannot be read back.`
          : `Enter a value for “${name}”.`,
      };
    }
    value[name] = r.value;
  }
  return { value };
}

// ---- the form ---------------------------------------------------------------

export interface McpFormState {
  name: string;
  description: string;
  transport: McpTransport;
  url: string;
  /** One argument a line. */
  command: string;
  headers: SecretRow[];
  env: SecretRow[];
  enabled: boolean;
}

export type McpField = 'name' | 'description' | 'transport' | 'url' | 'command' | 'headers' | 'env' | 'allowed_tools' | 'enabled';
export type McpErrors = Partial<Record<McpField, string>>;

export function mcpFormFrom(server: McpServer | null): McpFormState {
  return {
    name: server?.name ?? '',
    description: server?.description ?? '',
    transport: server?.transport ?? 'stdio',
    url: server?.url ?? '',
    command: argvToText(server?.command),
    headers: secretRowsFrom(server?.headers ?? []),
    env: secretRowsFrom(server?.env ?? []),
    enabled: server?.enabled ?? true,
  };
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * The body of a save, and the form's own errors (then nothing is sent).
 * original null: a create.  An edit sends what changed; the way the server
 * is reached goes whole (transport with its url or command), as the API
 * wants.  Headers are sent only for an http server and env only for a
 * stdio one (the form shows only those).
 */
export function mcpBody(form: McpFormState, original: McpServer | null): { body: McpServerInput; errors: McpErrors } {
  const errors: McpErrors = {};
  const body: McpServerInput = {};
  const name = form.name.trim();
  if (!NAME_PATTERN.test(name)) {
    errors.name = 'The name is 1 to 32 lowercase letters, digits, “-” or “_”, starting with a letter or digit.';
  }
  const url = form.url.trim();
  const argv = argvFromText(form.command);
  if (form.transport === 'http') {
    if (!/^https?:\/\/\S+$/i.test(url)) errors.url = 'Enter the server’s http:// or https:// URL.';
  } else if (argv.length === 0) {
    errors.command = 'Enter the command: the program on the first line, then one argument a line.';
  } else if (argv.length > MAX_ARGS) {
    errors.command = `A command has at most ${MAX_ARGS} arguments, the program included.`;
  }
  const headers = form.transport === 'http' ? secretsValue('headers', original?.headers ?? [], form.headers) : {};
  const env = form.transport === 'stdio' ? secretsValue('env', original?.env ?? [], form.env) : {};
  if (headers.error) errors.headers = headers.error;
  if (env.error) errors.env = env.error;
  if (Object.keys(errors).length > 0) return { body: {}, errors };

  const reach: McpServerInput = form.transport === 'http' ? { transport: 'http', url } : { transport: 'stdio', command: argv };
  if (!original) {
    Object.assign(body, { name, description: form.description }, reach, { enabled: form.enabled });
  } else {
    if (name !== original.name) body.name = name;
    if (form.description !== original.description) body.description = form.description;
    const reachChanged =
      form.transport !== original.transport ||
      (form.transport === 'http' ? url !== (original.url ?? '') : !sameList(argv, original.command ?? []));
    if (reachChanged) Object.assign(body, reach);
    if (form.enabled !== original.enabled) body.enabled = form.enabled;
  }
  if (headers.value) body.headers = headers.value;
  if (env.value) body.env = env.value;
  return { body, errors };
}

/**
 * The field a refused save is about, from the server's words ("name must
 * be ...", "headers: \"X\" needs ...", "an http server needs url ...");
 * a 409 mcp_server_name_taken is the name's.  null: not one field's.
 */
export function mcpErrorField(e: unknown): McpField | null {
  if (!(e instanceof ApiError)) return null;
  if (e.status === 409 && e.code === 'mcp_server_name_taken') return 'name';
  if (e.status !== 400) return null;
  const m = e.message;
  if (/^an http server needs/.test(m)) return 'url';
  if (/^a stdio server needs/.test(m)) return 'command';
  if (/^url or command/.test(m)) return 'transport';
  const first = /^([a-z_]+)\b/.exec(m);
  const fields: McpField[] = ['name', 'description', 'transport', 'url', 'command', 'headers', 'env', 'allowed_tools', 'enabled'];
  return first && (fields as string[]).includes(first[1]) ? (first[1] as McpField) : null;
}

// ---- the tools and which are allowed -------------------------------------------

export interface AllowRow {
  name: string;
  description: string;
  /** The input schema as indented JSON ('' when the tool gives none). */
  schema: string;
  /** In the server's last listing (else only in allowed_tools). */
  listed: boolean;
}

/** The rows of the allow-list: the listed tools in the server's order,
 * then allowed ones the listing no longer has. */
export function allowRows(tools: readonly McpTool[] | null, allowed: readonly string[]): AllowRow[] {
  const rows: AllowRow[] = (tools ?? [])
    .filter((t) => typeof t.name === 'string' && t.name !== '')
    .map((t) => ({
      name: t.name,
      description: typeof t.description === 'string' ? t.description : '',
      schema: t.inputSchema === undefined ? '' : JSON.stringify(t.inputSchema, null, 2),
      listed: true,
    }));
  const names = new Set(rows.map((r) => r.name));
  for (const a of allowed) {
    if (!names.has(a)) {
      names.add(a);
      rows.push({ name: a, description: '', schema: '', listed: false });
    }
  }
  return rows;
}

/** allowed_tools from the ticked names, in the rows' order. */
export function allowedFromRows(rows: readonly AllowRow[], ticked: ReadonlySet<string>): string[] {
  return rows.filter((r) => ticked.has(r.name)).map((r) => r.name);
}

/** The allow-list differs from what is stored (order aside). */
export function allowedChanged(stored: readonly string[], next: readonly string[]): boolean {
  if (stored.length !== next.length) return true;
  const s = new Set(stored);
  return next.some((x) => !s.has(x));
}

const TOOL_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** Why an agent could not be given this tool of this server, or null:
 * its name must be 1-64 of [A-Za-z0-9_-], and "<server>__<tool>" (the
 * name the model sees) at most 64 characters. */
export function notAllowableReason(server: string, tool: string): string | null {
  if (!TOOL_NAME.test(tool)) return 'Its name has characters agents’ tool names cannot have.';
  if (server.length + 2 + tool.length > 64) return `“${server}__${tool}” is longer than the 64 characters a model's tool name can have.`;
  return null;
}
