// @vitest-environment node
import { describe, expect, it } from 'vitest';
import { validCitations } from './chatStore';

describe('validCitations', () => {
  it('keeps the owner\u2019s full citations', () => {
    const c = { n: 1, document_id: 'd', document: 'a.pdf', page: 2, heading: null, snippet: 'x', score: 0.5 };
    expect(validCitations([c])).toEqual([c]);
  });

  it('takes a shared bot\u2019s bare citations (file name and chunk only)', () => {
    expect(validCitations([{ n: 1, filename: 'handbook.pdf', chunk: 3 }])).toEqual([
      { n: 1, filename: 'handbook.pdf', chunk: 3, document: 'handbook.pdf' },
    ]);
  });

  it('drops what is not a citation', () => {
    expect(validCitations([{ n: 'x' }, null, 3])).toBeNull();
    expect(validCitations('no')).toBeNull();
  });
});
