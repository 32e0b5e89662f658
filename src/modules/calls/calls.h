// Calls module: the call signaling state machine of API-EXTENSIONS.md "Calls" (who is rung, who
// is in, since when), the relay of SDP/ICE between the participants of one call, and TURN
// credentials (turn.h).
//
// A call belongs to one conversation and only its members may start, see or join it: anyone else
// gets not_found, exactly as for an unknown call id. A conversation has at most one running call.
// States: ringing (only the caller is in), active (two or more have been in), ended. A call ends
// when the caller cancels or everyone rung declines or the ring times out before anyone joined
// (reasons hangup, declined, timeout; busy when the one person rung in a DM is in another call),
// and once fewer than two people remain after it was answered (hangup). A participant is one
// session of a user (the auth session, which survives a page reload); a user is in at most one
// call at a time. A session whose last socket closes stays in the call for rejoin_grace_ms, so a
// reload (or a network change) rejoins the running call with call.accept.
//
// Every change goes out as events on the bus (messaging::kEventsTopic, routed by the gateways'
// hubs on every node): call.ringing to each person rung, call.updated and call.ended to the
// conversation's members, call.signal to the one session it is for. When a call ends, its record
// is published on kFinishedTopic, where the API turns it into the call message of the
// conversation (through the one send path, idempotent per call).
//
// The state lives in the memory of one node (see docs/decisions.md §42): with several nodes, the
// others forward every operation to it over the bus (CallOptions::forward), so a call's
// participants may be connected to any node. Thread-safe; blocking (membership reads): call from worker threads.
// Errors: not_found (unknown call, or not a member), failed_precondition (busy, a call already
// running here, the call ended), permission_denied (a member who is not in the call relays
// signals), invalid_argument / too_large (bad media, signal data over the limit).
#pragma once

#include <boost/json/object.hpp>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/bus.h"
#include "core/clock.h"
#include "core/result.h"
#include "modules/calls/sfu.h"
#include "modules/messaging/messaging.h"

namespace parley::calls {

// Bus topic of finished calls: {"call": to_json(call), "text": call_message_text(call)},
// published once per call by the node that ended it.
inline constexpr std::string_view kFinishedTopic = "calls.finished";
// Bus topic of finished recordings: {"call_id", "conversation_id", "recorded_by", "dir"} when a
// moderator stops recording or the call ends while recording; the API renders dir
// (recording.h) and posts the file in the conversation as recorded_by.
inline constexpr std::string_view kRecordedTopic = "calls.recorded";

struct Participant {
  std::string user_id;
  std::string session_id;
  Millis joined_at = 0;
  bool audio = true;      // microphone on
  bool video = false;     // camera on
  bool screen = false;    // sharing a screen
  bool connected = true;  // false while its sockets are gone (within the rejoin grace)
};

// What a joining session needs to enter a group call's room on the SFU. Handed only to that
// session (in the ack of call.start / call.accept), never in events; the room's secret never
// leaves the server.
struct SfuJoin {
  std::string url;  // the media server's API (Sfu::public_url)
  std::string room;
  std::string token;  // admits this session only
  std::string feed;   // the publisher id to join with (so the server can remove it)
};

struct Call {
  std::string id;
  std::string conversation_id;
  std::string conversation_type;  // dm | group | channel
  std::string started_by;
  std::string media;  // audio | video
  std::string state;  // ringing | active | ended
  Millis started_at = 0;
  Millis answered_at = 0;  // when a second person joined; 0: nobody did
  Millis ended_at = 0;
  std::string reason;        // hangup | declined | timeout | busy, once ended
  std::int64_t version = 0;  // grows with every change: clients drop older call.updated
  std::vector<Participant> participants;
  std::vector<std::string> ringing;   // rung and not yet answered
  std::vector<std::string> declined;  // said no
  std::vector<std::string> busy;      // were in another call when rung
  bool sfu = false;  // a group call whose media goes through the SFU (else peer to peer)
  bool recording = false;   // everyone in the call sees it
  std::string recorded_by;  // the moderator who started the recording
  std::optional<SfuJoin> sfu_join;  // set only in an answer to the session that joined
};

// What a participant shows the others (call.media): any field left empty stays as it was.
struct MediaState {
  std::optional<bool> audio;
  std::optional<bool> video;
  std::optional<bool> screen;
};

struct CallOptions {
  Millis ring_timeout_ms = 45'000;
  Millis rejoin_grace_ms = 30'000;
  std::size_t max_signal_bytes = 16 * 1024;
  // In a channel, at most this many members are rung (the others see call.updated and may join).
  int max_rung = 200;
  int max_participants = 50;
  // Several nodes (docs/decisions.md §42): the node named calls_node holds every call; the others
  // set forward and hand each operation to it over the bus (request_topic(calls_node)), waiting
  // up to forward_timeout_ms for its answer (unavailable after that). Empty: calls stay local.
  std::string calls_node;
  bool forward = false;
  Millis forward_timeout_ms = 5'000;
};

// Bus topic of operations forwarded to the node that holds the calls (CallOptions::forward):
// {"id", "reply" (a topic), "op", the operation's arguments}; answered on "reply" with
// {"id", "call" | "calls" | "error"}. Named after the holder, so clusters (or test runs) that
// share one bus never answer each other's requests.
std::string request_topic(std::string_view calls_node);

class CallService {
 public:
  // sfu: where group and channel calls carry their media; null: every call peer to peer.
  CallService(messaging::MessagingService& messaging, Bus& bus, const Clock& clock,
              CallOptions options = {}, Sfu* sfu = nullptr);
  ~CallService();

