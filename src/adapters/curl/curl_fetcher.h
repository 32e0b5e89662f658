// The outbound HttpFetcher on libcurl: the one client for requests to URLs users supply.
//
// The address policy is applied inside libcurl's socket-opening callback, to the address each
// connection is about to be made to, after DNS resolution: a name that resolves (or re-resolves,
// DNS rebinding) to a refused address never gets a connection. Redirects are followed here,
// hop by hop, each Location checked like the first URL. No cookies, no credentials (userinfo,
// .netrc, auth schemes), no proxy (nor the environment's http_proxy: a proxy would resolve the
// name itself, out of the policy's reach), http and https only, TLS peers verified against the
// system's CAs.
//
// Thread-safe: the fetcher holds only its immutable options; each fetch uses its own libcurl
// handles. fetch() blocks (worker threads only). Errors: see modules/outbound/outbound.h.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "modules/outbound/outbound.h"

namespace parley::curl {

// Answers "host:port" with address without asking DNS (libcurl's CURLOPT_RESOLVE), so tests
// can show what happens when a name resolves to some address. The policy still applies to it.
struct HostOverride {
  std::string host;
  int port = 0;
  std::string address;  // IPv4 or IPv6 text
};

struct CurlFetcherOptions {
  outbound::AddressPolicy policy;  // from --outbound-allow
  std::vector<HostOverride> resolve;
};

// Initialises libcurl for the process the first time it is called (thread-safe).
std::unique_ptr<outbound::HttpFetcher> make_curl_fetcher(CurlFetcherOptions options);

}  // namespace parley::curl
