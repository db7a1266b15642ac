// The session.  The access token lives in this store's memory only: never
// in localStorage, sessionStorage or a cookie set from script.  The refresh
// token is the server's HttpOnly cookie (mangoo_refresh, Path=/api/v1/auth),
// so a reload or a second tab restores the session by refreshing.
//
// Refresh tokens rotate, and presenting a used one revokes the whole
// family, so refreshes never overlap: one in flight per tab (single-flight)
// and, with the Web Locks API, one at a time across tabs.  Sign-out is
// broadcast to the other tabs (BroadcastChannel 'mangoo-auth').

import { create } from 'zustand';
import { api, setAuthHooks, type RefreshOutcome } from '../api/client';
import {
  ACCOUNT_DISABLED_MESSAGE,
  ApiError,
  SESSION_ENDED_MESSAGE,
} from '../api/errors';
import type { AccessClaims, RegisterRequest, ServerConfig, TokenResponse, User } from '../api/types';
import { decodeJwt, groupsOf, usernameOf } from '../lib/jwt';
import { cognitoLogoutUrl } from '../lib/pkce';

export type AuthStatus = 'unknown' | 'signed-in' | 'signed-out';

export interface AuthState {
  status: AuthStatus;
  accessToken: string | null;
  /** ms since the epoch when the access token expires */
  expiresAt: number | null;
  claims: AccessClaims | null;
  userId: string | null;
  username: string;
  groups: string[];
  isAdmin: boolean;
  profile: User | null;
  /** A message for the sign-in screen (e.g. the account was disabled). */
  notice: string | null;
  config: ServerConfig | null;
  configError: string | null;
}

export interface AuthActions {
  /** Load /config and restore the session from the refresh cookie. */
  init(): Promise<void>;
  loadConfig(): Promise<ServerConfig | null>;
  login(username: string, password: string): Promise<void>;
  register(username: string, password: string, email?: string | null, invitation?: string | null): Promise<void>;
  completeCognito(code: string, verifier: string, redirectUri: string): Promise<void>;
  /** A new access token now (shared with any refresh already running). */
  refresh(): Promise<RefreshOutcome>;
  signOut(opts?: SignOutOptions): Promise<void>;
  loadProfile(): Promise<User | null>;
  setProfile(u: User): void;
  clearNotice(): void;
}

export interface SignOutOptions {
  /** Shown on the sign-in screen. */
  notice?: string | null;
  /** Revoke the refresh cookie on the server (default true). */
  remote?: boolean;
  /** Tell the other tabs (default true). */
  broadcast?: boolean;
  /** In Cognito mode, end the hosted UI session too (default true). */
  cognitoLogout?: boolean;
}

export type AuthStore = AuthState & AuthActions;

const REFRESH_LEAD_S = 60;
const RETRY_UNREACHABLE_MS = 30_000;
const LOCK_NAME = 'mangoo-refresh';
const CHANNEL_NAME = 'mangoo-auth';

const signedOutState = {
  accessToken: null,
  expiresAt: null,
  claims: null,
  userId: null,
  username: '',
  groups: [] as string[],
  isAdmin: false,
  profile: null,
};

// ---- module state (not rendered) -----------------------------------------

let refreshTimer: ReturnType<typeof setTimeout> | null = null;
let inflight: Promise<RefreshOutcome> | null = null;
/** Bumped by every sign-out: a refresh started before it is ignored. */
let epoch = 0;
let channel: BroadcastChannel | null = null;

type ChannelMessage = { type: 'signed-out'; notice?: string | null } | { type: 'signed-in' };

function post(msg: ChannelMessage): void {
  openChannel();
  try {
    channel?.postMessage(msg);
  } catch {
    // a closed channel: nothing to tell
  }
}

function clearTimer(): void {
  if (refreshTimer !== null) {
    clearTimeout(refreshTimer);
    refreshTimer = null;
  }
}

/** Seconds before expiry at which to refresh: a minute ahead, or half the
 * lifetime for very short-lived tokens. */
