-- Each worker process keeps a client per MCP server it has used: a
-- session, the server's stream it listens on, or a stdio server's
-- process.  Changing how a server is reached, disabling it or deleting it
-- is announced on mangoo_mcp (the id as payload, at commit), so every
-- process closes that client at once rather than at its next use, which
-- for a deleted server never comes (worker/mcp/registry.c, through the
-- listener of worker/identity/user_listener.c).  Storing a tool list
-- (tools, tools_listed_at, last_error) changes none of that and is not
-- announced.

CREATE FUNCTION mg_mcp_servers_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('mangoo_mcp', OLD.id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER mcp_servers_changed
    AFTER UPDATE ON mcp_servers
    FOR EACH ROW
    WHEN (OLD.updated_at IS DISTINCT FROM NEW.updated_at
          OR OLD.enabled IS DISTINCT FROM NEW.enabled)
    EXECUTE FUNCTION mg_mcp_servers_notify();

CREATE TRIGGER mcp_servers_deleted
    AFTER DELETE ON mcp_servers
    FOR EACH ROW
    EXECUTE FUNCTION mg_mcp_servers_notify();
