import { Suspense, lazy } from 'react';
import { Navigate, Route, Routes } from 'react-router-dom';
import Layout from './components/Layout';
import { RequireAdmin, RequireAuth } from './components/RequireAuth';
import { PageLoading } from './components/Loading';
import { useAuth } from './store/auth';

// Every screen is its own chunk: the sign-in page loads no chat or
// Markdown code.
const SignInScreen = lazy(() => import('./screens/signin/SignInScreen'));
const CallbackScreen = lazy(() => import('./screens/signin/CallbackScreen'));
const ChatScreen = lazy(() => import('./screens/chat/ChatScreen'));
const BotsScreen = lazy(() => import('./screens/bots/BotsScreen'));
const AgentsScreen = lazy(() => import('./screens/agents/AgentsScreen'));
const KnowledgeScreen = lazy(() => import('./screens/knowledge/KnowledgeScreen'));
const AccountScreen = lazy(() => import('./screens/account/AccountScreen'));
const AdminScreen = lazy(() => import('./screens/admin/AdminScreen'));
const NotFoundScreen = lazy(() => import('./screens/notfound/NotFoundScreen'));

// Unknown addresses: the not-found page, inside the app's frame when
// signed in, on its own otherwise (no detour through sign-in).
function NotFound() {
  const status = useAuth((s) => s.status);
  if (status === 'unknown') return <PageLoading />;
  if (status === 'signed-in') {
    return (
      <Layout>
        <NotFoundScreen />
      </Layout>
    );
  }
  return <NotFoundScreen />;
}

export default function App() {
  return (
    <Suspense fallback={<PageLoading />}>
      <Routes>
        <Route path="/signin" element={<SignInScreen mode="signin" />} />
        <Route path="/signup" element={<SignInScreen mode="signup" />} />
        <Route path="/auth/callback" element={<CallbackScreen />} />
        <Route
          element={
            <RequireAuth>
              <Layout />
            </RequireAuth>
          }
        >
          <Route index element={<Navigate to="/chat" replace />} />
          <Route path="/chat" element={<ChatScreen />} />
          <Route path="/chat/:chatId" element={<ChatScreen />} />
          <Route path="/agents" element={<AgentsScreen />} />
          <Route path="/agents/:agentId" element={<AgentsScreen />} />
          <Route path="/bots" element={<BotsScreen />} />
          <Route path="/knowledge" element={<KnowledgeScreen />} />
          <Route path="/knowledge/:kbId" element={<KnowledgeScreen />} />
          <Route path="/account" element={<AccountScreen />} />
          <Route
            path="/admin"
            element={
              <RequireAdmin>
                <AdminScreen />
              </RequireAdmin>
            }
          />
        </Route>
        <Route path="*" element={<NotFound />} />
      </Routes>
    </Suspense>
  );
}
