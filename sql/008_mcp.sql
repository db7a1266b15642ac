-- MCP servers: tools from outside, registered by administrators.
--
-- A server is reached over Streamable HTTP (url, headers: e.g. an
-- Authorization header, never shown back) or started as a command that
-- speaks JSON-RPC on stdin/stdout (command, env), one process per worker
-- process, supervised by it.  tools is the server's last tools/list
-- (refreshed by an administrator, and when the server says its list
-- changed); allowed_tools is the subset agents may be given (the seed's
-- read-only filtering: nothing is allowed until an administrator says
-- so).  An agent names one as "mcp:<server>/<tool>" in its tools; its
-- model sees it as "<server>__<tool>".
CREATE TABLE mcp_servers (
    id               uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    name             text        NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,31}$'),
    description      text        NOT NULL DEFAULT '' CHECK (char_length(description) <= 2000),
    transport        text        NOT NULL CHECK (transport IN ('http', 'stdio')),
    url              text        CHECK (char_length(url) <= 2048),
    headers          jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(headers) = 'object'),
    command          text[]      CHECK (cardinality(command) BETWEEN 1 AND 32),
    env              jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(env) = 'object'),
    allowed_tools    text[]      NOT NULL DEFAULT '{}' CHECK (cardinality(allowed_tools) <= 256),
    enabled          boolean     NOT NULL DEFAULT true,
    tools            jsonb       CHECK (tools IS NULL OR jsonb_typeof(tools) = 'array'),
    tools_listed_at  timestamptz,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((transport = 'http') = (url IS NOT NULL)),
    CHECK ((transport = 'stdio') = (command IS NOT NULL))
);
