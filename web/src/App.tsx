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
const BotPage = lazy(() => import('./screens/bots/BotPage'));
const ApiKeysScreen = lazy(() => import('./screens/bots/ApiKeysScreen'));
const StoreScreen = lazy(() => import('./screens/store/StoreScreen'));
const AgentsScreen = lazy(() => import('./screens/agents/AgentsScreen'));
const KnowledgeScreen = lazy(() => import('./screens/knowledge/KnowledgeScreen'));
const AccountScreen = lazy(() => import('./screens/account/AccountScreen'));
const AdminLayout = lazy(() => import('./screens/admin/AdminLayout'));
const AdminScreen = lazy(() => import('./screens/admin/AdminScreen'));
const AdminAgentsScreen = lazy(() => import('./screens/admin/agents/AdminAgentsScreen'));
const AgentEditScreen = lazy(() => import('./screens/admin/agents/AgentEditScreen'));
const McpServersScreen = lazy(() => import('./screens/admin/mcp/McpServersScreen'));
const McpServerScreen = lazy(() => import('./screens/admin/mcp/McpServerScreen'));
const ToolCallsScreen = lazy(() => import('./screens/admin/toolcalls/ToolCallsScreen'));
const SignupRulesScreen = lazy(() => import('./screens/admin/SignupRulesScreen'));
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
          <Route path="/bots/new" element={<BotsScreen />} />
          <Route path="/bots/:botId" element={<BotPage />} />
          <Route path="/bots/:botId/api-keys" element={<ApiKeysScreen />} />
          <Route path="/store" element={<StoreScreen />} />
          <Route path="/knowledge" element={<KnowledgeScreen />} />
          <Route path="/knowledge/:kbId" element={<KnowledgeScreen />} />
          <Route path="/account" element={<AccountScreen />} />
          {/* administrators only: to anyone else these pages do not exist */}
          <Route
            path="/admin"
            element={
              <RequireAdmin>
                <AdminLayout />
              </RequireAdmin>
            }
          >
            <Route index element={<AdminScreen />} />
            <Route path="agents" element={<AdminAgentsScreen />} />
            <Route path="agents/new" element={<AgentEditScreen />} />
            <Route path="agents/:agentId" element={<AgentEditScreen />} />
            <Route path="tool-calls" element={<ToolCallsScreen />} />
            <Route path="signup" element={<SignupRulesScreen />} />
            <Route path="mcp-servers" element={<McpServersScreen />} />
            <Route path="mcp-servers/new" element={<McpServerScreen />} />
            <Route path="mcp-servers/:serverId" element={<McpServerScreen />} />
            <Route path="*" element={<NotFoundScreen />} />
          </Route>
        </Route>
        <Route path="*" element={<NotFound />} />
      </Routes>
    </Suspense>
  );
}
