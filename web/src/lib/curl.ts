// The ready-to-run curl commands shown with a new API key: one for a
// plain JSON answer, one for the stream (Server-Sent Events).

/** A word for a POSIX shell: single-quoted, with any ' closed and escaped. */
export function shellQuote(s: string): string {
  if (s !== '' && /^[A-Za-z0-9_./:@%+=,-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export interface CurlArgs {
  /** The site's origin, "https://chat.example.com" (no trailing slash needed). */
  origin: string;
  botId: string;
  key: string;
  message?: string;
  stream?: boolean;
}

/** The published bot's address (see GET /bots/{id}/publication). */
export function publishedUrl(origin: string, botId: string, stream = false): string {
  return `${origin.replace(/\/+$/, '')}/api/v1/published/${encodeURIComponent(botId)}/chat${stream ? '/stream' : ''}`;
}

/** curl -X POST <origin>/api/v1/published/<bot>/chat[/stream] with the key
 * and {"message": ...}, one option a line. */
export function curlCommand({ origin, botId, key, message = 'Hello', stream = false }: CurlArgs): string {
  const lines = [
    `curl${stream ? ' -N' : ''} -X POST ${shellQuote(publishedUrl(origin, botId, stream))}`,
    `  -H ${shellQuote(`X-API-Key: ${key}`)}`,
    `  -H ${shellQuote('Content-Type: application/json')}`,
  ];
  if (stream) lines.push(`  -H ${shellQuote('Accept: text/event-stream')}`);
  lines.push(`  -d ${shellQuote(JSON.stringify({ message }))}`);
  return lines.join(' \\\n');
}