export function refreshDelayMs(expiresIn: number): number {
  if (!Number.isFinite(expiresIn) || expiresIn <= 0) return 0;
  const s = expiresIn > REFRESH_LEAD_S * 2 ? expiresIn - REFRESH_LEAD_S : expiresIn / 2;
  return Math.round(s * 1000);
}

function schedule(delayMs: number): void {
  clearTimer();
  refreshTimer = setTimeout(() => {
    refreshTimer = null;
    void useAuth
      .getState()
      .refresh()
      .then((outcome) => {
        if (outcome === 'unreachable' && useAuth.getState().status === 'signed-in') {
          schedule(RETRY_UNREACHABLE_MS);
        }
      });
  }, delayMs);
}

function withLock<T>(fn: () => Promise<T>): Promise<T> {
  const locks =
    typeof navigator !== 'undefined'
      ? (navigator as Navigator & { locks?: LockManager }).locks
      : undefined;
  if (locks && typeof locks.request === 'function') {
    return locks.request(LOCK_NAME, { mode: 'exclusive' }, () => fn()) as Promise<T>;
  }
  return fn();
}

// ---- the store -------------------------------------------------------------

export const useAuth = create<AuthStore>()((set, get) => {
  function applyTokens(t: TokenResponse): void {
    const claims = decodeJwt(t.access_token);
    if (!claims) {
      throw new ApiError(0, 'bad_response', 'The server sent a token that could not be read.');
    }
    const groups = groupsOf(claims);
    const expiresIn = Number(t.expires_in) || 0;
    set({
      status: 'signed-in',
      accessToken: t.access_token,
      expiresAt: Date.now() + expiresIn * 1000,
      claims,
      userId: claims.sub,
      username: usernameOf(claims),
      groups,
      isAdmin: groups.includes('admin'),
      notice: null,
    });
    schedule(refreshDelayMs(expiresIn));
    openChannel();
  }

  /** Drop the session in this tab only. */
  function dropLocal(notice: string | null): void {
    epoch++;
    clearTimer();
    set({ status: 'signed-out', ...signedOutState, notice });
  }

  async function doRefresh(): Promise<RefreshOutcome> {
    const myEpoch = epoch;
    const wasSignedIn = get().status === 'signed-in';
    try {
      const t = await withLock(() => api.refresh());
      if (myEpoch !== epoch) return 'rejected'; // signed out meanwhile
      applyTokens(t);
      return 'ok';
    } catch (e) {
      if (myEpoch !== epoch) return 'rejected';
      if (e instanceof ApiError && e.status >= 400 && e.status < 500 && e.status !== 429) {
        // no session (401), disabled (403), or a server that wants
        // something else (400): signed out
        const notice =
          e.code === 'account_disabled'
            ? ACCOUNT_DISABLED_MESSAGE
            : wasSignedIn
              ? SESSION_ENDED_MESSAGE
              : null;
        dropLocal(notice);
        return 'rejected';
      }
      if (!wasSignedIn && get().status === 'unknown') {
        // first start and the server cannot be reached: show sign-in
        set({ status: 'signed-out' });
      }
      return 'unreachable';
    }
  }

  return {
    status: 'unknown',
    ...signedOutState,
    notice: null,
    config: null,
    configError: null,

    async init() {
      openChannel();
      const cfg = get().loadConfig();
      await get().refresh();
      await cfg;
      if (get().status === 'signed-in') void get().loadProfile();
    },

    async loadConfig() {
      try {
        const config = await api.config();
        set({ config, configError: null });
        return config;
      } catch (e) {
        if (e instanceof ApiError && e.status === 404) {
          // a server without /config: local identity, open registration
          const config: ServerConfig = {
            identity: 'local',
            registration: 'open',
            can_register: true,
            cognito: null,
          };
          set({ config, configError: null });
          return config;
        }
        set({ configError: e instanceof Error ? e.message : String(e) });
        return null;
      }
    },

    async login(username, password) {
      const t = await api.login({ username, password, session: 'cookie' });
      epoch++;
      applyTokens(t);
      post({ type: 'signed-in' });
      void get().loadProfile();
    },

    async register(username, password, email, invitation) {
      const body: RegisterRequest = { username, password, session: 'cookie' };
      if (email) body.email = email;
      if (invitation) body.invitation = invitation;
      const t = await api.register(body);
      epoch++;
      applyTokens(t);
      post({ type: 'signed-in' });
      void get().loadProfile();
      // registration may have closed behind us (first-admin)
      void get().loadConfig();
    },

    async completeCognito(code, verifier, redirectUri) {
      const t = await api.cognitoExchange({ code, code_verifier: verifier, redirect_uri: redirectUri });
      epoch++;
      applyTokens(t);
      post({ type: 'signed-in' });
      void get().loadProfile();
    },

    refresh() {
      if (inflight) return inflight;
      inflight = doRefresh().finally(() => {
        inflight = null;
      });
      return inflight;
    },

    async signOut(opts = {}) {
      const { notice = null, remote = true, broadcast = true, cognitoLogout = true } = opts;
      const cfg = get().config;
      dropLocal(notice);
      if (remote) {
        try {
          await api.logout();
        } catch {
          // the cookie may be gone already; signed out here either way
        }
      }
      if (broadcast) post({ type: 'signed-out', notice });
      if (remote && cognitoLogout && cfg?.identity === 'cognito' && cfg.cognito) {
        window.location.assign(cognitoLogoutUrl(cfg.cognito));
      }
    },

    async loadProfile() {
      try {
        const profile = await api.me();
        if (get().status === 'signed-in') set({ profile });
        return profile;
      } catch {
        return null;
      }
    },

    setProfile(profile) {
      set({ profile });
    },

    clearNotice() {
      set({ notice: null });
    },
  };
});

