// Usage analytics: the rollup job and the reads behind the admin API. Counts only: the rollups
// hold dates, ids and numbers, never message text.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <map>

#include "core/log.h"
#include "modules/governance/governance.h"
#include "ticker.h"

namespace parley::governance {

// Howard Hinnant's days_from_civil / civil_from_days (public domain): proleptic Gregorian.
namespace {
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}
}  // namespace

std::optional<std::int64_t> parse_date(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
  auto num = [&](std::size_t at, std::size_t n) -> std::optional<int> {
    int v = 0;
    for (std::size_t i = at; i < at + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return std::nullopt;
      v = v * 10 + (s[i] - '0');
    }
    return v;
  };
  auto y = num(0, 4), m = num(5, 2), d = num(8, 2);
  if (!y || !m || !d || *y < 1970 || *m < 1 || *m > 12 || *d < 1) return std::nullopt;
  auto days = days_from_civil(*y, static_cast<unsigned>(*m), static_cast<unsigned>(*d));
  // A day past the month's end (2026-02-30) comes back as another date.
  if (format_date(days) != s) return std::nullopt;
  return days;
}

std::string format_date(std::int64_t z) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
  char buf[40];  // what snprintf could write for any values of the types (GCC checks)
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02u", static_cast<long long>(y), m, d);
  return buf;
}

std::string utc_date(Millis at) {
  Millis days = at / kDayMs;
  if (at < 0 && at % kDayMs != 0) --days;
  return format_date(days);
}

int response_bucket(Millis ms) {
  if (ms < 1000) return 0;
  return 1 + static_cast<int>(std::floor(16.0 * std::log2(static_cast<double>(ms) / 1000.0)));
}

Millis bucket_middle(int bucket) {
  if (bucket <= 0) return 500;
  return static_cast<Millis>(std::llround(1000.0 * std::exp2((bucket - 0.5) / 16.0)));
}

std::optional<Millis> bucket_median(const std::vector<std::pair<int, std::int64_t>>& buckets) {
  std::map<int, std::int64_t> sorted;
  std::int64_t n = 0;
  for (const auto& [b, c] : buckets) {
    if (c <= 0) continue;
    sorted[b] += c;
    n += c;
  }
  if (n == 0) return std::nullopt;
  // The values at 0-based ranks (n-1)/2 and n/2: the same one when n is odd.
  auto at_rank = [&](std::int64_t rank) {
    std::int64_t seen = 0;
    for (const auto& [b, c] : sorted) {
      seen += c;
      if (rank < seen) return bucket_middle(b);
    }
    return bucket_middle(sorted.rbegin()->first);
  };
  const Millis lo = at_rank((n - 1) / 2), hi = at_rank(n / 2);
  return (lo + hi) / 2;
}

std::optional<std::int64_t> call_seconds(std::string_view client_msg_id, std::string_view text) {
  if (!client_msg_id.starts_with(messaging::kCallPostPrefix) || !text.starts_with("📞 "))
    return std::nullopt;
  const std::string_view dot = " · ";
  auto at = text.rfind(dot);
  if (at == std::string_view::npos) return 0;  // missed: "📞 Missed video call"
  // "m:ss" or "h:mm:ss": fold the colon-separated numbers base 60.
  std::int64_t secs = 0, part = 0;
  bool digits = false;
  for (char ch : text.substr(at + dot.size())) {
    if (ch >= '0' && ch <= '9') {
      part = part * 10 + (ch - '0');
      digits = true;
    } else if (ch == ':' && digits) {
      secs = secs * 60 + part;
      part = 0;
      digits = false;
    } else {
      return 0;  // not a duration this server wrote
    }
  }
  if (!digits) return 0;
  return secs * 60 + part;
}

std::optional<Millis> next_turn(std::optional<DmTurn>& turn, const std::string& sender,
                                Millis at) {
  if (turn && turn->sender_id == sender) return std::nullopt;  // the same turn goes on
  std::optional<Millis> response;
  if (turn) {
    const Millis took = std::max<Millis>(0, at - turn->turn_at);
    if (took <= kMaxFirstResponseMs) response = took;
  }
  turn = DmTurn{sender, at};
  return response;
}

