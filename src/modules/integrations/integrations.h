// Integrations module: bots (user accounts owned by a person, reached with scoped API tokens),
// incoming webhooks (a secret URL that posts Slack-style payloads into a conversation), outgoing
// webhooks (conversation events POSTed, HMAC-signed, to a URL, retried with backoff) and slash
// commands ("/trigger text" in a message asks a registered URL and shows its answer).
//
// Values in, values out: the API layer turns them into JSON and posts messages through its one
// send path; this module never posts a message itself. It asks users (bot accounts) and
// messaging (who may manage a conversation's hooks) through their public interfaces, and makes
// every outbound request through the SSRF-hardened outbound::HttpFetcher.
//
// Thread-safety: every method may be called from any worker thread; they block on the store and
// (run_command) on the fetcher. Outgoing deliveries run on the WorkerPool given to the service
// and a timer thread of its own; stop() ends them.
//
// Errors: malformed / invalid_argument (with field) for bad input, not_found for what the caller
// may not see (another person's bot, a conversation they are not in), permission_denied for a
// member who is not the conversation's owner or admin, already_exists for a taken trigger or bot
// username, unauthenticated for any token that does not check out (same answer whatever the
// reason), unavailable when a command's URL does not answer usefully.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/bus.h"
#include "core/clock.h"
#include "core/result.h"
#include "core/worker_pool.h"
#include "modules/integrations/store.h"
#include "modules/messaging/messaging.h"
#include "modules/outbound/outbound.h"
#include "modules/users/users.h"

namespace parley::jobs {
class JobQueue;
}

