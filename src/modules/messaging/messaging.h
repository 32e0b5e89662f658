// Messaging module: conversations (DMs, groups, channels), membership and roles, messages with
// threads, reactions, pins and read state, and the real-time events they cause.
//
// MessagingService checks every call against the caller: a conversation the caller may not see
// (private and not a member) is not_found, exactly as an unknown id. It validates input, asks
// the store (store.h) to do the work atomically, and publishes events (events.h) on the bus
// after the commit, per conversation in commit (seq) order. Values in, values out; blocking;
// safe to call from any worker thread.
//
// Errors: invalid_argument (field named), not_found, permission_denied (a member who lacks the
// role), failed_precondition (state forbids it: leaving a DM, editing a tombstone), already_exists
// (channel name taken).
#pragma once

#include <boost/json/object.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/bus.h"
#include "core/clock.h"
#include "core/worker_pool.h"
#include "core/result.h"
#include "modules/messaging/store.h"
#include "modules/users/users.h"

namespace parley::messaging {

struct MessagingOptions {
  int max_group_members = 50;
  int max_add_at_once = 50;
  int max_text_chars = 16'000;
  int max_name_chars = 80;
  int max_topic_chars = 250;
  int max_emoji_bytes = 64;
  int max_distinct_reactions = 50;
  int max_pins = 100;
  int max_attachments = 10;
  Millis typing_interval_ms = 3'000;
  // presence.changed and user.updated about one user: at most one per interval, the rest
  // coalesced into the latest (notify_contacts).
  Millis contact_event_interval_ms = 1'000;
};

struct NewConversation {
  std::string type;  // "dm" | "group" | "channel"
  std::vector<std::string> member_ids;
  std::optional<std::string> name;
  std::optional<std::string> topic;
  std::optional<std::string> visibility;  // "public" | "private"
};

struct Created {
  ConversationView view;
  bool created = false;  // false: the DM already existed
};

struct SavedPage {
  std::vector<Message> messages;  // most recently saved first
  std::optional<std::string> next_cursor;
};

struct ConversationPage {
  std::vector<ConversationView> conversations;
  std::optional<std::string> next_cursor;
};

struct ChannelPage {
  std::vector<Conversation> channels;
  std::optional<std::string> next_cursor;
};

struct MemberPage {
  std::vector<Member> members;
  std::optional<std::string> next_cursor;
};

struct SendRequest {
  std::string conversation_id;
  std::string text;
  std::string client_msg_id;
  std::optional<std::string> thread_root_id;
  // Resolved by the files module (only files the sender may attach); at most
  // max_attachments. With attachments the text may be empty.
  std::vector<Attachment> attachments{};
};

class MessagingService {
 public:
  // completions: where send_async finishes a send (publishing its event, calling back); inline
  // on the storage thread when null.
  MessagingService(MessagingStore& store, users::UserService& users, Bus& bus, const Clock& clock,
                   MessagingOptions options = {}, WorkerPool* completions = nullptr);
  ~MessagingService();

  // Conversations.
  Result<Created> create(const std::string& caller, const NewConversation& in);
  Result<ConversationPage> list(const std::string& caller, int limit,
                                const std::optional<std::string>& cursor);
  Result<ConversationView> get(const std::string& caller, const std::string& id);
  Result<ConversationView> update(const std::string& caller, const std::string& id,
                                  const std::optional<std::string>& name,
                                  const std::optional<std::string>& topic);
  Result<ChannelPage> browse(const std::string& caller, const std::string& contains, int limit,
                             const std::optional<std::string>& cursor);
  Result<ConversationView> join(const std::string& caller, const std::string& id);
  Result<void> leave(const std::string& caller, const std::string& id);

  // Archives (read-only: sends, edits, reactions, pins and joins are refused with
  // failed_precondition) or unarchives a group or channel: owners and admins
  // (permission_denied otherwise), not DMs (invalid_argument). conversation.updated goes to the
  // members when it changed.
  Result<ConversationView> set_archived(const std::string& caller, const std::string& id,
                                        bool archived);

  // The caller's own state, each change told to all of the caller's sessions (star.updated,
  // saved.updated, read.updated) when something changed. not_found for a conversation or
  // message the caller is not a member of / may not see.
  Result<void> set_starred(const std::string& caller, const std::string& conversation_id,
                           bool starred);
  // failed_precondition when saving a deleted message (unsaving it works).
  Result<void> set_saved(const std::string& caller, const std::string& message_id, bool saved);
  Result<SavedPage> saved(const std::string& caller, int limit,
                          const std::optional<std::string>& cursor);
  // Moves the caller's read marker to seq - 1, backwards too: seq must be 1..last_seq
  // (invalid_argument, field "seq").
  Result<ReadState> mark_unread(const std::string& caller, const std::string& conversation_id,
                                std::int64_t seq);

  // Members.
  Result<MemberPage> members(const std::string& caller, const std::string& id, int limit,
                             const std::optional<std::string>& cursor);
  Result<std::vector<Member>> add_members(const std::string& caller, const std::string& id,
                                          const std::vector<std::string>& user_ids);
  Result<void> remove_member(const std::string& caller, const std::string& id,
                             const std::string& user_id);
  Result<Member> set_role(const std::string& caller, const std::string& id,
                          const std::string& user_id, const std::string& role);

