#include "adapters/smshttp/http_sms_sender.h"

#include "core/crypto.h"
#include "core/log.h"
#include "core/text.h"

namespace parley::smshttp {
namespace {

class HttpSmsSender final : public sms::SmsSender {
 public:
  HttpSmsSender(HttpSmsOptions o, outbound::HttpFetcher& fetcher)
      : o_(std::move(o)), fetcher_(fetcher) {}

  Result<void> send(const sms::Sms& m) override {
    auto to = sms::normalise_phone(m.to, "to");
    if (!to) return fail(to.error());
    if (m.body.empty() || m.body.size() > sms::kMaxBody || !text::is_valid_utf8(m.body))
      return fail(Errc::invalid_argument, "the text must be 1 to 1600 bytes of UTF-8", "body");
    outbound::FetchRequest req;
    req.method = "POST";
    req.url = o_.url;
    req.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                   {"Accept", "application/json"},
                   {"Authorization", "Basic " + base64_encode(o_.account + ":" + o_.token)}};
    req.body = "To=" + text::percent_encoded(*to) + "&From=" + text::percent_encoded(o_.from) +
               "&Body=" + text::percent_encoded(m.body);
    req.limits.max_redirects = 0;  // a provider answers; it does not send us elsewhere
    req.limits.timeout = std::chrono::milliseconds(10'000);
    req.limits.max_body_bytes = 64 * 1024;
    req.limits.overflow = outbound::FetchLimits::Overflow::truncate;
    auto r = fetcher_.fetch(req);
    if (!r) {
      log::warn("sms: provider unreachable", {{"error", r.error().message}});
      return fail(Errc::unavailable, "sms: " + r.error().message);
    }
    if (r->status < 200 || r->status > 299) {
      log::warn("sms: provider refused the message", {{"status", r->status}});
      return fail(Errc::unavailable, "sms: the provider answered " + std::to_string(r->status));
    }
    return ok();
  }

 private:
  HttpSmsOptions o_;
  outbound::HttpFetcher& fetcher_;
};

}  // namespace

Result<std::unique_ptr<sms::SmsSender>> make_http_sms_sender(HttpSmsOptions o,
                                                             outbound::HttpFetcher& fetcher) {
  if (o.url.rfind("https://", 0) != 0 && o.url.rfind("http://", 0) != 0)
    return fail(Errc::invalid_argument, "sms_url: expected an http(s):// URL", "sms_url");
  if (o.account.empty() || o.from.empty())
    return fail(Errc::invalid_argument,
                "sms_url: needs PARLEY_SMS_ACCOUNT, PARLEY_SMS_TOKEN and --sms-from", "sms_url");
  for (auto at = o.url.find("{account}"); at != std::string::npos; at = o.url.find("{account}"))
    o.url.replace(at, 9, text::percent_encoded(o.account));
  return std::unique_ptr<sms::SmsSender>(new HttpSmsSender(std::move(o), fetcher));
}

}  // namespace parley::smshttp