  // Starts a call in the conversation, with the caller's session in it, and rings every other
  // member (all their sessions). media: "audio" | "video".
  Result<Call> start(const std::string& caller, const std::string& session_id,
                     const std::string& conversation_id, const std::string& media);
  // Joins (or, from the session already in it, rejoins) a running call; moves the caller out of
  // it on their other session. Stops the ringing of the caller's other devices (call.updated).
  Result<Call> accept(const std::string& caller, const std::string& session_id,
                      const std::string& call_id);
  Result<Call> decline(const std::string& caller, const std::string& call_id);
  // Leaves (the caller before anyone answered: cancels). session_id empty: whichever session.
  Result<Call> leave(const std::string& caller, const std::string& session_id,
                     const std::string& call_id);
  Result<Call> set_media(const std::string& caller, const std::string& session_id,
                         const std::string& call_id, const MediaState& media);
  // Moderation by the conversation's owners and admins (permission_denied for other members):
  // remove a participant from the call (their SFU feed and token go too), or mute their
  // microphone (the server's state says so; their client turns its microphone off when told).
  Result<Call> kick(const std::string& caller, const std::string& call_id,
                    const std::string& user_id);
  Result<Call> mute(const std::string& caller, const std::string& call_id,
                    const std::string& user_id);
  // Starts or stops recording an SFU call (owners and admins; failed_precondition for a
  // peer-to-peer call or when the SFU does not record). Stopping, or the call ending while
  // recording, publishes kRecordedTopic.
  Result<Call> record(const std::string& caller, const std::string& call_id, bool on);
  // Relays data (serialised JSON, opaque) to one participant: to_session empty means the
  // session with which to_user is in the call.
  Result<void> signal(const std::string& caller, const std::string& session_id,
                      const std::string& call_id, const std::string& to_user,
                      const std::string& to_session, std::string data);
  Result<Call> get(const std::string& caller, const std::string& call_id);
  // The running calls of the caller's conversations (a reloaded client finds its own here).
  Result<std::vector<Call>> running(const std::string& caller);

  // The gateway's word on sockets: a session with no socket left starts its rejoin grace.
  void socket_opened(const std::string& user_id, const std::string& session_id);
  void socket_closed(const std::string& user_id, const std::string& session_id);

  // Ends the timer thread; pending timers are dropped.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Wire JSON of the API: the call object of acks and events (sfu_join, when set, as "sfu").
boost::json::object to_json(const Call& c);
// The inverse of to_json (what a forwarding node reads back from the node holding the call).
Call call_from_json(const boost::json::object& o);
// The text of the call message posted in the conversation when the call ends.
std::string call_message_text(const Call& c);

}  // namespace parley::calls