namespace parley::integrations {

inline constexpr const char* kDeliverJob = "webhook.deliver";
// One per new message (written in the message's commit): queues its message.created deliveries.
inline constexpr const char* kMessageJob = "webhook.message";

// What a bot token may do. The API layer maps each route and WebSocket frame to one of these;
// a route with no scope is closed to bot tokens.
inline constexpr std::string_view kMessagesRead = "messages:read";
inline constexpr std::string_view kMessagesWrite = "messages:write";
inline constexpr std::string_view kConversationsRead = "conversations:read";
inline constexpr std::string_view kConversationsWrite = "conversations:write";
const std::vector<std::string>& all_scopes();
// Given to a new bot when its creator names none.
const std::vector<std::string>& default_scopes();

// A bot token's session id in auth::Principal terms: "bot:<token id>". Revoking a token
// publishes this id on auth's session-revoked topic, so its open WebSockets close at once.
inline constexpr std::string_view kBotSessionPrefix = "bot:";
// Bot tokens are "pbt_<token id>.<secret>": recognisable (secret scanners, the API layer's
// dispatch), and the id finds the row without a scan.
inline constexpr std::string_view kBotTokenPrefix = "pbt_";
inline bool is_bot_token(std::string_view token) { return token.starts_with(kBotTokenPrefix); }

struct TokenInfo {
  std::string id;
  std::vector<std::string> scopes;
  Millis created_at = 0;
  std::optional<Millis> revoked_at;
};

struct Bot {
  std::string id;  // its user id
  std::string username;
  std::string display_name;
  std::string owner_id;
  Millis created_at = 0;
  std::vector<TokenInfo> tokens;  // oldest first
};

struct NewBot {
  std::string username;
  std::optional<std::string> display_name;
  std::optional<std::vector<std::string>> scopes;  // default_scopes() when absent
};

// A token as issued: `token` is shown once and never stored.
struct IssuedToken {
  TokenInfo info;
  std::string token;
};

struct BotCreated {
  Bot bot;
  IssuedToken token;
};

struct BotPrincipal {
  std::string user_id;
  std::string session_id;  // kBotSessionPrefix + token id
  std::string owner_id;
  std::vector<std::string> scopes;
};

struct IncomingWebhook {
  std::string id;
  std::string conversation_id;
  std::string name;
  std::string bot_id;
  std::string created_by;
  Millis created_at = 0;
};

struct IncomingCreated {
  IncomingWebhook hook;
  std::string secret;  // the last segment of its URL, shown once
};

struct OutgoingWebhook {
  std::string id;
  std::string conversation_id;
  std::string url;
  std::vector<std::string> events;
  std::string created_by;
  Millis created_at = 0;
};

struct OutgoingCreated {
  OutgoingWebhook hook;
  std::string secret;  // the HMAC key of its deliveries, shown once
};

struct Command {
  std::string id;
  std::string trigger;
  std::string url;
  std::string owner_id;
  Millis created_at = 0;
};

struct CommandCreated {
  Command command;
  std::string secret;  // the HMAC key of its requests, shown once
};

// "/weather Paris" -> {"weather", "Paris"}. nullopt when the text is not a command line: it must
// start with '/' and a trigger of 1-32 of a-z 0-9 _ - (any case), then whitespace or the end;
// "/usr/bin" or "// comment" are not commands.
struct CommandLine {
  std::string trigger;  // lower case
  std::string text;     // the rest, trimmed
};
std::optional<CommandLine> parse_command_line(std::string_view text);

struct CommandAnswer {
  std::string trigger;
  std::string text;
  bool in_channel = false;  // otherwise ephemeral: shown to the caller only, never stored
};

// The events outgoing webhooks may subscribe to.
inline constexpr std::string_view kMessageCreated = "message.created";

// The signature header value of a body: "sha256=" + lowercase hex HMAC-SHA256(secret, body).
std::string signature(std::string_view secret, std::string_view body);

// A Slack-style incoming webhook payload {text, username?, icon_url?, attachments?} rendered as
// Parley markdown: username as a bold first line, each attachment's pretext, linked title,
// text, fields (bold title, value) and fallback when it has nothing else. icon_url is accepted
// and ignored (Parley shows no images from other origins). malformed for bad JSON or wrong
// types (naming the field), invalid_argument "text" when nothing would be posted.
Result<std::string> render_slack_payload(std::string_view json);

struct IntegrationOptions {
  // Outgoing deliveries: attempts in all, and the wait before the first retry (doubling after).
  int delivery_attempts = 6;
  Millis retry_base_ms = 1'000;
  outbound::FetchLimits delivery_limits{0, std::chrono::milliseconds(5'000), 64 * 1024};
  outbound::FetchLimits command_limits{0, std::chrono::milliseconds(3'000), 64 * 1024};
  // Outgoing webhook URLs whose host is an IP address are judged at creation too (names are
  // judged after resolution, at each delivery, by the fetcher).
  outbound::AddressPolicy policy;
  int max_hooks_per_conversation = 20;
};

class IntegrationService {
 public:
  // fetcher and deliveries may be null: then outgoing webhooks and commands are refused
  // (unavailable).
  IntegrationService(IntegrationStore& store, users::UserService& users,
                     messaging::MessagingService& messaging, Bus& bus, const Clock& clock,
                     outbound::HttpFetcher* fetcher, WorkerPool* deliveries,
                     IntegrationOptions options = {});
  ~IntegrationService();
  IntegrationService(const IntegrationService&) = delete;
  IntegrationService& operator=(const IntegrationService&) = delete;

  // ---- bots (only their owner sees or changes them: not_found for anyone else) ----
  Result<BotCreated> create_bot(const std::string& owner_id, const NewBot& in);
  Result<std::vector<Bot>> bots(const std::string& owner_id);
  Result<Bot> bot(const std::string& owner_id, const std::string& bot_id);
  // Revokes every token (open sockets close) and forgets the bot; its account stays.
  Result<void> delete_bot(const std::string& owner_id, const std::string& bot_id);
  Result<IssuedToken> issue_token(const std::string& owner_id, const std::string& bot_id,
                                  const std::optional<std::vector<std::string>>& scopes);
  Result<void> revoke_token(const std::string& owner_id, const std::string& bot_id,
                            const std::string& token_id);
  // A new token with the same scopes; the old one is revoked.
  Result<IssuedToken> rotate_token(const std::string& owner_id, const std::string& bot_id,
                                   const std::string& token_id);
  // The token's bot, session and scopes; unauthenticated for anything else (constant-time
  // comparison of the secret's hash).
  Result<BotPrincipal> authenticate(const std::string& token);
  // Whether a bot session ("bot:<token id>") is still good (for sockets opened with it).
  Result<void> check_session(const std::string& session_id);
  // After user_id's deactivation: the open sockets of its bots, and its own if it is a bot,
  // close on every node (auth::kUserDisconnectTopic).
  Result<void> disconnect_bots(const std::string& user_id);

  // ---- incoming webhooks (the conversation's owners and admins manage them) ----
  // Creates a bot account for the hook (its display name is the hook's name) and adds it to the
  // conversation. Not for DMs (invalid_argument).
  Result<IncomingCreated> create_incoming(const std::string& caller,
                                          const std::string& conversation_id,
                                          const std::string& name);
  Result<std::vector<IncomingWebhook>> incoming(const std::string& caller,
                                                const std::string& conversation_id);
  Result<void> delete_incoming(const std::string& caller, const std::string& conversation_id,
                               const std::string& id);
  // The hook whose URL this is: not_found for an unknown id or a wrong secret alike.
  Result<IncomingWebhook> check_incoming(const std::string& id, const std::string& secret);

  // ---- outgoing webhooks ----
  Result<OutgoingCreated> create_outgoing(const std::string& caller,
                                          const std::string& conversation_id,
                                          const std::string& url,
                                          const std::vector<std::string>& events);
  Result<std::vector<OutgoingWebhook>> outgoing(const std::string& caller,
                                                const std::string& conversation_id);
  Result<void> delete_outgoing(const std::string& caller, const std::string& conversation_id,
                               const std::string& id);
  // Queues a delivery of event (data: its serialised JSON object) to every outgoing webhook of
  // the conversation subscribed to it. Returns at once; deliveries are retried with backoff
  // (network errors, 408, 429 and 5xx) up to delivery_attempts: on the durable job queue
  // (one `webhook.deliver` job per hook and event, written on the deliveries pool) once
  // use_job_queue() was called, else in memory. message.created is ignored once append_hook()
  // was taken: the message's own commit carries its deliveries then.
  void publish(const std::string& conversation_id, std::string_view event, std::string data);
  // A message was stored (called on the send's completion). With append_hook() taken its commit
  // already carries the deliveries: this only keeps "no outgoing webhook anywhere" fresh, and
  // the message is not serialised for nothing; otherwise it publishes message.created.
  void message_created(const messaging::Message& m);
  // The outbox producer for new messages (messaging::AppendHook; after use_job_queue()): a
  // webhook.message job written in the message's own commit, whose handler queues one
  // webhook.deliver per subscribed hook, so a crash right after the commit loses no delivery.
  // None while this node knows no conversation has an outgoing webhook, or this one has none
  // (each known for the hook cache's 5 s: the time a hook made on another node takes to be
  // seen anyway).
  messaging::AppendHook append_hook();
  // Moves deliveries onto the durable job queue: registers the webhook.deliver handler (one
  // attempt per run; the queue's backoff, max_attempts = delivery_attempts and dead letters
  // replace the in-memory retries). Before the queue starts; the queue outlives this service.
  void use_job_queue(jobs::JobQueue& queue);
  // Deliveries made, failed for good, and waiting; for tests and metrics.
  struct DeliveryStats {
    std::uint64_t delivered = 0;
    std::uint64_t abandoned = 0;
    std::uint64_t pending = 0;
  };
  DeliveryStats delivery_stats() const;

  // ---- slash commands (server-wide triggers; their owner deletes them) ----
  Result<CommandCreated> create_command(const std::string& owner_id, const std::string& trigger,
                                        const std::string& url);
  Result<std::vector<Command>> commands();
  Result<void> delete_command(const std::string& owner_id, const std::string& id);
  // not_found ("unknown command /x") when no command has the trigger. Blocks on the request.
  Result<CommandAnswer> run_command(const std::string& caller, const std::string& conversation_id,
                                    const CommandLine& line);

  // Ends the delivery timer; queued retries are dropped (logged).
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace parley::integrations
