// MessagingStore: the port through which the messaging module keeps conversations, members,
// messages, reactions, pins and read state. Implemented by adapters (SQLite, PostgreSQL); every
// implementation passes store_contract.h. Blocking; thread-safe.
//
// The store enforces what must hold under concurrency, inside one transaction each:
// - append() assigns seq = last_seq + 1 in the same transaction that inserts the message, so
//   seq is gap-free and identical for every reader; a repeated (sender, client_msg_id) in a
//   conversation returns the original instead of inserting.
// - one DM per pair of users, channel names unique case-insensitively (already_exists),
//   member caps, owner handover when the last owner/admin leaves.
// Authorisation and input validation belong to the service (messaging.h), not the store.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/result.h"
#include "modules/jobs/new_job.h"

namespace parley::messaging {

enum class ConversationType { dm, group, channel };
enum class Visibility { public_, private_ };
enum class Role { owner, admin, member };

const char* to_string(ConversationType t);
const char* to_string(Visibility v);
const char* to_string(Role r);

struct Conversation {
  std::string id;
  ConversationType type = ConversationType::group;
  std::string name;
  std::string topic;
  Visibility visibility = Visibility::private_;
  std::int64_t member_count = 0;
  std::int64_t last_seq = 0;
  Millis last_message_at = 0;
  std::string created_by;
  Millis created_at = 0;
  // Read-only: sends, edits, reactions, pins and joins are refused (the service checks).
  bool archived = false;
};

// The caller's own row in a conversation.
struct Membership {
  Role role = Role::member;
  Millis joined_at = 0;
  std::int64_t last_read_seq = 0;
  bool muted = false;
  bool starred = false;
};

// A conversation as one user sees it: membership and unread count when a member.
struct ConversationView {
  Conversation conversation;
  std::optional<Membership> me;
  std::int64_t unread_count = 0;
  // Unread messages (as unread_count) that mention the viewer or everyone; same cap.
  std::int64_t mention_count = 0;
};

struct Member {
  std::string user_id;
  Role role = Role::member;
  Millis joined_at = 0;
};

struct Reaction {
  std::string emoji;
  std::int64_t count = 0;
  bool me = false;  // whether the viewer is among those who reacted
};

// What speech-to-text heard in an audio attachment (filled in the background by the ai module).
struct AttachmentTranscript {
  std::string text;
  std::string language;  // ISO 639-1
  std::string engine;    // "pocketsphinx"
  bool operator==(const AttachmentTranscript&) const = default;
};

// A file attached to a message: the files module's object as it was when posted (its bytes
// never change, so the copy stays true), and the transcript of a voice message once made.
struct Attachment {
  std::string id;
  std::string name;
  std::int64_t size = 0;
  std::string content_type;
  std::string sha256;
  int width = 0;  // images only; 0 otherwise
  int height = 0;
  bool has_thumbnail = false;
  std::string created_by;
  Millis created_at = 0;
  std::optional<AttachmentTranscript> transcript;
};

// A link in the text, unfurled in the background (title, description, image of the page).
struct LinkPreview {
  std::string url;
  std::string title;
  std::string description;
  std::string image_url;  // "" when the page names none
  std::string site_name;
};

// Who a message mentions: members named by @username (distinct, in order of first appearance),
// and whether it mentions everyone (@channel, @here, @everyone).
struct Mentions {
  std::vector<std::string> user_ids;
  bool all = false;
  bool operator==(const Mentions&) const = default;
};

// client_msg_id prefixes of the messages the server posts itself: a call's summary ("call-" and
// the call id) and a call recording ("rec-"). Clients may not use them (422), so what carries
// one is known to come from the server (analytics counts calls by them).
inline constexpr std::string_view kCallPostPrefix = "call-";
inline constexpr std::string_view kRecordingPostPrefix = "rec-";
inline bool is_server_post(std::string_view client_msg_id) {
  return client_msg_id.starts_with(kCallPostPrefix) ||
         client_msg_id.starts_with(kRecordingPostPrefix);
}

struct Message {
  std::string id;
  std::string conversation_id;
  std::int64_t seq = 0;
  std::string sender_id;
  std::string text;
  std::string client_msg_id;
  std::optional<std::string> thread_root_id;
  std::int64_t reply_count = 0;
  std::vector<Reaction> reactions;
  std::vector<Attachment> attachments;
  std::vector<LinkPreview> previews;
  Mentions mentions;  // none once deleted
  Millis created_at = 0;
  std::optional<Millis> edited_at;
  bool deleted = false;
};

struct NewMessage {
  std::string id;
  std::string conversation_id;
  std::string sender_id;
  std::string text;
  std::string client_msg_id;
  std::optional<std::string> thread_root_id;
  std::vector<Attachment> attachments;
  Mentions mentions;
  Millis created_at = 0;
};

// How every store adapter keeps a message's attachments and previews: one JSON text column
// each, "" for none. Decoding is lenient (a row it cannot read decodes as none) because the
// column is only ever written by encode.
std::string encode_attachments(const std::vector<Attachment>& a);
std::vector<Attachment> decode_attachments(std::string_view text);
std::string encode_previews(const std::vector<LinkPreview>& p);
std::vector<LinkPreview> decode_previews(std::string_view text);
// A message's mentioned user ids in one text column: joined with ',' (ids hold no commas), ""
// for none.
std::string encode_mention_ids(const std::vector<std::string>& ids);
std::vector<std::string> decode_mention_ids(std::string_view text);

struct Appended {
  Message message;
  bool created = false;  // false: the client_msg_id was already used; message is the original
};

// What an append of m stored with this seq: a new message (no replies, reactions or edits).
inline Appended appended_as(const NewMessage& m, std::int64_t seq) {
  Message msg;
  msg.id = m.id;
  msg.conversation_id = m.conversation_id;
  msg.seq = seq;
  msg.sender_id = m.sender_id;
  msg.text = m.text;
  msg.client_msg_id = m.client_msg_id;
  msg.thread_root_id = m.thread_root_id;
  msg.attachments = m.attachments;
  msg.mentions = m.mentions;
  msg.created_at = m.created_at;
  return {std::move(msg), true};
}

// History window: after_seq gives the first `limit` after it; otherwise the last `limit` before
// before_seq (or the latest). has_more says whether messages exist beyond the window's far end.
struct HistoryQuery {
  std::optional<std::int64_t> before_seq;
  std::optional<std::int64_t> after_seq;
  int limit = 50;
};

struct MessagePage {
  std::vector<Message> messages;  // ascending seq
  bool has_more = false;
};

struct ReadState {
  std::int64_t last_read_seq = 0;
  std::int64_t unread_count = 0;
  std::int64_t mention_count = 0;
  bool moved = false;
};

// A saved message and its place in the saver's list (an opaque cursor: later saves are higher).
struct SavedMessage {
  Message message;
  std::int64_t position = 0;
};

// Cursor for the activity-ordered conversation list: strictly after (activity, id) descending.
struct ActivityCursor {
  Millis activity = 0;
  std::string id;
};

// unread_count is counted up to this many.
inline constexpr std::int64_t kUnreadCountCap = 10'000;

// The transactional outbox (modules/jobs/jobs.h): other modules contribute jobs to the
// transaction that stores each new message, so a job exists exactly when its message does.
// produce runs inside that transaction, on the storage thread, for a message the append
// created (not for a retried client_msg_id): it must be quick and do no I/O (build a payload
// from the message; look nothing up). committed, when set, runs after a commit that wrote some
// of its jobs, also on the storage thread: it must only signal (JobQueue::wake).
struct AppendHook {
  std::function<std::vector<jobs::NewJob>(const Message&)> produce;
  std::function<void()> committed;
};

class MessagingStore {
 public:
  virtual ~MessagingStore() = default;

