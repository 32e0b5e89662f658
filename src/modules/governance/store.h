// GovernanceStore: the port through which the governance module keeps what it owns (retention
// policies, export records, analytics rollups, tables of component "governance") and does the
// three jobs that must read or delete other modules' rows in one transaction:
// - retention: expire_messages() deletes a bounded batch of old messages together with their
//   reactions, pins, mentions, saved entries and search entries, and the file records their
//   attachments leave unreferenced; expire_files() the same for old files never posted;
// - export: reads a user's own messages and files, or a whole conversation's;
// - analytics: roll_up() folds the messages and sign-ups since its watermark into daily
//   rollups, in the same transaction that moves the watermark: per day, messages by
//   conversation type, DM first-response buckets (from one turn row per DM), call messages and
//   file records (a watermark of their own).
// Like the search index, the adapters read and delete the messaging, files and users tables
// directly (docs/decisions.md §36). Implemented for SQLite and PostgreSQL; every
// implementation passes store_contract.h. Blocking; thread-safe; call from worker threads.
// Errors: not_found for an unknown export, unavailable/internal from the database.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/result.h"

namespace parley::governance {

inline constexpr Millis kDayMs = 86'400'000;

// ---- retention ----

struct ConversationPolicy {
  std::string conversation_id;
  int days = 0;
};

struct ExpiredMessage {
  std::string id;
  std::string conversation_id;
};

// What one expiry transaction removed. blob_keys: blobs no remaining file record uses (the
// caller removes them from the blob store after the commit).
struct ExpiryBatch {
  std::vector<ExpiredMessage> messages;
  std::vector<std::string> file_ids;
  std::vector<std::string> blob_keys;
};

// ---- export ----

struct ExportMessage {
  std::int64_t cursor = 0;  // opaque, increasing: pass the last one to get the next page
  std::string id;
  std::string conversation_id;
  std::string conversation_name;  // a DM's or unnamed group's: its members' usernames
  std::string conversation_type;  // "dm" | "group" | "channel"
  std::int64_t seq = 0;
  std::string sender_id;
  std::string sender_username;
  std::string text;
  std::optional<std::string> thread_root_id;
  std::vector<std::string> attachment_ids;
  Millis created_at = 0;
  std::optional<Millis> edited_at;
};

struct ExportFile {
  std::string id;
  std::string owner_id;
  std::string name;
  std::int64_t size = 0;
  std::string content_type;
  std::string blob_key;
  Millis created_at = 0;
};

struct ConversationLabel {
  std::string id;
  std::string name;  // as ExportMessage::conversation_name
  std::string type;  // "dm" | "group" | "channel"
};

enum class ExportStatus { pending, ready, failed };
const char* to_string(ExportStatus s);

struct ExportRecord {
  std::string id;
  std::string requested_by;
  std::string kind;    // "user" | "conversation"
  std::string target;  // the user or conversation exported
  ExportStatus status = ExportStatus::pending;
  std::string blob_key;  // "" until ready
  std::int64_t size = 0;
  std::string error;
  Millis created_at = 0;
  Millis finished_at = 0;
  Millis expires_at = 0;  // the archive is removed after this (0: not yet built)
};

// ---- analytics ----

// One day of activity, UTC. active_users: distinct senders of messages that day. messages is
// dm + group + channel messages (days rolled up before governance migration 2 have no split:
// zeros). calls: call messages posted that day (a call counts on the day it ended);
// call_seconds: their answered time. files: file records created that day. dm_responses and
// dm_first_response_median_ms: filled by AnalyticsService from the day's response buckets.
struct DayCount {
  std::string date;  // YYYY-MM-DD
  std::int64_t active_users = 0;
  std::int64_t messages = 0;
  std::int64_t new_users = 0;
  std::int64_t dm_messages = 0;
  std::int64_t group_messages = 0;
  std::int64_t channel_messages = 0;
  std::int64_t calls = 0;
  std::int64_t call_seconds = 0;
  std::int64_t files = 0;
  std::int64_t dm_responses = 0;
  std::optional<Millis> dm_first_response_median_ms;
};

// DM first responses of one day in one bucket of response_bucket() (docs/decisions.md §47).
struct ResponseBucket {
  std::string date;
  int bucket = 0;
  std::int64_t count = 0;
};

// First responses slower than this are not counted (the reply still starts a new turn).
inline constexpr Millis kMaxFirstResponseMs = 7 * kDayMs;
// Log-scale buckets of response times: 0 is under one second; bucket b >= 1 holds
// [1 s * 2^((b-1)/16), 1 s * 2^(b/16)), so 7 days fit in 309 buckets and a bucket's middle is
// within 2.2 % of anything in it.
int response_bucket(Millis ms);
// The bucket's representative time: its geometric middle (500 ms for bucket 0).
Millis bucket_middle(int bucket);
// The median of the times counted in buckets (bucket -> count, any order): the middle of the
// bucket holding the middle value, or the mean of the two middles for an even count; nullopt
// when nothing is counted.
std::optional<Millis> bucket_median(const std::vector<std::pair<int, std::int64_t>>& buckets);
// The call of a call message (the one the API posts when a call ends: client_msg_id "call-<id>",
// text from calls::call_message_text(): "📞 Missed video call" or "📞 Audio call · m:ss" /
// "h:mm:ss"): its answered seconds (0 for a missed call); nullopt for any other message.
std::optional<std::int64_t> call_seconds(std::string_view client_msg_id, std::string_view text);
// What turn-tracking needs of a DM: who spoke last and when their turn began (the first of
// their run of messages). Adapters keep one per DM in analytics_dm_turns.
struct DmTurn {
  std::string sender_id;
  Millis turn_at = 0;
};
// Folds one DM message into its turn: returns the first response time to count (the message
// answers the other person's turn within kMaxFirstResponseMs), and moves the turn on.
std::optional<Millis> next_turn(std::optional<DmTurn>& turn, const std::string& sender,
                                Millis at);

struct ChannelCount {
  std::string conversation_id;
  std::string name;
  std::int64_t messages = 0;
  std::int64_t active_users = 0;
};

// How far one roll_up() got: rows folded in, and whether more wait below its horizon.
struct RollupProgress {
  std::int64_t messages = 0;
  std::int64_t users = 0;
  std::int64_t files = 0;
  bool more = false;
};

// The UTC date (YYYY-MM-DD) of a time; shared by every adapter so days agree.
std::string utc_date(Millis at);
// YYYY-MM-DD -> days since 1970-01-01; nullopt when malformed or not a real date.
std::optional<std::int64_t> parse_date(std::string_view date);
std::string format_date(std::int64_t days_since_epoch);

class GovernanceStore {
 public:
  virtual ~GovernanceStore() = default;

