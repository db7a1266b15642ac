// @vitest-environment node
import { describe, expect, it } from 'vitest';
import { auditQuery, toolCallSummary, toolCallUser } from './toolCallAudit';

describe('the tool-call audit', () => {
  it('sums a call up in a line', () => {
    expect(toolCallSummary({ input: { expression: '2+3' }, ok: true, output: '5', error: null })).toBe('2+3 → 5');
    expect(toolCallSummary({ input: { expression: '1/0' }, ok: false, output: null, error: 'division\nby zero' })).toBe(
      '1/0 → failed: division by zero',
    );
    expect(toolCallSummary({ input: {}, ok: true, output: '12:00', error: null })).toBe('12:00');
    expect(toolCallSummary({ input: { a: 1, b: 2 }, ok: true, output: 'x'.repeat(500), error: null }, 40)).toHaveLength(40);
  });

  it('names the user, else by id', () => {
    expect(toolCallUser({ username: 'ann', user_id: 'u1' })).toBe('ann');
    expect(toolCallUser({ username: null, user_id: 'u1' })).toBe('u1');
  });

  it('sends only the filters that are set', () => {
    expect(auditQuery(' u1 ', '')).toEqual({ user_id: 'u1' });
    expect(auditQuery('', 'calculator')).toEqual({ tool: 'calculator' });
    expect(auditQuery(' ', ' ')).toEqual({});
  });
});
