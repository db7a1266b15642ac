import { useParams } from 'react-router-dom';
import { KnowledgeBasePage } from './KnowledgeBasePage';
import { KnowledgeList } from './KnowledgeList';

/** /knowledge: the caller's knowledge bases; /knowledge/:kbId: one of them
 * (documents, uploads, search). */
export default function KnowledgeScreen() {
  const { kbId } = useParams();
  return kbId ? <KnowledgeBasePage key={kbId} kbId={kbId} /> : <KnowledgeList />;
}