  // Retention policies: days, or nullopt for "keep forever".
  virtual Result<std::optional<int>> global_retention_days() = 0;
  virtual Result<void> set_global_retention_days(std::optional<int> days) = 0;
  virtual Result<std::optional<int>> conversation_retention_days(const std::string& id) = 0;
  virtual Result<void> set_conversation_retention_days(const std::string& id,
                                                       std::optional<int> days) = 0;
  virtual Result<std::vector<ConversationPolicy>> conversation_policies() = 0;

  // In one transaction: at most limit messages created before `before` (of one conversation, or
  // of any), oldest first, deleted with everything hanging off them; then those of their
  // attachments' file records that nothing references any more (no remaining message's
  // attachments or previews, no avatar), and the blobs no file record uses.
  virtual Result<ExpiryBatch> expire_messages(const std::optional<std::string>& conversation_id,
                                              Millis before, int limit) = 0;
  // In one transaction: at most limit files created before `before` that were never posted and
  // are nobody's avatar (uploads left lying), with the blobs nothing else uses.
  virtual Result<ExpiryBatch> expire_files(Millis before, int limit) = 0;

  // Export reads, in pages after cursor (0 first): the live (not deleted) messages user_id sent,
  // anywhere; every live message of a conversation in seq order.
  virtual Result<std::vector<ExportMessage>> messages_sent_by(const std::string& user_id,
                                                              std::int64_t after, int limit) = 0;
  virtual Result<std::vector<ExportMessage>> messages_in(const std::string& conversation_id,
                                                         std::int64_t after, int limit) = 0;
  // not_found for an unknown conversation.
  virtual Result<ConversationLabel> conversation_label(const std::string& conversation_id) = 0;
  // Files by id after after_id ("" first): those user_id uploaded; those posted in a
  // conversation.
  virtual Result<std::vector<ExportFile>> files_owned_by(const std::string& user_id,
                                                         const std::string& after_id,
                                                         int limit) = 0;
  virtual Result<std::vector<ExportFile>> files_posted_in(const std::string& conversation_id,
                                                          const std::string& after_id,
                                                          int limit) = 0;

  virtual Result<void> create_export(const ExportRecord& r) = 0;
  virtual Result<ExportRecord> get_export(const std::string& id) = 0;
  virtual Result<void> update_export(const ExportRecord& r) = 0;
  // Exports whose expires_at (when set) is before now, and pending ones created before
  // stale_before (a node stopped while building them).
  virtual Result<std::vector<ExportRecord>> expired_exports(Millis now, Millis stale_before,
                                                            int limit) = 0;
  virtual Result<void> remove_export(const std::string& id) = 0;

  // Folds into the rollups at most limit messages, at most limit new users and at most limit
  // files, created after their watermarks and before horizon, and moves the watermarks past them:
  // each row is counted once. DM messages move their DM's turn (next_turn()) in the same
  // transaction.
  virtual Result<RollupProgress> roll_up(Millis horizon, int limit) = 0;
  // Drops the rollups of days before `date`.
  virtual Result<void> prune_rollups(const std::string& before_date) = 0;
  // The days from..to (inclusive, YYYY-MM-DD) that have rollups, in date order (the dm_responses
  // and median fields left empty).
  virtual Result<std::vector<DayCount>> days(const std::string& from, const std::string& to) = 0;
  // The DM first-response buckets of the days from..to, by date then bucket.
  virtual Result<std::vector<ResponseBucket>> response_buckets(const std::string& from,
                                                               const std::string& to) = 0;
  // Distinct active users over from..to.
  virtual Result<std::int64_t> active_users(const std::string& from, const std::string& to) = 0;
  // Channels (type channel) by messages over from..to, busiest first (ties by id).
  virtual Result<std::vector<ChannelCount>> channels(const std::string& from,
                                                     const std::string& to, int limit) = 0;
};

}  // namespace parley::governance
