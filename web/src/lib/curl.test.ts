// @vitest-environment node
import { describe, expect, it } from 'vitest';
import { curlCommand, publishedUrl, shellQuote } from './curl';

const KEY = 'mgk_' + 'A'.repeat(43);

/** The words a POSIX shell makes of a command line that uses only
 * single quotes, backslash-newline and plain words (what shellQuote makes). */
function shellWords(cmd: string): string[] {
  const words: string[] = [];
  let cur: string | null = null;
  for (let i = 0; i < cmd.length; i++) {
    const c = cmd[i];
    if (c === '\\' && cmd[i + 1] === '\n') {
      i++;
    } else if (c === '\\') {
      cur = (cur ?? '') + cmd[++i];
    } else if (c === "'") {
      const end = cmd.indexOf("'", i + 1);
      if (end < 0) throw new Error('unterminated quote');
      cur = (cur ?? '') + cmd.slice(i + 1, end);
      i = end;
    } else if (c === ' ' || c === '\n') {
      if (cur !== null) words.push(cur);
      cur = null;
    } else {
      cur = (cur ?? '') + c;
    }
  }
  if (cur !== null) words.push(cur);
  return words;
}

describe('shellQuote', () => {
  it('leaves plain words alone and single-quotes the rest', () => {
    expect(shellQuote('https://x.example/api')).toBe('https://x.example/api');
    expect(shellQuote('a b')).toBe("'a b'");
    expect(shellQuote('')).toBe("''");
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
  });

  it('gives the shell back the same string', () => {
    for (const s of ["it's", 'a "b" $HOME `x` \\n', '{"message":"Hello"}', "'", "''x'"]) {
      expect(shellWords(shellQuote(s))).toEqual([s]);
    }
  });
});

describe('curlCommand', () => {
  it('posts the message to the published chat with the key', () => {
    const cmd = curlCommand({ origin: 'https://chat.example.com/', botId: 'b-1', key: KEY });
    expect(cmd).toBe(
      [
        "curl -X POST https://chat.example.com/api/v1/published/b-1/chat",
        `  -H 'X-API-Key: ${KEY}'`,
        "  -H 'Content-Type: application/json'",
        `  -d '{"message":"Hello"}'`,
      ].join(' \\\n'),
    );
  });

  it('streams with -N, the stream endpoint and Accept: text/event-stream', () => {
    const cmd = curlCommand({ origin: 'http://127.0.0.1:8080', botId: 'b-1', key: KEY, stream: true });
    expect(cmd.startsWith('curl -N -X POST http://127.0.0.1:8080/api/v1/published/b-1/chat/stream')).toBe(true);
    expect(cmd).toContain("-H 'Accept: text/event-stream'");
    expect(cmd).toContain(`-d '{"message":"Hello"}'`);
  });

  it('is one shell command whose words are what curl must get', () => {
    const cmd = curlCommand({ origin: 'https://x.example', botId: 'b', key: KEY, message: `it's "quoted" $HOME` });
    expect(shellWords(cmd)).toEqual([
      'curl', '-X', 'POST', 'https://x.example/api/v1/published/b/chat',
      '-H', `X-API-Key: ${KEY}`,
      '-H', 'Content-Type: application/json',
      '-d', JSON.stringify({ message: `it's "quoted" $HOME` }),
    ]);
  });

  it('escapes the bot id in the address', () => {
    expect(publishedUrl('https://x', 'a/b')).toBe('https://x/api/v1/published/a%2Fb/chat');
    expect(publishedUrl('https://x', 'a', true)).toBe('https://x/api/v1/published/a/chat/stream');
  });
});
