// The SmsSender port over the HTTP API most SMS providers share (Twilio's shape; Vonage,
// Plivo, MessageBird and self-hosted gateways take the same or a small variation): a form
// POST of To, From and Body to the provider's URL, authenticated with HTTP Basic as the account
// id and its token. Any 2xx answer is success; any other is unavailable (with the status).
//
// The request goes through the outbound HttpFetcher port (the SSRF-hardened client of
// decision 29: no redirects to refused addresses, bounded time and body, no cookies), so a
// provider on a private or loopback address must be in --outbound-allow (tests use
// 127.0.0.0/8).
//
// Thread-safe (immutable options; the fetcher is thread-safe). send() blocks: worker threads
// only. The fetcher must outlive the sender.
#pragma once

#include <memory>
#include <string>

#include "modules/outbound/outbound.h"
#include "modules/sms/sms.h"

namespace parley::smshttp {

struct HttpSmsOptions {
  // https://api.twilio.com/2010-04-01/Accounts/{account}/Messages.json: "{account}" is
  // replaced by the account id.
  std::string url;
  std::string account;  // PARLEY_SMS_ACCOUNT
  std::string token;    // PARLEY_SMS_TOKEN
  std::string from;     // --sms-from: the sending number or sender id
};

// invalid_argument (field "sms_url") when the URL is not http(s) or account/from are missing.
Result<std::unique_ptr<sms::SmsSender>> make_http_sms_sender(HttpSmsOptions options,
                                                             outbound::HttpFetcher& fetcher);

}  // namespace parley::smshttp