struct AnalyticsService::Impl {
  Impl(GovernanceStore& s, const Clock& c, AnalyticsOptions o) : store(s), clock(c), opt(o) {}
  GovernanceStore& store;
  const Clock& clock;
  AnalyticsOptions opt;
  std::mutex run_mu;
  Ticker ticker;

  Result<std::pair<std::int64_t, std::int64_t>> range(const std::string& from,
                                                       const std::string& to) const {
    auto f = parse_date(from);
    if (!f) return fail(Errc::invalid_argument, "from must be a date YYYY-MM-DD", "from");
    auto t = parse_date(to);
    if (!t) return fail(Errc::invalid_argument, "to must be a date YYYY-MM-DD", "to");
    if (*t < *f) return fail(Errc::invalid_argument, "to must not be before from", "to");
    if (*t - *f + 1 > opt.max_range_days)
      return fail(Errc::invalid_argument,
                  "the range may span at most " + std::to_string(opt.max_range_days) + " days",
                  "to");
    return std::pair{*f, *t};
  }
};

AnalyticsService::AnalyticsService(GovernanceStore& store, const Clock& clock,
                                   AnalyticsOptions options)
    : impl_(std::make_unique<Impl>(store, clock, options)) {}

AnalyticsService::~AnalyticsService() { stop(); }

Result<Summary> AnalyticsService::summary(const std::string& from, const std::string& to) {
  auto r = impl_->range(from, to);
  if (!r) return fail(r.error());
  auto [f, t] = *r;
  auto rows = impl_->store.days(from, to);
  if (!rows) return fail(rows.error());
  auto buckets = impl_->store.response_buckets(from, to);
  if (!buckets) return fail(buckets.error());
  std::map<std::string, std::vector<std::pair<int, std::int64_t>>> by_day;
  std::vector<std::pair<int, std::int64_t>> all;
  for (const auto& b : *buckets) {
    by_day[b.date].emplace_back(b.bucket, b.count);
    all.emplace_back(b.bucket, b.count);
  }
  Summary s;
  std::size_t at = 0;
  for (std::int64_t d = f; d <= t; ++d) {
    DayCount day;
    day.date = format_date(d);
    if (at < rows->size() && (*rows)[at].date == day.date) day = (*rows)[at++];
    if (auto it = by_day.find(day.date); it != by_day.end()) {
      for (const auto& [b, c] : it->second) day.dm_responses += c;
      day.dm_first_response_median_ms = bucket_median(it->second);
    }
    s.dm_responses += day.dm_responses;
    s.days.push_back(std::move(day));
  }
  s.dm_first_response_median_ms = bucket_median(all);
  auto distinct = [&](std::int64_t span) -> Result<std::int64_t> {
    return impl_->store.active_users(format_date(t - span + 1), to);
  };
  auto dau = distinct(1), wau = distinct(7), mau = distinct(30);
  if (!dau) return fail(dau.error());
  if (!wau) return fail(wau.error());
  if (!mau) return fail(mau.error());
  s.dau = *dau;
  s.wau = *wau;
  s.mau = *mau;
  return s;
}

Result<std::vector<ChannelCount>> AnalyticsService::channels(const std::string& from,
                                                             const std::string& to, int limit) {
  auto r = impl_->range(from, to);
  if (!r) return fail(r.error());
  return impl_->store.channels(from, to, limit);
}

Result<std::int64_t> AnalyticsService::roll_up() {
  auto& I = *impl_;
  std::lock_guard lock(I.run_mu);
  const Millis now = I.clock.now_ms();
  std::int64_t total = 0;
  for (;;) {
    auto p = I.store.roll_up(now - I.opt.lag_ms, I.opt.batch);
    if (!p) return fail(p.error());
    total += p->messages;
    if (!p->more || I.ticker.stopping()) break;
  }
  const std::int64_t today = now / kDayMs;
  if (auto pr = I.store.prune_rollups(format_date(today - I.opt.keep_days)); !pr)
    return fail(pr.error());
  return total;
}

void AnalyticsService::start() {
  impl_->ticker.start(impl_->opt.interval_ms, [this] {
    if (auto r = roll_up(); !r) log::warn("analytics: roll-up failed", {{"error", r.error().message}});
  });
}

void AnalyticsService::stop() { impl_->ticker.stop(); }

}  // namespace parley::governance
