import { memo, useMemo } from 'react';
import ReactMarkdown, { type Components } from 'react-markdown';

// Model output is untrusted: Markdown becomes React elements, raw HTML in
// it is dropped (skipHtml, and no raw-HTML plugin), and react-markdown's default
// urlTransform keeps javascript: and other unsafe links out.
const baseComponents: Components = {
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

// ---- [n] citation markers ------------------------------------------------
// A remark step turns "[n]" in the answer's text (not in code, not inside
// a link) into a link to "#cite-n" when source n exists; the `a` renderer
// makes that a button that opens the source.

interface MdNode {
  type: string;
  value?: string;
  url?: string;
  children?: MdNode[];
}

const MARKER = /\[(\d{1,3})\]/g;
const CITE_PREFIX = '#cite-';

function splitMarkers(value: string, max: number): MdNode[] {
  const out: MdNode[] = [];
  let last = 0;
  for (const m of value.matchAll(MARKER)) {
    const k = Number(m[1]);
    if (k < 1 || k > max) continue;
    const at = m.index ?? 0;
    if (at > last) out.push({ type: 'text', value: value.slice(last, at) });
    out.push({ type: 'link', url: `${CITE_PREFIX}${k}`, children: [{ type: 'text', value: m[0] }] });
    last = at + m[0].length;
  }
  if (last === 0) return [{ type: 'text', value }];
  if (last < value.length) out.push({ type: 'text', value: value.slice(last) });
  return out;
}

function markCitations(node: MdNode, max: number): void {
  if (!node.children || node.type === 'link' || node.type === 'linkReference') return;
  const out: MdNode[] = [];
  for (const child of node.children) {
    if (child.type === 'text' && child.value) out.push(...splitMarkers(child.value, max));
    else {
      markCitations(child, max);
      out.push(child);
    }
  }
  node.children = out;
}

export function remarkCitations(max: number) {
  return () => (tree: MdNode) => markCitations(tree, max);
}

/** The source number of a "#cite-n" link, or null. */
export function citeNumber(href: string | undefined): number | null {
  if (!href || !href.startsWith(CITE_PREFIX)) return null;
  const k = Number(href.slice(CITE_PREFIX.length));
  return Number.isInteger(k) && k > 0 ? k : null;
}

interface MarkdownProps {
  text: string;
  /** Sources 1..citeCount exist: their [n] markers become buttons. */
  citeCount?: number;
  onCite?: (n: number) => void;
}

function MarkdownImpl({ text, citeCount = 0, onCite }: MarkdownProps) {
  const withCites = citeCount > 0 && onCite !== undefined;
  const plugins = useMemo(() => (withCites ? [remarkCitations(citeCount)] : []), [withCites, citeCount]);
  const components = useMemo<Components>(() => {
    if (!withCites) return baseComponents;
    return {
      ...baseComponents,
      a({ node: _node, href, children, ...props }) {
        const k = citeNumber(href);
        if (k === null) return <a {...props} href={href} target="_blank" rel="noopener noreferrer nofollow">{children}</a>;
        return (
          <button
            type="button"
            className="link"
            aria-label={`Source ${k}`}
            data-cite={k}
            onClick={() => onCite?.(k)}
          >
            {children}
          </button>
        );
      },
    };
  }, [withCites, onCite]);
  return (
    <div className="prose-chat">
      <ReactMarkdown skipHtml components={components} remarkPlugins={plugins}>
        {text}
      </ReactMarkdown>
    </div>
  );
}

export const Markdown = memo(MarkdownImpl);
