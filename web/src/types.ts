// Wire types of the client API (docs/api.md).
export interface User {
  id: string;
  username: string;
  display_name: string;
  status_text: string;
  avatar_url: string;
  /** IANA time zone name, or "" when not set. */
  timezone?: string;
  /** The signed-in user's own language for translations (only on /users/me). */
  language?: string | null;
  created_at: number;
  /** The system role: only in the user's own object (and to admins). */
  role?: 'user' | 'admin';
}

export type PresenceStatus = 'online' | 'away' | 'dnd' | 'offline';
export type ChosenPresence = 'online' | 'away' | 'dnd' | 'invisible';

export interface Presence {
  user_id: string;
  status: PresenceStatus;
  last_active_at: number;
}

export type ConversationType = 'dm' | 'group' | 'channel';

export interface Conversation {
  id: string;
  type: ConversationType;
  name: string;
  topic: string;
  visibility: 'public' | 'private';
  member_count: number;
  last_seq: number;
  last_message_at: number;
  created_by: string;
  created_at: number;
  unread_count?: number;
  last_read_seq?: number;
  muted?: boolean;
  role?: 'owner' | 'admin' | 'member';
  /** Unread messages that mention me (by name or @all/@channel), per member. */
  mention_count?: number;
  /** Starred by me (per member). */
  starred?: boolean;
  /** Archived: read-only for everyone (shared). */
  archived?: boolean;
}

export interface Member {
  user_id: string;
  role: string;
  joined_at: number;
  user: User;
}

export interface Reaction {
  emoji: string;
  count: number;
  me: boolean;
}

export interface Message {
  id: string;
  conversation_id: string;
  seq: number;
  sender_id: string;
  text: string;
  client_msg_id: string;
  thread_root_id: string | null;
  reply_count: number;
  reactions: Reaction[];
  attachments: FileObject[];
  /** Link previews of URLs in the text, filled in by the server later (message.updated). */
  previews?: LinkPreview[];
  created_at: number;
  edited_at: number | null;
  deleted: boolean;
  /** User ids the text mentions, and whether it mentions everyone (@all, @channel, @here). */
  mentions?: string[];
  mention_all?: boolean;
}

/** An uploaded file (docs: API-EXTENSIONS "Files"). */
export interface FileObject {
  id: string;
  name: string;
  size: number;
  content_type: string;
  sha256?: string;
  width?: number;
  height?: number;
  thumbnail_url?: string;
  url: string;
  created_by?: string;
  created_at?: number;
  /** What speech-to-text heard in a voice message, filled in later (message.updated). */
  transcript?: { text: string; language: string; engine: string };
}

export interface LinkPreview {
  url: string;
  title?: string;
  description?: string;
  image_url?: string;
  site_name?: string;
}

/** A message as the client holds it: a confirmed message, or one still being sent. */
export interface ClientMessage extends Message {
  /** 'sending' until the server confirms it; 'failed' when the send failed (retry shown). */
  pending?: 'sending' | 'failed';
}

export interface Session {
  id: string;
  device_name: string;
  created_at: number;
  last_seen_at: number;
  current: boolean;
}

export interface SearchResult {
  message: Message;
  highlight: string;
}

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  expires_in: number;
}

export interface AuthAnswer extends TokenPair {
  user: User;
}