  // Adds a hook; call before the first append (not synchronised with appends). Stores must
  // write the jobs in the append's transaction (their outbox table: the job store of the same
  // backend must exist).
  virtual void add_append_hook(AppendHook hook) = 0;

  // Conversations and members.
  // already_exists when a channel's name is taken.
  virtual Result<void> create_conversation(const Conversation& c,
                                           const std::vector<Member>& members) = 0;
  // The DM between a and b (a may equal b), created from `proposed` when none exists, with a
  // as its owner.
  // The bool is true when created.
  virtual Result<std::pair<Conversation, bool>> find_or_create_dm(
      const Conversation& proposed, const std::string& a, const std::string& b) = 0;
  virtual Result<Conversation> get_conversation(const std::string& id) = 0;
  // The conversation with viewer's membership (absent when not a member), and the unread and
  // mention counts when asked (they read the unread range, so authorisation checks skip it).
  virtual Result<ConversationView> view(const std::string& id, const std::string& viewer,
                                        bool count_unread) = 0;
  virtual Result<std::vector<ConversationView>> list_for_user(
      const std::string& user_id, int limit, const std::optional<ActivityCursor>& after) = 0;
  // Public channels whose name contains `contains` (case-insensitive), by name, after a name.
  virtual Result<std::vector<Conversation>> list_public_channels(
      const std::string& contains, int limit, const std::optional<std::string>& after_name) = 0;
  // The same over every channel, private ones too (for system administrators).
  virtual Result<std::vector<Conversation>> list_all_channels(
      const std::string& contains, int limit, const std::optional<std::string>& after_name) = 0;
  virtual Result<std::vector<std::string>> conversation_ids_of(const std::string& user_id) = 0;
  // Those of candidates who are members of at least one conversation user_id is a member of.
  virtual Result<std::vector<std::string>> co_members(const std::string& user_id,
                                                      const std::vector<std::string>& candidates) = 0;
  virtual Result<Conversation> update_conversation(const std::string& id,
                                                   const std::optional<std::string>& name,
                                                   const std::optional<std::string>& topic) = 0;
  virtual Result<std::optional<Membership>> membership(const std::string& conversation_id,
                                                       const std::string& user_id) = 0;
  // Adds those not yet members; failed_precondition when the total would exceed max_members.
  // Returns the members added.
  virtual Result<std::vector<Member>> add_members(const std::string& conversation_id,
                                                  const std::vector<Member>& members,
                                                  std::int64_t max_members) = 0;
  // False when user_id was not a member. When the owner goes, the longest-standing admin (or,
  // without one, member) becomes owner.
  virtual Result<bool> remove_member(const std::string& conversation_id,
                                     const std::string& user_id) = 0;
  virtual Result<Member> set_role(const std::string& conversation_id, const std::string& user_id,
                                  Role role) = 0;
  // In join order, strictly after the member who joined at after_position (an opaque cursor).
  virtual Result<std::vector<std::pair<Member, std::int64_t>>> list_members(
      const std::string& conversation_id, int limit, std::int64_t after_position) = 0;