  // System administration: no membership needed (the API lets only system admins call these).
  // Every channel, private ones too, whose name contains `contains`, by name.
  Result<ChannelPage> all_channels(const std::string& contains, int limit,
                                   const std::optional<std::string>& cursor);
  // A channel by id (not_found for anything else: DMs and groups are not administered).
  Result<Conversation> channel_for_admin(const std::string& id);
  // The owner's user id; "" when none is among the first members looked at.
  Result<std::string> owner_of(const std::string& id);
  Result<Conversation> admin_set_archived(const std::string& id, bool archived);
  // Makes user_id the channel's owner, adding them as a member first when they are not one; the
  // previous owner stays, as an admin. not_found for an unknown user.
  Result<Member> admin_set_owner(const std::string& id, const std::string& user_id);

  // Messages.
  Result<Appended> send(const std::string& caller, const SendRequest& in);
  // send() without waiting for the commit: the checks run on the calling thread, then done gets
  // the result on the completions pool once the message is durable. Sends started one after
  // another from one thread are stored in that order.
  using SendDone = std::function<void(Result<Appended>)>;
  void send_async(const std::string& caller, const SendRequest& in, SendDone done);
  Result<MessagePage> history(const std::string& caller, const std::string& conversation_id,
                              const HistoryQuery& q);
  Result<Message> get_message(const std::string& caller, const std::string& id);
  Result<Message> edit(const std::string& caller, const std::string& id, const std::string& text);
  Result<void> remove_message(const std::string& caller, const std::string& id);
  Result<MessagePage> replies(const std::string& caller, const std::string& id,
                              std::int64_t after_seq, int limit);
  Result<void> react(const std::string& caller, const std::string& message_id,
                     const std::string& emoji, bool add);
  // session_id: the caller's session, which does not get the read.updated event.
  Result<ReadState> mark_read(const std::string& caller, const std::string& session_id,
                              const std::string& conversation_id, std::int64_t seq);
  Result<void> pin(const std::string& caller, const std::string& conversation_id,
                   const std::string& message_id, bool pinned);
  Result<std::vector<Message>> pins(const std::string& caller,
                                    const std::string& conversation_id);
  // Sets the link previews found for a message's text (a background job, not a user): the
  // message.updated event goes to its conversation. failed_precondition when it was deleted.
  Result<Message> set_previews(const std::string& message_id,
                               const std::vector<LinkPreview>& previews);
  // Sets the transcripts made for a message's audio attachments (file id -> transcript; a
  // background job, not a user): message.updated goes to its conversation when one changed.
  // not_found for an unknown message, failed_precondition when it was deleted.
  Result<Message> set_transcripts(const std::string& message_id,
                                  const std::map<std::string, AttachmentTranscript>& by_file);
  // Relays a typing event to the other members, at most once per typing_interval_ms per
  // (caller, conversation); extra calls succeed and relay nothing.
  Result<void> typing(const std::string& caller, const std::string& conversation_id);

  // For other modules.
  Result<std::vector<std::string>> conversation_ids_of(const std::string& user_id);
  // Those of candidates who share a conversation with user_id (presence answers only them).
  Result<std::vector<std::string>> co_members(const std::string& user_id,
                                              const std::vector<std::string>& candidates);
  // Whether the user is a member (search, presence).
  Result<bool> is_member(const std::string& conversation_id, const std::string& user_id);
  // Publishes an event about user_id to them and everyone who shares a conversation with them
  // (presence.changed, user.updated). data is a serialised JSON object. Throttled per user and
  // event name: within contact_event_interval_ms of the last one, only the latest is kept and
  // goes out when the interval ends.
  void notify_contacts(const std::string& user_id, std::string name, std::string data);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Wire JSON of the API (API.md): the same objects in HTTP answers and event data.
boost::json::object to_json(const Message& m, bool with_reactions = true);
// The file object of API-EXTENSIONS.md (uploads, downloads and message attachments alike).
boost::json::object to_json(const Attachment& f);
boost::json::object to_json(const Conversation& c);
boost::json::object to_json(const ConversationView& v);

// The @-mentions written in a text: the usernames (lower case, distinct, in order of first
// appearance; not yet checked against anyone) and whether @channel, @here or @everyone appears.
// A mention starts with '@' at the start of the text or after a character that cannot be part
// of a username (so an e-mail address is not one), runs over a-z A-Z 0-9 . _ - and drops
// trailing dots; 3 to 32 characters remain or it is not a mention.
struct MentionTokens {
  std::vector<std::string> usernames;
  bool all = false;
};
MentionTokens find_mentions(std::string_view text);

// A message text as the API accepts it: trimmed, 1..max_chars characters, UTF-8, no control
// characters other than tab and newlines. invalid_argument (field "text") otherwise.
Result<std::string> normalise_text(std::string_view raw, int max_chars);

}  // namespace parley::messaging
