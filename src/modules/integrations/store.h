// The integrations module's storage port: bots and their API tokens, incoming webhooks, outgoing
// webhooks and slash commands, in tables of their own (component "integrations"); no column on
// another module's tables. Implemented by adapters/sqlite and adapters/postgres, both held to
// store_contract.h.
//
// Thread-safe; every call blocks on the database (worker threads only). Errors: not_found for an
// id that is not there, already_exists for a taken command trigger, unavailable/internal from the
// database. Secrets that only need checking (bot tokens, incoming webhook secrets) arrive here
// already hashed; the signing secrets of outgoing webhooks and commands are stored as given (the
// server must sign with them).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/result.h"

namespace parley::integrations {

// A bot: a user account (users module) owned by a person. id is the bot's user id.
struct BotRecord {
  std::string id;
  std::string owner_id;
  Millis created_at = 0;
};

struct TokenRecord {
  std::string id;
  std::string bot_id;
  std::string secret_hash;  // hex SHA-256 of the token's secret part
  std::vector<std::string> scopes;
  Millis created_at = 0;
  std::optional<Millis> revoked_at;
};

struct IncomingRecord {
  std::string id;
  std::string conversation_id;
  std::string name;
  std::string bot_id;       // the user that posts its messages
  std::string secret_hash;  // hex SHA-256 of the URL's secret
  std::string created_by;
  Millis created_at = 0;
};

struct OutgoingRecord {
  std::string id;
  std::string conversation_id;
  std::string url;
  std::vector<std::string> events;
  std::string secret;  // the HMAC key, as handed out once
  std::string created_by;
  Millis created_at = 0;
};

struct CommandRecord {
  std::string id;
  std::string trigger;  // without the slash, lower case
  std::string url;
  std::string secret;  // the HMAC key of its requests
  std::string owner_id;
  Millis created_at = 0;
};

class IntegrationStore {
 public:
  virtual ~IntegrationStore() = default;

  virtual Result<void> insert_bot(const BotRecord& b) = 0;
  virtual Result<BotRecord> find_bot(const std::string& id) = 0;
  // Oldest first.
  virtual Result<std::vector<BotRecord>> bots_of(const std::string& owner_id) = 0;
  // The bot and its tokens go; its user account stays (its messages keep their sender).
  virtual Result<void> delete_bot(const std::string& id) = 0;

  virtual Result<void> insert_token(const TokenRecord& t) = 0;
  virtual Result<TokenRecord> find_token(const std::string& id) = 0;
  // Oldest first, revoked ones too.
  virtual Result<std::vector<TokenRecord>> tokens_of(const std::string& bot_id) = 0;
  // Sets revoked_at once; not_found when there is no such token; a second call keeps the first
  // time and succeeds.
  virtual Result<void> revoke_token(const std::string& id, Millis at) = 0;

  virtual Result<void> insert_incoming(const IncomingRecord& w) = 0;
  virtual Result<IncomingRecord> find_incoming(const std::string& id) = 0;
  virtual Result<std::vector<IncomingRecord>> incoming_of(const std::string& conversation_id) = 0;
  virtual Result<void> delete_incoming(const std::string& id) = 0;

  virtual Result<void> insert_outgoing(const OutgoingRecord& w) = 0;
  virtual Result<OutgoingRecord> find_outgoing(const std::string& id) = 0;
  virtual Result<std::vector<OutgoingRecord>> outgoing_of(const std::string& conversation_id) = 0;
  // Whether any conversation has an outgoing webhook (most servers have none).
  virtual Result<bool> any_outgoing() = 0;
  virtual Result<void> delete_outgoing(const std::string& id) = 0;

  // already_exists when the trigger is taken.
  virtual Result<void> insert_command(const CommandRecord& c) = 0;
  virtual Result<CommandRecord> find_command(const std::string& id) = 0;
  virtual Result<CommandRecord> find_command_by_trigger(const std::string& trigger) = 0;
  // Every command, by trigger.
  virtual Result<std::vector<CommandRecord>> commands() = 0;
  virtual Result<void> delete_command(const std::string& id) = 0;
};

// Lists travel as one text column: scope and event names hold no spaces.
std::string join_words(const std::vector<std::string>& words);
std::vector<std::string> split_words(const std::string& text);

}  // namespace parley::integrations
