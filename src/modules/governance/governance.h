// Governance module: what the server keeps (retention), what a user or an admin may take away
// (data export) and what the owners may count (usage analytics).
//
// - RetentionService: a global policy (set by a system admin) and per-conversation policies (set
//   by the conversation's owners and admins, never longer than the global one) delete messages
//   and files older than N days. A background thread deletes in small batches (one bounded
//   transaction each, with a pause between them) so sends queue behind at most one batch, and
//   publishes `messages.expired` so open timelines drop what went.
// - ExportService: a user's own data, or (for a system admin) a conversation, as a ZIP archive
//   built on the module's own thread into a temporary file, then stored in the blob store, from
//   where it is streamed to its requester for 24 hours.
// - AnalyticsService: daily rollups folded in incrementally by a background thread (never a
//   scan of the messages per request); reads for the admin API.
//
// Authorisation: who is a system admin is the caller's business (the api layer checks the
// role and passes admin=true); conversation roles are checked here through MessagingService.
// Errors: invalid_argument (field named), not_found (ids the caller may not see),
// permission_denied, resource_exhausted (too many exports queued), failed_precondition (an
// export not ready). Blocking; thread-safe; call from worker threads.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/bus.h"
#include "core/clock.h"
#include "core/result.h"
#include "modules/files/blob_store.h"
#include "modules/governance/store.h"
#include "modules/messaging/messaging.h"
#include "modules/users/users.h"

namespace parley::governance {

// ---- retention ----

struct RetentionOptions {
  // How often the job looks for expired data; 0: never (tests call run_once()).
  Millis interval_ms = 3'600'000;
  int batch = 200;          // messages (or files) per transaction
  Millis pause_ms = 20;     // between two batches: the writer serves sends meanwhile
  int max_days = 36'500;    // the longest policy accepted
};

struct RetentionView {
  std::optional<int> days;         // this conversation's own policy
  std::optional<int> global_days;  // the server's
  std::optional<int> effective_days;
};

struct RetentionRun {
  std::int64_t messages = 0;
  std::int64_t files = 0;
  std::int64_t batches = 0;
};

class RetentionService {
 public:
  RetentionService(GovernanceStore& store, files::BlobStore& blobs,
                   messaging::MessagingService& messaging, Bus& bus, const Clock& clock,
                   RetentionOptions options = {});
  ~RetentionService();

  Result<std::optional<int>> global_days();
  // invalid_argument (field days) outside 1..max_days.
  Result<std::optional<int>> set_global_days(std::optional<int> days);
  // Members may read; owners and admins of the conversation may set (permission_denied
  // otherwise). invalid_argument (field days) outside 1..max_days or above the global policy.
  Result<RetentionView> conversation(const std::string& caller, const std::string& id);
  Result<RetentionView> set_conversation(const std::string& caller, const std::string& id,
                                         std::optional<int> days);

  // One pass of the job: every policy applied until nothing older is left.
  Result<RetentionRun> run_once();
  // Starts the background thread (when interval_ms > 0).
  void start();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// ---- export ----

struct ExportOptions {
  std::string temp_dir;            // where archives are built before going to the blob store
  Millis keep_ms = 24 * 3'600'000;  // how long a finished archive can be downloaded
  int max_queued = 16;
  // How often old archives are removed; 0: never (tests).
  Millis sweep_interval_ms = 600'000;
};

// An audit hook: (actor, action, target). Called after an export is requested.
using AuditFn = std::function<void(const std::string& actor, const std::string& action,
                                   const std::string& target)>;

class ExportService {
 public:
  ExportService(GovernanceStore& store, files::BlobStore& blobs, users::UserService& users,
                messaging::MessagingService& messaging, const Clock& clock,
                ExportOptions options);
  ~ExportService();

  // Queues an export of the caller's own data.
  Result<ExportRecord> request_user_export(const std::string& caller);
  // Queues an export of a conversation; the caller must be a system admin (admin=true), else
  // permission_denied. not_found for an unknown conversation.
  Result<ExportRecord> request_conversation_export(const std::string& caller, bool admin,
                                                   const std::string& conversation_id);
  // The requester's export (not_found for anyone else's).
  Result<ExportRecord> get(const std::string& caller, const std::string& id);
  // Up to length bytes of a ready archive from offset (failed_precondition while not ready).
  Result<std::string> read(const ExportRecord& r, std::uint64_t offset, std::size_t length);

  // Builds what is queued; then returns. For tests, and run by the module's thread.
  void drain();
  // Removes archives past their time. Returns how many.
  int sweep();
  void start();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// ---- analytics ----

struct AnalyticsOptions {
  // How often the rollups catch up; 0: never (tests call roll_up()).
  Millis interval_ms = 60'000;
  // Rows younger than this are left for the next run: on PostgreSQL, a send's created_at is
  // taken before its commit, so the newest rows may still be arriving.
  Millis lag_ms = 60'000;
  int batch = 5'000;
  int keep_days = 397;  // 13 months of rollups
  int max_range_days = 400;
};

struct Summary {
  std::vector<DayCount> days;  // every day of the range, zeros included
  std::int64_t dau = 0;        // distinct active users on `to`
  std::int64_t wau = 0;        // over the 7 days ending `to`
  std::int64_t mau = 0;        // over the 30 days ending `to`
  // DM first responses over the range, and their median (nullopt when there were none).
  std::int64_t dm_responses = 0;
  std::optional<Millis> dm_first_response_median_ms;
};

class AnalyticsService {
 public:
  AnalyticsService(GovernanceStore& store, const Clock& clock, AnalyticsOptions options = {});
  ~AnalyticsService();

  // Dates are YYYY-MM-DD; invalid_argument (field from/to) when malformed, when to < from, or
  // for a range over max_range_days.
  Result<Summary> summary(const std::string& from, const std::string& to);
  Result<std::vector<ChannelCount>> channels(const std::string& from, const std::string& to,
                                             int limit);

  // Catches the rollups up to now - lag_ms; returns the messages folded in.
  Result<std::int64_t> roll_up();
  void start();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// parse_date() and format_date(): store.h.

}  // namespace parley::governance
