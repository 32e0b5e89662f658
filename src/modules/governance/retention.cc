// Retention: policies, and the job that applies them in bounded batches.
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <algorithm>
#include <map>

#include "core/json.h"
#include "core/log.h"
#include "modules/governance/governance.h"
#include "modules/messaging/events.h"
#include "ticker.h"

namespace parley::governance {

struct RetentionService::Impl {
  Impl(GovernanceStore& s, files::BlobStore& b, messaging::MessagingService& m, Bus& bus,
       const Clock& c, RetentionOptions o)
      : store(s), blobs(b), messaging(m), bus(bus), clock(c), opt(o) {}

  GovernanceStore& store;
  files::BlobStore& blobs;
  messaging::MessagingService& messaging;
  Bus& bus;
  const Clock& clock;
  RetentionOptions opt;
  std::mutex run_mu;  // one pass at a time (the thread, or a test's run_once)
  Ticker ticker;

  Result<void> check_days(std::optional<int> days) const {
    if (days && (*days < 1 || *days > opt.max_days))
      return fail(Errc::invalid_argument,
                  "days must be between 1 and " + std::to_string(opt.max_days), "days");
    return ok();
  }

  // The removed messages, per conversation, as one event each, so open timelines drop them.
  void announce(const ExpiryBatch& b) {
    std::map<std::string, boost::json::array> by_conv;
    for (const auto& m : b.messages) by_conv[m.conversation_id].push_back(boost::json::value(m.id));
    for (auto& [conv, ids] : by_conv) {
      messaging::Event e;
      e.route.kind = messaging::Route::Kind::conversation;
      e.route.conversation_ids = {conv};
      e.name = "messages.expired";
      e.data = json::serialize(boost::json::object{{"conversation_id", conv},
                                                   {"message_ids", std::move(ids)}});
      bus.publish(messaging::kEventsTopic, messaging::encode(e));
    }
  }

  // Blobs go after the commit that released them; a failure leaves an orphan blob, logged.
  void remove_blobs(const ExpiryBatch& b) {
    for (const auto& key : b.blob_keys)
      if (auto r = blobs.remove(key); !r)
        log::warn("retention: blob not removed", {{"key", key}, {"error", r.error().message}});
  }

  // Applies one cutoff in batches until nothing older is left (or stopping).
  template <class Batch>
  Result<void> drain(RetentionRun& run, Batch batch) {
    for (;;) {
      auto b = batch();
      if (!b) return fail(b.error());
      ++run.batches;
      run.messages += static_cast<std::int64_t>(b->messages.size());
      run.files += static_cast<std::int64_t>(b->file_ids.size());
      remove_blobs(*b);
      if (!b->messages.empty()) announce(*b);
      // A full batch (of messages, or for a files pass of files) means more may wait.
      const auto limit = static_cast<std::size_t>(opt.batch);
      const bool full = b->messages.size() >= limit ||
                        (b->messages.empty() && b->file_ids.size() >= limit);
      if (!full) return ok();
      // Yield: whatever queued behind this batch at the writer (sends) goes first.
      if (ticker.pause(opt.pause_ms)) return ok();
    }
  }
};

RetentionService::RetentionService(GovernanceStore& store, files::BlobStore& blobs,
                                   messaging::MessagingService& messaging, Bus& bus,
                                   const Clock& clock, RetentionOptions options)
    : impl_(std::make_unique<Impl>(store, blobs, messaging, bus, clock, options)) {}

RetentionService::~RetentionService() { stop(); }

Result<std::optional<int>> RetentionService::global_days() {
  return impl_->store.global_retention_days();
}

Result<std::optional<int>> RetentionService::set_global_days(std::optional<int> days) {
  if (auto c = impl_->check_days(days); !c) return fail(c.error());
  if (auto r = impl_->store.set_global_retention_days(days); !r) return fail(r.error());
  return days;
}

namespace {
RetentionView view_of(std::optional<int> own, std::optional<int> global) {
  RetentionView v;
  v.days = own;
  v.global_days = global;
  if (own && global)
    v.effective_days = std::min(*own, *global);
  else
    v.effective_days = own ? own : global;
  return v;
}
}  // namespace

Result<RetentionView> RetentionService::conversation(const std::string& caller,
                                                     const std::string& id) {
  auto c = impl_->messaging.get(caller, id);
  if (!c) return fail(c.error());
  if (!c->me) return fail(Errc::not_found, "conversation not found");
  auto own = impl_->store.conversation_retention_days(id);
  if (!own) return fail(own.error());
  auto global = impl_->store.global_retention_days();
  if (!global) return fail(global.error());
  return view_of(*own, *global);
}

Result<RetentionView> RetentionService::set_conversation(const std::string& caller,
                                                         const std::string& id,
                                                         std::optional<int> days) {
  auto c = impl_->messaging.get(caller, id);
  if (!c) return fail(c.error());
  if (!c->me) return fail(Errc::not_found, "conversation not found");
  if (c->me->role == messaging::Role::member)
    return fail(Errc::permission_denied, "only the conversation's owners and admins may do that");
  if (auto ck = impl_->check_days(days); !ck) return fail(ck.error());
  auto global = impl_->store.global_retention_days();
  if (!global) return fail(global.error());
  if (days && *global && *days > **global)
    return fail(Errc::invalid_argument,
                "days must not exceed the server's retention of " + std::to_string(**global) +
                    " days",
                "days");
  if (auto r = impl_->store.set_conversation_retention_days(id, days); !r) return fail(r.error());
  return view_of(days, *global);
}

Result<RetentionRun> RetentionService::run_once() {
  auto& I = *impl_;
  std::lock_guard lock(I.run_mu);
  RetentionRun run;
  const Millis now = I.clock.now_ms();
  auto global = I.store.global_retention_days();
  if (!global) return fail(global.error());
  if (*global) {
    const Millis before = now - static_cast<Millis>(**global) * kDayMs;
    auto r = I.drain(run, [&] { return I.store.expire_messages(std::nullopt, before, I.opt.batch); });
    if (!r) return fail(r.error());
    r = I.drain(run, [&] { return I.store.expire_files(before, I.opt.batch); });
    if (!r) return fail(r.error());
  }
  auto policies = I.store.conversation_policies();
  if (!policies) return fail(policies.error());
  for (const auto& p : *policies) {
    // A conversation policy at or above the global one has nothing left to do.
    if (*global && p.days >= **global) continue;
    if (I.ticker.stopping()) break;
    const Millis before = now - static_cast<Millis>(p.days) * kDayMs;
    auto r = I.drain(run, [&] {
      return I.store.expire_messages(p.conversation_id, before, I.opt.batch);
    });
    if (!r) return fail(r.error());
  }
  if (run.messages || run.files)
    log::info("retention: expired", {{"messages", run.messages}, {"files", run.files},
                                     {"batches", run.batches}});
  return run;
}

void RetentionService::start() {
  impl_->ticker.start(impl_->opt.interval_ms, [this] {
    if (auto r = run_once(); !r)
      log::warn("retention: pass failed", {{"error", r.error().message}});
  });
}

void RetentionService::stop() { impl_->ticker.stop(); }

}  // namespace parley::governance