// A timer may fire late after the machine slept or the tab was frozen:
// when the tab comes back with a token about to expire, refresh now.
let visibilityHooked = false;
function hookVisibility(): void {
  if (visibilityHooked || typeof document === 'undefined') return;
  visibilityHooked = true;
  document.addEventListener('visibilitychange', () => {
    const s = useAuth.getState();
    if (
      document.visibilityState === 'visible' &&
      s.status === 'signed-in' &&
      s.expiresAt !== null &&
      s.expiresAt - Date.now() < REFRESH_LEAD_S * 1000
    ) {
      void s.refresh();
    }
  });
}

function openChannel(): void {
  hookVisibility();
  if (channel || typeof BroadcastChannel === 'undefined') return;
  channel = new BroadcastChannel(CHANNEL_NAME);
  channel.onmessage = (ev: MessageEvent<ChannelMessage>) => {
    const msg = ev.data;
    const s = useAuth.getState();
    if (msg?.type === 'signed-out' && s.status !== 'signed-out') {
      // the cookie is shared and already revoked: nothing to tell the server
      void s.signOut({ notice: msg.notice ?? null, remote: false, broadcast: false });
    } else if (msg?.type === 'signed-in' && s.status !== 'signed-in') {
      void s.refresh().then((o) => {
        if (o === 'ok') void useAuth.getState().loadProfile();
      });
    }
  };
}

/** For tests: forget timers, channel and in-flight refreshes. */
export function resetAuthForTests(): void {
  clearTimer();
  inflight = null;
  epoch++;
  channel?.close();
  channel = null;
  useAuth.setState({
    status: 'unknown',
    ...signedOutState,
    notice: null,
    config: null,
    configError: null,
  });
}

setAuthHooks({
  getToken: () => useAuth.getState().accessToken,
  refresh: () => useAuth.getState().refresh(),
  accountDisabled: (message) => {
    const s = useAuth.getState();
    if (s.status === 'signed-in') {
      void s.signOut({ notice: message, cognitoLogout: false });
    }
  },
});
