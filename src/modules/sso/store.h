// SsoStore: the port through which the single sign-on module keeps its sign-in flows in
// progress, the links between provider identities and Parley accounts, and the one-time codes
// that hand a finished sign-in to the web app. Kept in the database (not in a node's memory) so
// that a flow started on one node can finish on any other. Implemented by adapters (SQLite,
// PostgreSQL); every implementation passes store_contract.h. Blocking; thread-safe.
//
// Secrets the browser holds (state, the flow's browser binding, the hand-off code) are stored
// only as hashes; the nonce and the PKCE verifier are stored as they are (the server must send
// them on), for the few minutes a flow lives. take_* are atomic (one delete): of two requests
// presenting the same value at once, exactly one gets the record.
#pragma once

#include <optional>
#include <string>

#include "core/clock.h"
#include "core/result.h"

namespace parley::sso {

// An authorization request sent to a provider and not yet answered.
struct FlowRecord {
  std::string state_hash;    // sha256 of the state parameter
  std::string provider;      // the configured provider's name
  std::string nonce;         // the ID token must carry it
  std::string verifier;      // PKCE code_verifier
  std::string redirect_uri;  // sent again with the code
  std::string binding_hash;  // sha256 of the cookie that ties the flow to the browser
  Millis expires_at = 0;
};

// A provider identity linked to an account: (issuer, subject) is unique, and so is an account's
// link per issuer.
struct Link {
  std::string issuer;
  std::string subject;
  std::string user_id;
  Millis created_at = 0;
};

class SsoStore {
 public:
  virtual ~SsoStore() = default;

  // Stores a new flow and drops flows that expired before now. already_exists when the state
  // hash is taken (a broken random source).
  virtual Result<void> put_flow(const FlowRecord& flow, Millis now) = 0;
  // Atomic: removes the flow and returns it; nullopt when unknown, already taken, or expired at
  // now (an expired one is removed too).
  virtual Result<std::optional<FlowRecord>> take_flow(const std::string& state_hash,
                                                      Millis now) = 0;

  // The account linked to (issuer, subject); nullopt when none.
  virtual Result<std::optional<Link>> find_link(const std::string& issuer,
                                                const std::string& subject) = 0;
  // already_exists when (issuer, subject) is linked already (to anyone), or the account has a
  // link to this issuer already.
  virtual Result<void> create_link(const Link& link) = 0;

  // A one-time code for user_id, good until expires_at; drops codes that expired before now.
  virtual Result<void> put_handoff(const std::string& code_hash, const std::string& user_id,
                                   Millis expires_at, Millis now) = 0;
  // Atomic: removes the code and returns its account; nullopt when unknown, taken or expired.
  virtual Result<std::optional<std::string>> take_handoff(const std::string& code_hash,
                                                          Millis now) = 0;
};

}  // namespace parley::sso
