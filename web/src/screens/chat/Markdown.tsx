import { memo } from 'react';
import ReactMarkdown, { type Components } from 'react-markdown';

// Model output is untrusted: Markdown becomes React elements, raw HTML in
// it is dropped (skipHtml, and no raw-HTML plugin), and react-markdown's default
// urlTransform keeps javascript: and other unsafe links out.
const components: Components = {
  a({ node: _node, ...props }) {
    return <a {...props} target="_blank" rel="noopener noreferrer nofollow" />;
  },
  pre({ node: _node, ...props }) {
    // a scrollable region must be reachable by keyboard
    return <pre {...props} tabIndex={0} />;
  },
  img({ node: _node, alt }) {
    // no remote images (the CSP would block them anyway): show the text
    return <span className="text-gray-600">[image{alt ? `: ${alt}` : ''}]</span>;
  },
};

function MarkdownImpl({ text }: { text: string }) {
  return (
    <div className="prose-chat">
      <ReactMarkdown skipHtml components={components}>
        {text}
      </ReactMarkdown>
    </div>
  );
}

export const Markdown = memo(MarkdownImpl);
