#include "adapters/smtp/smtp_mailer.h"

#include <curl/curl.h>

#include <cstring>
#include <mutex>

#include "core/log.h"

namespace parley::smtp {
namespace {

struct EasyDeleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
struct ListDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

// libcurl reads the message from here, in pieces.
struct Upload {
  const std::string* data;
  std::size_t at = 0;
};

std::size_t read_upload(char* buf, std::size_t size, std::size_t n, void* user) {
  auto* u = static_cast<Upload*>(user);
  std::size_t room = size * n;
  std::size_t left = u->data->size() - u->at;
  std::size_t take = std::min(room, left);
  std::memcpy(buf, u->data->data() + u->at, take);
  u->at += take;
  return take;
}

class SmtpMailer final : public mail::Mailer {
 public:
  SmtpMailer(SmtpOptions o, const Clock& clock) : o_(std::move(o)), clock_(clock) {}

  Result<void> send(const mail::Mail& m) override {
    mail::RenderOptions ro{o_.from, clock_.now_ms(), mail::new_message_id(o_.from),
                           mail::new_boundary()};
    auto bytes = mail::render(m, ro);
    if (!bytes) return fail(bytes.error());

    std::unique_ptr<CURL, EasyDeleter> h(curl_easy_init());
    if (!h) return fail(Errc::unavailable, "smtp: out of memory");
    curl_slist* rcpt_raw = curl_slist_append(nullptr, ("<" + m.to + ">").c_str());
    std::unique_ptr<curl_slist, ListDeleter> rcpt(rcpt_raw);
    if (!rcpt) return fail(Errc::unavailable, "smtp: out of memory");
    Upload up{&*bytes};
    char error[CURL_ERROR_SIZE] = {};
    CURL* c = h.get();
    curl_easy_setopt(c, CURLOPT_URL, o_.url.c_str());
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(o_.timeout.count()));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(std::min<long long>(o_.timeout.count(), 10'000)));
    // STARTTLS whenever offered; required when a password would otherwise go in clear.
    curl_easy_setopt(
        c, CURLOPT_USE_SSL,
        o_.user.empty() ? static_cast<long>(CURLUSESSL_TRY) : static_cast<long>(CURLUSESSL_ALL));
    if (!o_.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, o_.ca_file.c_str());
    if (!o_.user.empty()) {
      curl_easy_setopt(c, CURLOPT_USERNAME, o_.user.c_str());
      curl_easy_setopt(c, CURLOPT_PASSWORD, o_.password.c_str());
    }
    std::string from = "<" + o_.from + ">";
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, from.c_str());
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt.get());
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, read_upload);
    curl_easy_setopt(c, CURLOPT_READDATA, &up);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(bytes->size()));

    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
      long reply = 0;
      curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply);
      std::string why = error[0] ? error : curl_easy_strerror(rc);
      // The address is the recipient's: log the reply, not who it was for.
      log::warn("smtp: send failed", {{"error", why}, {"smtp_reply", static_cast<int>(reply)}});
      return fail(Errc::unavailable, "smtp: " + why);
    }
    return ok();
  }

 private:
  SmtpOptions o_;
  const Clock& clock_;
};

}  // namespace

Result<std::unique_ptr<mail::Mailer>> make_smtp_mailer(SmtpOptions options, const Clock& clock) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  const std::string& u = options.url;
  std::size_t scheme_end = u.find("://");
  std::string scheme = scheme_end == std::string::npos ? "" : u.substr(0, scheme_end);
  if ((scheme != "smtp" && scheme != "smtps") || u.size() <= scheme_end + 3 ||
      u.find('@') != std::string::npos)
    return fail(Errc::invalid_argument,
                "smtp: expected smtp://HOST:PORT or smtps://HOST:PORT (credentials from "
                "PARLEY_SMTP_USER and PARLEY_SMTP_PASSWORD)",
                "smtp");
  auto from = mail::check_address(options.from, "mail_from");
  if (!from)
    return fail(Errc::invalid_argument, "mail_from: --mail-from ADDRESS is needed with --smtp",
                "mail_from");
  options.from = *from;
  return std::unique_ptr<mail::Mailer>(new SmtpMailer(std::move(options), clock));
}

}  // namespace parley::smtp
