// One published agent by id, for the agent page and for chats with it.
import { useEffect, useState } from 'react';
import { api } from '../../api/client';
import type { Agent } from '../../api/types';

export function useAgent(id: string | null): { agent: Agent | null; error: unknown } {
  const [agent, setAgent] = useState<Agent | null>(null);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    setAgent(null);
    setError(null);
    if (!id) return;
    const ctl = new AbortController();
    api.agent(id, ctl.signal).then(setAgent, (e) => {
      if (!ctl.signal.aborted) setError(e);
    });
    return () => ctl.abort();
  }, [id]);

  return { agent, error };
}