  // Messages. Message reads fill reactions[].me for `viewer`. append() also moves the sender's
  // read marker to the new message (they have seen the conversation up to it).
  // invalid_argument (field thread_root_id) when the root is not a live top-level message of
  // the conversation; not_found when the sender is not a member at the commit (checked in the
  // same transaction, so a member removed meanwhile cannot post). A retried send of a removed
  // member still answers with its original.
  virtual Result<Appended> append(const NewMessage& m) = 0;
  // append() without holding the caller: done gets the result once the message is durable (or
  // the append failed), possibly on a storage thread, so it must only hand the result on.
  // Appends started one after another from one thread are committed in that order. Stores
  // without a commit queue of their own complete at once, on the calling thread.
  using AppendDone = std::function<void(Result<Appended>)>;
  virtual void append_async(const NewMessage& m, AppendDone done) { done(append(m)); }
  // Completes the appends queued by append_async (their done runs) and refuses later ones
  // (unavailable). Called at shutdown while the messaging service still exists.
  virtual void stop() {}
  virtual Result<Message> get_message(const std::string& id, const std::string& viewer) = 0;
  virtual Result<MessagePage> history(const std::string& conversation_id, const HistoryQuery& q,
                                      const std::string& viewer) = 0;
  virtual Result<MessagePage> replies(const std::string& root_id, std::int64_t after_seq,
                                      int limit, const std::string& viewer) = 0;
  // Also clears the previews (they were of the old text) and replaces the mentions.
  virtual Result<Message> edit(const std::string& id, const std::string& text, Millis edited_at,
                               const Mentions& mentions = {}) = 0;
  // Replaces the link previews of a live message; failed_precondition once it is deleted.
  virtual Result<Message> set_previews(const std::string& id,
                                       const std::vector<LinkPreview>& previews) = 0;
  // Replaces the attachments of a live message (the same files, with transcripts added);
  // failed_precondition once it is deleted.
  virtual Result<Message> set_attachments(const std::string& id,
                                          const std::vector<Attachment>& attachments) = 0;
  // Makes the message a tombstone (no text, reactions, pins or mentions); the bool is false when it
  // already was one.
  virtual Result<std::pair<Message, bool>> remove_message(const std::string& id) = 0;
  // True when something changed. failed_precondition when the message has max_distinct
  // different emoji already and this one is new.
  virtual Result<bool> add_reaction(const std::string& message_id, const std::string& user_id,
                                    const std::string& emoji, int max_distinct) = 0;
  virtual Result<bool> remove_reaction(const std::string& message_id, const std::string& user_id,
                                       const std::string& emoji) = 0;

