import { useEffect } from 'preact/hooks';
import { WifiOff, X } from 'lucide-preact';
import { setFaviconCount } from '../favicon';
import {
  authState,
  conversationName,
  conversations,
  current,
  emojiTarget,
  currentId,
  me,
  dialog,
  everConnected,
  navigate,
  panel,
  routeFromLocation,
  sortedConversations,
  toast,
  reauthPrompt,
  wsStatus,
} from '../state/store';
import { AuthScreen } from './Auth';
import { mailLink, ResetPasswordScreen, useMailLinks } from './MailLinks';
import { CallStage, IncomingCall } from './Calls';
import { ConversationView, EmptyView } from './Conversation';
import { BrowseChannelsDialog, NewChannelDialog, NewDmDialog } from './Dialogs';
import { SidePanel } from './Panels';
import { ReauthDialog, SettingsDialog } from './Settings';
import { Sidebar } from './Sidebar';
import { ProfileCard } from './Profile';
import { QuickSwitcher, switcherOpen } from './QuickSwitcher';
import { ShortcutsSheet } from './Shortcuts';
import { ChannelSettingsDialog } from './ChannelSettings';
import { ConversationNotificationsDialog, PushBanner } from './NotificationSettings';
import { EmojiPickerDialog } from './EmojiPicker';
import { Lightbox, lightbox } from './Attachments';
import { AdminConsole } from './admin/AdminConsole';

function OfflineBanner() {
  const s = wsStatus.value;
  if (s === 'online' || !everConnected.value) return null;
  return (
    <div class="offline-banner" role="status" aria-live="polite">
      <WifiOff size={16} aria-hidden="true" />
      You are offline. Reconnecting… Messages you missed will appear once the connection is back.
    </div>
  );
}

function Toast() {
  const t = toast.value;
  if (!t) return null;
  return (
    <div class="toast" role="alert">
      {t}
      <button type="button" class="icon" aria-label="Dismiss" onClick={() => (toast.value = null)}>
        <X size={16} aria-hidden="true" />
      </button>
    </div>
  );
}

/** The tab title: unread messages first ("(3) #general · Parley"), so a background tab
 * shows news. */
function useTitle() {
  const total = Object.values(conversations.value).reduce((n, c) => n + (c.muted ? 0 : c.unread_count ?? 0), 0);
  const conv = current.value;
  const name = conv ? (conv.type === 'channel' ? `#${conv.name}` : conversationName(conv)) : '';
  const title = `${total ? `(${total > 999 ? '999+' : total}) ` : ''}${name ? `${name} · ` : ''}Parley`;
  useEffect(() => {
    document.title = title;
    setFaviconCount(total);
  }, [title]);
  useEffect(
    () => () => {
      document.title = 'Parley';
      setFaviconCount(0);
    },
    [],
  );
}

function typingInField(e: KeyboardEvent) {
  const t = e.target as HTMLElement | null;
  return !!t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName));
}

/** Keyboard: Ctrl/⌘+K quick switcher, Alt+↑/↓ between conversations, Ctrl/⌘+Shift+F search,
 * ? the shortcuts sheet, Escape closes a panel. */
function useShortcuts() {
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.altKey && (e.key === 'ArrowUp' || e.key === 'ArrowDown')) {
        const list = sortedConversations.value;
        if (!list.length) return;
        const i = list.findIndex((c) => c.id === currentId.value);
        const j = e.key === 'ArrowUp' ? (i <= 0 ? list.length - 1 : i - 1) : (i + 1) % list.length;
        e.preventDefault();
        navigate(list[j].id);
      } else if ((e.ctrlKey || e.metaKey) && !e.shiftKey && e.key.toLowerCase() === 'k') {
        e.preventDefault();
        switcherOpen.value = !switcherOpen.value;
      } else if ((e.ctrlKey || e.metaKey) && e.shiftKey && e.key.toLowerCase() === 'f') {
        e.preventDefault();
        panel.value = { kind: 'search' };
      } else if (e.key === '?' && !typingInField(e) && !dialog.value && !switcherOpen.value) {
        e.preventDefault();
        dialog.value = 'shortcuts';
      } else if (e.key === 'Escape' && panel.value && !dialog.value && !switcherOpen.value && !lightbox.value) {
        panel.value = null;
      }
    };
    window.addEventListener('keydown', onKey);
    const onPop = () => routeFromLocation();
    window.addEventListener('popstate', onPop);
    return () => {
      window.removeEventListener('keydown', onKey);
      window.removeEventListener('popstate', onPop);
    };
  }, []);
}

function Shell() {
  useShortcuts();
  useTitle();
  const conv = current.value;
  const d = dialog.value;
  const hasPanel = !!panel.value;
  return (
    <div class={`shell ${currentId.value ? 'has-conv' : 'is-home'} ${hasPanel ? 'has-panel' : ''}`}>
      <a class="skip" href="#main">
        Skip to conversation
      </a>
      <OfflineBanner />
      <PushBanner />
      <Sidebar />
      <main id="main" class="main">
        <CallStage />
        {conv ? <ConversationView conv={conv} /> : <EmptyView />}
      </main>
      <SidePanel />
      <ProfileCard />
      {d === 'new-channel' && <NewChannelDialog />}
      {d === 'browse-channels' && <BrowseChannelsDialog />}
      {d === 'new-dm' && <NewDmDialog />}
      {d === 'settings' && <SettingsDialog />}
      {d === 'shortcuts' && <ShortcutsSheet />}
      {d === 'channel-settings' && <ChannelSettingsDialog />}
      {d === 'admin' && me.value?.role === 'admin' && <AdminConsole />}
      {d === 'conversation-notifications' && <ConversationNotificationsDialog />}
      {switcherOpen.value && <QuickSwitcher />}
      {emojiTarget.value && <EmojiPickerDialog />}
      {reauthPrompt.value && <ReauthDialog />}
      {lightbox.value && <Lightbox />}
      <IncomingCall />
      <Toast />
    </div>
  );
}

export function App() {
  const s = authState.value;
  useMailLinks();
  const link = mailLink.value;
  // A mailed reset link wins over everything: it works signed in or out (and ends every session).
  if (link?.kind === 'reset')
    return (
      <>
        <ResetPasswordScreen token={link.token} />
        <Toast />
      </>
    );
  if (s === 'loading')
    return (
      <div class="splash" role="status">
        Loading Parley…
      </div>
    );
  if (s === 'signed-out')
    return (
      <>
        <AuthScreen />
        <Toast />
      </>
    );
  return <Shell />;
}
