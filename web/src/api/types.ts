// Shapes of the Mangoo JSON API (/api/v1), as the worker writes them
// (worker/jobs/*.c).

export interface ErrorBody {
  error: { code: string; message: string; request_id?: string };
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

// ---- identity ---------------------------------------------------------

export type IdentityMode = 'local' | 'cognito';
export type RegistrationMode = 'open' | 'first-admin' | 'closed';

export interface CognitoConfig {
  domain: string;
  client_id: string;
  scopes: string | string[];
}

export interface ServerConfig {
  identity: IdentityMode;
  registration: RegistrationMode;
  can_register: boolean;
  cognito: CognitoConfig | null;
  /** Sign-up needs an e-mail in one of these domains (empty: any). */
  allowed_domains?: string[];
  /** The server takes invitation codes at sign-up. */
  invitations?: boolean;
}

/** Answer of /auth/login, /auth/register, /auth/refresh, /auth/cognito in
 * cookie mode (the refresh token is an HttpOnly cookie, never in JSON). */
export interface TokenResponse {
  access_token: string;
  token_type: string;
  expires_in: number;
  refresh_token?: string;
}

export interface LoginRequest {
  username: string;
  password: string;
  session: 'cookie';
}

export interface RegisterRequest extends LoginRequest {
  email?: string | null;
  /** An administrator's invitation code: valid in any registration mode. */
  invitation?: string;
}

export interface CognitoExchangeRequest {
  code: string;
  code_verifier: string;
  redirect_uri: string;
}

/** Claims of an access token that the app uses. */
export interface AccessClaims {
  sub: string;
  username?: string;
  'cognito:username'?: string;
  'cognito:groups'?: string[];
  exp?: number;
  iat?: number;
}

// ---- users ------------------------------------------------------------

export type Role = 'user' | 'admin';

/** What the caller may do (GET /users/me). */
export interface Permissions {
  admin: boolean;
  create_bots: boolean;
  publish_bots: boolean;
}

export interface User {
  id: string;
  username: string;
  email: string | null;
  role: Role;
  disabled: boolean;
  /** Permission groups (admin users list: the stored ones; users/me: the
   * token's). Absent from a server that predates groups. */
  groups?: string[];
  /** users/me only. */
  permissions?: Permissions;
  created_at: string;
  updated_at: string;
}

export interface UserPatch {
  username?: string;
  email?: string | null;
}

export interface AdminUserPatch {
  role?: Role;
  disabled?: boolean;
  /** Replaces the user's groups ("admin" is the role's, not allowed here). */
  groups?: string[];
}

/** GET /admin/permissions: the configured group names (read-only). */
export interface AdminPermissions {
  admin_group: string;
  /** null: every user may create bots. */
  create_group: string | null;
  publish_group: string;
}

/** GET/PATCH /admin/signup */
export interface SignupRules {
  registration: RegistrationMode;
  allowed_domains: string[];
}

export interface Invitation {
  id: string;
  email: string;
  role: Role;
  groups: string[];
  expires_at: string;
  created_at: string;
  used_at?: string | null;
  revoked_at?: string | null;
}

/** The answer of POST /admin/invitations: the code, shown once. */
export interface InvitationCreated extends Invitation {
  code: string;
}

export interface InvitationInput {
  email: string;
  role?: Role;
  groups?: string[];
  /** 1 to 90, default 7 */
  expires_in_days?: number;
}

// ---- models and bots --------------------------------------------------

export interface Model {
  id: string;
  name: string;
  provider: string;
  offline: boolean;
}

export interface ModelList {
  items: Model[];
  default: string;
}

export type Visibility = 'private' | 'shared' | 'store';

/** Another user's bot, as they may see it: never its instructions or
 * knowledge bases. */
export interface SharedBot {
  id: string;
  name: string;
  description: string;
  model_id: string;
  visibility: Visibility;
  owner: { username: string } | null;
  use_count: number;
  is_owner: false;
  pinned: boolean;
  rag_enabled: boolean;
  created_at: string;
  updated_at: string;
}

/** The owner's view of a bot. */
export interface Bot {
  id: string;
  owner_id: string;
  /** Absent from a server that predates sharing (then: private). */
  visibility?: Visibility;
  use_count?: number;
  is_owner?: true;
  pinned?: boolean;
  owner?: { username: string } | null;
  name: string;
  description: string;
  model_id: string;
  instructions: string;
  temperature: number;
  max_tokens: number;
  rag_enabled: boolean;
  /** The first of knowledge_base_ids (kept for older clients). */
  knowledge_base_id: string | null;
  /** The owner's knowledge bases this bot answers from (at most 10);
   * absent from a server that predates knowledge bases. */
  knowledge_base_ids?: string[];
  created_at: string;
  updated_at: string;
}

export interface BotInput {
  name?: string;
  description?: string;
  model_id?: string;
  instructions?: string;
  temperature?: number;
  max_tokens?: number;
  rag_enabled?: boolean;
  knowledge_base_ids?: string[];
  visibility?: Visibility;
}

/** Any bot the caller can see: theirs, or another's shared one. */
export type AnyBot = Bot | SharedBot;

/** GET /bots/{id}/shares: the named people a bot is shared with. */
export interface BotShare {
  user_id: string;
  username: string;
  email: string | null;
  created_at: string;
}

/** GET /bots/{id}/usage */
export interface BotUsage {
  bot_id: string;
  days: UsageDay[];
}

// ---- a bot published as an API ------------------------------------------

export interface ApiKeyUsageToday {
  requests: number;
  input_tokens: number;
  output_tokens: number;
}

export interface ApiKey {
  id: string;
  name: string;
  /** The first 12 characters of the key. */
  prefix: string;
  rate_per_second: number;
  burst: number;
  expires_at: string | null;
  revoked_at: string | null;
  created_at: string;
  last_used_at: string | null;
  today?: ApiKeyUsageToday;
}

/** The answer of POST /bots/{id}/api-keys: the key itself, shown once. */
export interface ApiKeyCreated extends ApiKey {
  key: string;
}

export interface ApiKeyInput {
  name: string;
  rate_per_second?: number;
  burst?: number;
  /** RFC 3339, in the future; null: never expires. */
  expires_at?: string | null;
}

/** GET/PATCH /bots/{id}/publication: the bot's daily quota over all its
 * keys (null: unlimited) and where to call it. */
export interface Publication {
  quota_requests: number | null;
  quota_tokens: number | null;
  endpoint: string;
  stream_endpoint: string;
}

// ---- chats ------------------------------------------------------------

export interface Chat {
  id: string;
  bot_id: string | null;
  /** A chat with a marketplace agent instead of a bot. */
  agent_id?: string | null;
  title: string;
  created_at: string;
  updated_at: string;
}

export type MessageStatus = 'complete' | 'error' | 'cancelled';

export interface Message {
  id: string;
  role: 'user' | 'assistant' | 'system';
  content: string;
  status: MessageStatus;
  stop_reason: string | null;
  error: string | null;
  model_id: string | null;
  bot_id: string | null;
  agent_id?: string | null;
  input_tokens: number;
  output_tokens: number;
  /** The sources an answer drew on (null when none). */
  citations?: Citation[] | null;
  /** An agent's turn, model call by model call, in order (null for an
   * ordinary turn; absent from a server that predates tools). */
  steps?: MessageStep[] | null;
  created_at: string;
}

/** One tool call of a stored turn. */
export interface StoredToolCall {
  id: string;
  name: string;
  /** The arguments the model gave (a JSON object). */
  input: Record<string, unknown>;
  ok: boolean;
  /** The tool's answer (null when it failed). */
  output: string | null;
  /** Why it failed (null when it did not). */
  error: string | null;
  ms: number;
}

/** One model call of an agent's turn: its text and the tools it asked for
 * (the final step has none). */
export interface MessageStep {
  step: number;
  text: string;
  stop_reason: string | null;
  ms: number;
  tool_calls: StoredToolCall[];
}

export interface ChatWithMessages extends Chat {
  messages: Message[];
  next_cursor: string | null;
}

/** One of bot_id (your bot) and agent_id (a published agent). */
export interface ChatTurnRequest {
  bot_id?: string;
  agent_id?: string;
  chat_id?: string | null;
  message: string;
}

// The events of POST /api/v1/chat/stream (and of its resumption, GET
// /api/v1/chats/{id}/stream), each with an SSE id 1, 2, 3 ... in its answer.
export interface StartEventData {
  chat_id: string;
  message_id: string;
  user_message_id: string;
  bot_id: string | null;
  agent_id?: string | null;
  model: string;
  chat_created: boolean;
  title?: string;
}

export interface MessageEventData {
  content: string;
}

export interface Usage {
  input_tokens: number;
  output_tokens: number;
}

export interface DoneEventData {
  message_id: string;
  /** "cancelled" when the answer was stopped (POST /chats/{id}/cancel,
   * from this tab or another). */
  stop_reason: string | null;
  usage: Usage;
}

export interface ErrorEventData {
  code: string;
  message: string;
  message_id?: string;
  saved?: boolean;
  request_id?: string;
}

/** One numbered source of an answer: the passage the [n] in it refers to. */
export interface Citation {
  n: number;
  document_id: string;
  document: string;
  /** 1-based; 0 or null when the document has no pages. */
  page: number | null;
  heading: string | null;
  snippet: string;
  score: number;
}

/** Sent after `start` and before the first `message` of a RAG turn. */
export interface CitationsEventData {
  citations: Citation[];
}

/** The model asked for a tool (several arrive back to back when it asks
 * for several at once). */
export interface ToolCallEventData {
  id: string;
  name: string;
  /** The arguments (a JSON object). */
  input: Record<string, unknown>;
  /** The model call (1-based) that asked. */
  step: number;
}

/** A tool's answer to the tool_call with the same id. */
export interface ToolResultEventData {
  id: string;
  name: string;
  ok: boolean;
  /** A short form of the answer, or the error when ok is false. */
  summary: string;
  ms: number;
}

/** A sub-agent started or ended ("orchestrator/web-reader": the path of
 * agents that handed over to it).  `ok` is set on `end`. */
export interface AgentEventData {
  path: string;
  state: 'start' | 'end';
  ok?: boolean;
}

/** Sent by the resume request (GET /chats/{id}/stream) instead of the
 * events a reader missed when they are too old to replay, and before the
 * `done`/`error` of an answer replayed from the database: `content` is the
 * whole answer so far and REPLACES the text shown.  Its id is the latest
 * event's. */
export interface SnapshotEventData {
  chat_id: string;
  message_id: string;
  user_message_id: string;
  bot_id?: string | null;
  agent_id?: string | null;
  model: string;
  content: string;
  citations?: Citation[] | null;
}

/** POST /chats/{id}/cancel */
export interface CancelResult {
  message_id: string;
  status: 'cancelled';
}

export type ChatStreamEvent =
  | { type: 'start'; data: StartEventData }
  | { type: 'snapshot'; data: SnapshotEventData }
  | { type: 'citations'; data: CitationsEventData }
  | { type: 'message'; data: MessageEventData }
  | { type: 'tool_call'; data: ToolCallEventData }
  | { type: 'tool_result'; data: ToolResultEventData }
  | { type: 'agent'; data: AgentEventData }
  | { type: 'done'; data: DoneEventData }
  | { type: 'error'; data: ErrorEventData };

// ---- knowledge bases --------------------------------------------------

export interface KnowledgeBase {
  id: string;
  name: string;
  description: string;
  /** "local", "amazon.titan-embed-text-v2:0", "openai:<name>" */
  embedding_model: string;
  embedding_dim: number;
  document_count: number;
  chunk_count: number;
  created_at: string;
  updated_at: string;
}

export interface KnowledgeBaseInput {
  name?: string;
  description?: string;
  /** Only when creating; a change later is refused (400 invalid_field). */
  embedding_model?: string;
}

export type DocumentStatus = 'queued' | 'processing' | 'ready' | 'failed';

export interface KbDocument {
  id: string;
  knowledge_base_id: string;
  filename: string;
  content_type: string | null;
  source_url: string | null;
  size_bytes: number | null;
  status: DocumentStatus;
  /** Why it failed (null unless failed). */
  error: string | null;
  progress: { done: number; total: number } | null;
  chunk_count: number;
  created_at: string;
  updated_at: string;
  /** Set (true) when the same content was already in the knowledge base:
   * this is the existing document (HTTP 200 instead of 202). */
  duplicate?: boolean;
}

export interface SearchRequest {
  /** 1 to 2000 characters */
  query: string;
  /** 1 to 50, default 5 */
  top_k?: number;
  /** 0 to 1 */
  threshold?: number;
}

export interface SearchHit {
  chunk_id: string;
  document_id: string;
  document: string;
  page: number | null;
  heading: string | null;
  snippet: string;
  text: string;
  score: number;
}

export interface SearchResult {
  items: SearchHit[];
  embedding_model: string;
}

// ---- usage ------------------------------------------------------------

export interface UsageDay {
  day: string;
  requests: number;
  input_tokens: number;
  output_tokens: number;
}

export interface UsageTotals {
  requests: number;
  input_tokens: number;
  output_tokens: number;
}

export interface MyUsage {
  from: string;
  to: string;
  days: UsageDay[];
  total: UsageTotals;
  today: {
    input_tokens: number;
    output_tokens: number;
    quota: number | null;
    remaining: number | null;
  };
}

export interface AdminUsageItem {
  user_id: string;
  username: string | null;
  requests: number;
  input_tokens: number;
  output_tokens: number;
}

export interface AdminUsage {
  from: string;
  to: string;
  items: AdminUsageItem[];
  total: UsageTotals;
  next_cursor: string | null;
}

// ---- agents -------------------------------------------------------------

export interface AgentLimits {
  max_steps: number;
  timeout_seconds: number;
  tool_timeout_seconds: number;
}

export interface Agent {
  id: string;
  name: string;
  category: string;
  description: string;
  model_id: string;
  instructions: string;
  temperature: number;
  max_tokens: number;
  tools: string[];
  sub_agents: string[];
  limits: AgentLimits;
  status: 'draft' | 'published' | 'retired';
  created_at: string;
  updated_at: string;
}

export interface AgentCategory {
  category: string;
  agents: number;
}

export type AgentStatus = Agent['status'];

/** The body of POST /admin/agents (name and category required) and of
 * PATCH /admin/agents/{id} (any of them). */
export interface AgentInput {
  name?: string;
  category?: string;
  description?: string;
  model_id?: string;
  instructions?: string;
  temperature?: number;
  max_tokens?: number;
  /** Built-in tool names, and MCP tools as "mcp:<server>/<tool>". */
  tools?: string[];
  /** Agent ids, in the order they are offered. */
  sub_agents?: string[];
  limits?: Partial<AgentLimits>;
  status?: AgentStatus;
}

// ---- tool-call audit (administrators) -------------------------------------

/** One row of GET /admin/tool-calls: one tool call of an agent's turn. */
export interface AdminToolCall {
  id: string;
  user_id: string;
  /** null when the account is gone or has no name */
  username: string | null;
  chat_id: string | null;
  message_id: string | null;
  agent_id: string | null;
  step: number;
  call_id: string;
  /** As the model names it: "calculator", "<server>__<tool>". */
  tool: string;
  /** The arguments the model gave (a JSON object). */
  input: unknown;
  ok: boolean;
  output: string | null;
  error: string | null;
  duration_ms: number;
  created_at: string;
}

// ---- MCP servers (administrators) -----------------------------------------

export type McpTransport = 'http' | 'stdio';

/** One tool of a server's last tools/list (as the server described it). */
export interface McpTool {
  name: string;
  description?: string;
  inputSchema?: unknown;
  [key: string]: unknown;
}

export interface McpServer {
  id: string;
  name: string;
  description: string;
  transport: McpTransport;
  url: string | null;
  /** Header names only: the values are write-only. */
  headers: string[];
  /** The program and its arguments (stdio), else null. */
  command: string[] | null;
  /** Environment variable names only: the values are write-only. */
  env: string[];
  allowed_tools: string[];
  enabled: boolean;
  /** The last listing (null: never listed, or how the server is reached
   * changed since). */
  tools: McpTool[] | null;
  tools_listed_at: string | null;
  last_error: string | null;
  created_at: string;
  updated_at: string;
}

/** The body of POST /admin/mcp-servers and PATCH /admin/mcp-servers/{id}.
 * Sending headers or env replaces them whole; url and command go with
 * their transport. */
export interface McpServerInput {
  name?: string;
  description?: string;
  transport?: McpTransport;
  url?: string;
  command?: string[];
  headers?: Record<string, string>;
  env?: Record<string, string>;
  allowed_tools?: string[];
  enabled?: boolean;
}