  // Read state: never moves backwards; seq is clamped to last_seq. not_found when not a member.
  virtual Result<ReadState> mark_read(const std::string& conversation_id,
                                      const std::string& user_id, std::int64_t seq) = 0;
  // Sets the read marker to seq (clamped to 0..last_seq), backwards too ("mark as unread").
  // moved: whether it changed. not_found when not a member.
  virtual Result<ReadState> set_read_marker(const std::string& conversation_id,
                                            const std::string& user_id, std::int64_t seq) = 0;

  // Per-member star, idempotent: true when it changed. not_found when not a member.
  virtual Result<bool> set_starred(const std::string& conversation_id, const std::string& user_id,
                                   bool starred) = 0;
  // Archives or unarchives; returns the conversation, and whether it changed.
  virtual Result<std::pair<Conversation, bool>> set_archived(const std::string& conversation_id,
                                                             bool archived) = 0;

  // Saved messages, idempotent: true when something changed (saving again keeps the original
  // place in the list). Whether the user may see the message is the service's check.
  virtual Result<bool> set_saved(const std::string& user_id, const std::string& message_id,
                                 bool saved, Millis at) = 0;
  // The user's saved messages, most recently saved first, strictly before before_position
  // (none: from the newest), leaving out those they can no longer see: deleted, or in a
  // conversation they are not a member of (public channels stay visible).
  virtual Result<std::vector<SavedMessage>> list_saved(
      const std::string& user_id, int limit, std::optional<std::int64_t> before_position) = 0;

  // Pins, idempotent: true when something changed. failed_precondition when max_pins are
  // already pinned.
  virtual Result<bool> pin(const std::string& conversation_id, const std::string& message_id,
                           const std::string& by, Millis at, int max_pins) = 0;
  virtual Result<bool> unpin(const std::string& conversation_id,
                             const std::string& message_id) = 0;
  // Most recently pinned first.
  virtual Result<std::vector<Message>> pins(const std::string& conversation_id,
                                            const std::string& viewer) = 0;
};

}  // namespace parley::messaging
