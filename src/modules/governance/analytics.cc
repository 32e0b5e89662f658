// Usage analytics: the rollup job and the reads behind the admin API. Counts only: the rollups
// hold dates, ids and numbers, never message text.
#include <charconv>
#include <cstdio>

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
  char buf[24];  // room for any year the type can hold
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02u", static_cast<long long>(y), m, d);
  return buf;
}

std::string utc_date(Millis at) {
  Millis days = at / kDayMs;
  if (at < 0 && at % kDayMs != 0) --days;
  return format_date(days);
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
  Summary s;
  std::size_t at = 0;
  for (std::int64_t d = f; d <= t; ++d) {
    DayCount day;
    day.date = format_date(d);
    if (at < rows->size() && (*rows)[at].date == day.date) day = (*rows)[at++];
    s.days.push_back(std::move(day));
  }
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
