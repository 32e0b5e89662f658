// Real-time events of the messaging module as they travel on the Bus (topic kEventsTopic), and
// how a gateway routes them to connections.
//
// Each event is serialised once, by the module, into its final JSON data; a gateway wraps the
// bytes into the client frame once per node and hands the same buffer to every recipient. The
// route says who receives it; gateways keep their own map of conversation -> local connections
// and update it from the member_joined / member_left routes, so a removed member stops receiving
// a conversation's events at once.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/trace.h"

namespace parley::messaging {

inline constexpr std::string_view kEventsTopic = "messaging.events";

struct Route {
  enum class Kind {
    conversation,   // the members of conversation_ids[0], except except_user when set
    member_joined,  // subscribe user_ids to conversation_ids[0], then as `conversation`
    member_left,    // as `conversation` (the leaver included), then unsubscribe user_ids
    user,           // the sessions of user_ids[0], except except_session when set
    contacts,       // user_ids[0] and the members of any of conversation_ids (each session once)
    session,        // the connections of user_ids[0] whose session is user_ids[1] (call.signal)
  };
  Kind kind = Kind::conversation;
  std::vector<std::string> conversation_ids;
  // member_joined: every user it subscribes; member_left, user, contacts: the one user.
  std::vector<std::string> user_ids;
  std::string except_user;
  std::string except_session;
  // message.created: the message's seq, so a gateway receiving events of one conversation from
  // several nodes can put them back in order; 0 for every other event.
  std::int64_t seq = 0;
};

struct Event {
  Route route;
  std::string name;  // "message.created", ...
  std::string data;  // serialised JSON object
  // The span that caused it, when sampled: travels in the bus payload so every node's fan-out
  // joins the sender's trace.
  trace::Context trace{};
};

// Bus payload: one header line of the route, the name, then the data. Ids hold no spaces or
// newlines (they are ids), so the header needs no escaping. A sampled event's header ends with
// "|" and its traceparent; an unsampled one's is unchanged.
std::string encode(const Event& e);
std::optional<Event> decode(std::string_view payload);

}  // namespace parley::messaging
