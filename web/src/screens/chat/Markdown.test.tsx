// @vitest-environment node
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { Markdown } from './Markdown';

describe('Markdown answers', () => {
  it('renders Markdown and fenced code, never raw HTML or script links', () => {
    const html = renderToStaticMarkup(
      <Markdown
        text={[
          '# Title',
          '',
          'Some **bold** and `code`.',
          '',
          '```js',
          'const a = "<b>not html</b>";',
          '```',
          '',
          'Inline <b>raw</b> and <img src=x onerror="alert(1)"> here.',
          '',
          '<script>alert(2)</script>',
          '',
          '[bad](javascript:alert(3)) [good](https://example.org/)',
        ].join('\n')}
      />,
    );
    expect(html).toContain('<h1>Title</h1>');
    expect(html).toContain('<strong>bold</strong>');
    expect(html).toMatch(/<pre[^>]*><code class="language-js">const a = &quot;&lt;b&gt;not html&lt;\/b&gt;&quot;;/);
    expect(html).not.toMatch(/<img|<script|<b>|onerror/);
    expect(html).not.toContain('javascript:');
    expect(html).toContain('href="https://example.org/"');
    expect(html).toContain('rel="noopener noreferrer nofollow"');
  });

  it('turns [n] markers of existing sources into buttons, not in code and not past the last source', () => {
    const html = renderToStaticMarkup(
      <Markdown
        text={'Ripe in June [1], watered weekly [2]; see [3].\n\nUse `a[1]` in code.\n\n```\nb[2]\n```'}
        citeCount={2}
        onCite={() => {}}
      />,
    );
    expect(html).toContain('<button type="button" class="link" aria-label="Source 1" data-cite="1">[1]</button>');
    expect(html).toContain('aria-label="Source 2"');
    expect(html).not.toContain('Source 3');
    expect(html).toContain('see [3].');
    expect(html).toContain('<code>a[1]</code>');
    expect(html).toMatch(/<code>b\[2\]\n<\/code>/);
    // without sources the text is left as written
    expect(renderToStaticMarkup(<Markdown text="plain [1]" />)).toContain('plain [1]');
  });
});
