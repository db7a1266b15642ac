-- Agents: the marketplace's ready-made assistants.  An agent is a model
-- with instructions, the tools it may call, the agents it may hand work to
-- (its sub-agents) and the limits of one run.  Administrators manage them;
-- users list the published ones, chat with one (chats.agent_id) or make a
-- bot from one.
--
-- Invariants:
--  - status is 'draft' (administrators only), 'published' (the
--    marketplace) or 'retired' (nobody can start a chat with it; chats
--    that used it keep their history);
--  - tools are names the workers know (worker/agents/tools.c checks them
--    on every save); sub-agents are other agents, never the agent itself,
--    and the graph they make has no cycle and is at most
--    MG_AGENT_DEPTH_MAX deep (checked on save, in the statement that
--    writes, so a refused save changes nothing);
--  - limits bound one run: model steps, wall time, and each tool call's
--    time.  Columns mirror mg_agent_fields in worker/jobs/agents.c.

DROP INDEX agents_marketplace_idx;          -- on the published column, going
ALTER TABLE agents DROP CONSTRAINT agents_status_check;
UPDATE agents SET status = CASE WHEN status = 'retired' THEN 'retired'
                                WHEN published THEN 'published' ELSE 'draft' END;
ALTER TABLE agents
    ALTER COLUMN status SET DEFAULT 'draft',
    ADD CONSTRAINT agents_status_check CHECK (status IN ('draft', 'published', 'retired')),
    DROP COLUMN published,
    ADD COLUMN model_id      text    NOT NULL DEFAULT 'local'
                             CHECK (char_length(model_id) BETWEEN 1 AND 255),
    ADD COLUMN instructions  text    NOT NULL DEFAULT '' CHECK (char_length(instructions) <= 32000),
    ADD COLUMN temperature   double precision NOT NULL DEFAULT 0.7
                             CHECK (temperature >= 0 AND temperature <= 1),
    ADD COLUMN max_tokens    integer NOT NULL DEFAULT 4096 CHECK (max_tokens BETWEEN 1 AND 65536),
    ADD COLUMN tools         text[]  NOT NULL DEFAULT '{}' CHECK (cardinality(tools) <= 32),
    ADD COLUMN max_steps     integer NOT NULL DEFAULT 8 CHECK (max_steps BETWEEN 1 AND 50),
    ADD COLUMN timeout_seconds      integer NOT NULL DEFAULT 120
                                    CHECK (timeout_seconds BETWEEN 1 AND 3600),
    ADD COLUMN tool_timeout_seconds integer NOT NULL DEFAULT 20
                                    CHECK (tool_timeout_seconds BETWEEN 1 AND 600);

-- the marketplace: published agents newest first (keyset on created_at, id),
-- by category or not
CREATE INDEX agents_published_idx ON agents (created_at DESC, id DESC) WHERE status = 'published';
CREATE INDEX agents_category_idx ON agents (category, created_at DESC, id DESC)
    WHERE status = 'published';
-- administrators: every agent, newest first
CREATE INDEX agents_created_idx ON agents (created_at DESC, id DESC);

-- An agent's sub-agents, in the order its model is offered them.
CREATE TABLE agent_sub_agents (
    agent_id      uuid    NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    sub_agent_id  uuid    NOT NULL REFERENCES agents (id) ON DELETE RESTRICT,
    position      integer NOT NULL CHECK (position >= 0),
    PRIMARY KEY (agent_id, sub_agent_id),
    CHECK (agent_id <> sub_agent_id)
);
CREATE INDEX agent_sub_agents_sub_idx ON agent_sub_agents (sub_agent_id);

-- A chat is with a bot or with an agent.
ALTER TABLE chats ADD COLUMN agent_id uuid REFERENCES agents (id) ON DELETE SET NULL;
CREATE INDEX chats_agent_idx ON chats (agent_id) WHERE agent_id IS NOT NULL;
ALTER TABLE messages ADD COLUMN agent_id uuid REFERENCES agents (id) ON DELETE SET NULL;
CREATE INDEX messages_agent_idx ON messages (agent_id) WHERE agent_id IS NOT NULL;

-- The catalog that ships: useful with no provider configured (the offline
-- model calls a tool only when a message names it plainly, "calculator:
-- 2*(3+4)"), better with one.
INSERT INTO agents (name, category, description, model_id, instructions, tools, max_steps, status)
VALUES
    ('Calculator', 'Math',
     'Works out arithmetic exactly with a calculator instead of guessing.',
     'local',
     'You are a careful calculator. For any arithmetic, call the calculator tool and report its '
     'result; show the expression you evaluated.',
     '{calculator}', 4, 'published'),
    ('Clock', 'Utilities',
     'Tells the current date and time in UTC or any time zone.',
     'local',
     'Answer questions about the current date and time by calling current_time; say which time '
     'zone you used.',
     '{current_time}', 3, 'published'),
    ('Research assistant', 'Knowledge',
     'Answers from your own knowledge bases and cites the passages it used.',
     'local',
     'Answer from the user''s knowledge bases only: call knowledge_search, quote what you use with '
     'its source, and say so when nothing relevant is found.',
     '{knowledge_search}', 6, 'published'),
    ('Web reader', 'Web',
     'Reads a public web page and summarises or answers questions about it.',
     'local',
     'When the user gives a URL, fetch it with http_fetch and answer from its text only; never '
     'invent what the page says.',
     '{http_fetch}', 4, 'published'),
    ('Orchestrator', 'General',
     'Plans a task and hands the parts to the right specialist agents.',
     'local',
     'Break the task into parts, hand each to the sub-agent best suited to it, and combine their '
     'answers into one reply that says which agent did what.',
     '{}', 8, 'published')
ON CONFLICT (name) DO NOTHING;

INSERT INTO agent_sub_agents (agent_id, sub_agent_id, position)
SELECT o.id, s.id, s.pos
FROM agents o
JOIN (SELECT a.id, x.pos FROM agents a
      JOIN (VALUES ('Calculator', 0), ('Clock', 1), ('Research assistant', 2), ('Web reader', 3))
           AS x(name, pos) ON x.name = a.name) s ON true
WHERE o.name = 'Orchestrator'
ON CONFLICT DO NOTHING;
