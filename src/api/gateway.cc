#include "gateway.h"

#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cctype>
#include <deque>
#include <limits>
#include <filesystem>
#include <fstream>

#include "core/json.h"
#include "modules/calls/recording.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/trace.h"
#include "frames.h"

namespace parley::api {
namespace {

// Send-to-ack: from a WebSocket send frame leaving this connection's queue for the worker pool
// until its ack (or error) is queued, the message durable. No labels.
prometheus::Histogram& send_ack_seconds() {
  static auto& h =
      prometheus::BuildHistogram()
          .Name("parley_send_ack_seconds")
          .Help("Time from a WebSocket send starting until its ack is queued (message durable)")
          .Register(metrics::registry())
          .Add({}, prometheus::Histogram::BucketBoundaries{0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                           0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5});
  return h;
}


std::shared_ptr<const std::string> json_frame(const boost::json::object& o) {
  return std::make_shared<const std::string>(json::serialize(o));
}

std::shared_ptr<const std::string> error_frame(const boost::json::value& req, const Error& e) {
  boost::json::object out{{"type", "error"},
                          {"error", {{"code", wire_error(e).code}, {"message", wire_message(e)}}}};
  if (!req.is_null()) out["req"] = req;
  return json_frame(out);
}

// One per WebSocket connection; lives on the connection's I/O thread. State shared with work
// running on the pool sits in State, so the session may close while that work is in flight.
class GatewaySession final : public net::WsSession {
  struct State {
    enum class Phase {
      awaiting_hello,
      authenticating,
      ready,
      closed
    } phase = Phase::awaiting_hello;  // I/O thread only
    auth::Principal principal;        // set on the I/O thread before phase becomes ready
    std::atomic<bool> closed{false};  // read by pool work
  };

 public:
  GatewaySession(Context& ctx, Gateway& gw, std::shared_ptr<net::WsConnection> conn,
                 std::string address)
      : ctx_(ctx),
        gw_(gw),
        conn_(std::move(conn)),
        address_(std::move(address)),
        state_(std::make_shared<State>()) {
    gw_.address_opened(address_);
  }

  void on_text(std::string_view text) override {
    if (state_->phase == State::Phase::ready) {
      // Every frame counts, malformed ones included.
      auto rl = rate_limit(ctx_.s.limiter, {{"ws:user:" + state_->principal.user_id,
                                             ctx_.opts.limits.ws_frames_per_user}});
      if (!rl) return conn_->send(error_frame(nullptr, rl.error()));
    }
    auto frame = parse_client_frame(text);
    switch (state_->phase) {
      case State::Phase::awaiting_hello:
        if (!frame || frame->type != ClientFrame::Type::hello)
          return unauthorized("hello with a token first");
        return hello(std::move(frame->token));
      case State::Phase::authenticating:
        return conn_->send(error_frame(frame ? frame->req : frame.error().req,
                                       {Errc::unauthenticated, "hello in progress", {}, 0}));
      case State::Phase::ready:
        break;
      case State::Phase::closed:
        return;
    }
    if (!frame) return conn_->send(error_frame(frame.error().req, frame.error().error));
    // A bot token's socket: sends and typing need messages:write (reading needs messages:read,
    // checked at hello).
    if (state_->principal.bot &&
        (frame->type == ClientFrame::Type::send || frame->type == ClientFrame::Type::typing) &&
        !has_scope(state_->principal, integrations::kMessagesWrite))
      return conn_->send(error_frame(
          frame->req,
          {Errc::permission_denied, "this token lacks the scope messages:write", {}, 0}));
    switch (frame->type) {
      case ClientFrame::Type::ping: {
        boost::json::object pong{{"type", "pong"}};
        if (!frame->req.is_null()) pong["req"] = frame->req;
        return conn_->send(json_frame(pong));
      }
      case ClientFrame::Type::send:
        return send(std::move(*frame));
      case ClientFrame::Type::typing:
        return typing(std::move(*frame));
      case ClientFrame::Type::read:
        return read(std::move(*frame));
      case ClientFrame::Type::hello:
        return conn_->send(error_frame(
            frame->req, {Errc::failed_precondition, "already authenticated", {}, 0}));
      case ClientFrame::Type::call_start:
      case ClientFrame::Type::call_accept:
      case ClientFrame::Type::call_decline:
      case ClientFrame::Type::call_leave:
      case ClientFrame::Type::call_signal:
      case ClientFrame::Type::call_media:
      case ClientFrame::Type::call_kick:
      case ClientFrame::Type::call_mute:
      case ClientFrame::Type::call_record:
        return call(std::move(*frame));
    }
  }

  void on_close() override {
    bool attached = state_->phase == State::Phase::ready ||
                    state_->phase == State::Phase::authenticating;
    if (state_->phase == State::Phase::ready) {
      gw_.remove(state_->principal, conn_->id());
      if (auto* calls = ctx_.s.calls) {
        // A session's last socket gone starts its rejoin grace in a running call (may publish).
        auto task = [calls, user = state_->principal.user_id,
                     session = state_->principal.session_id] {
          calls->socket_closed(user, session);
        };
        if (!call_pool().try_submit(task)) task();
      }
    }
    gw_.address_closed(address_);
    state_->phase = State::Phase::closed;
    state_->closed = true;
    if (attached) detach(ctx_, gw_, conn_->id());
  }

 private:
  // Forgets the connection in the hub and tells presence, on the pool (presence may notify).
  static void detach(Context& ctx, Gateway& gw, std::uint64_t conn_id) {
    auto task = [&ctx, &gw, conn_id] {
      if (auto user = gw.hub().detach(conn_id)) ctx.s.presence.disconnected(*user);
    };
    if (!ctx.s.pool.try_submit(task)) task();  // never leak a registration
  }

  WorkerPool& call_pool() { return ctx_.s.call_pool ? *ctx_.s.call_pool : ctx_.s.pool; }

  void unauthorized(const char* why) {
    state_->phase = State::Phase::closed;
    conn_->close(net::kCloseUnauthorized, why);
  }

  // Runs fn(user_id, session_id) on pool (the request workers by default); its error (if any)
  // comes back as an error frame.
  template <class Fn>
  void on_pool(boost::json::value req, Fn fn, WorkerPool* pool = nullptr) {
    auto submitted = (pool ? *pool : ctx_.s.pool).try_submit(
        [conn = conn_, user = state_->principal.user_id, session = state_->principal.session_id,
         req = std::move(req), fn = std::move(fn)]() mutable {
          Result<std::shared_ptr<const std::string>> r = fn(user, session);
          if (!r)
            conn->send(error_frame(req, r.error()));
          else if (*r)
            conn->send(std::move(*r));
        });
    if (!submitted)
      conn_->send(error_frame(req, {Errc::unavailable, "server busy, retry", {}, 0}));
  }

  // Sends are checked and queued for storage one at a time per connection, in the order they
  // arrived, so they are stored in the order sent; their commits and acks overlap, and no
  // thread waits for a commit.
  void send(ClientFrame f) {
    if (sends_.size() >= kMaxQueuedSends || queued_send_bytes_ >= kMaxQueuedSendBytes)
      return conn_->send(error_frame(
          f.req, {Errc::resource_exhausted, "too many sends waiting: wait for acks", {}, 1}));
    queued_send_bytes_ += f.send.request.text.size();
    sends_.push_back(std::move(f));
    if (!submitting_) submit_next_send();
  }

  void submit_next_send() {
    submitting_ = !sends_.empty();
    if (!submitting_) return;
    ClientFrame f = std::move(sends_.front());
    sends_.pop_front();
    queued_send_bytes_ -= f.send.request.text.size();
    auto req = f.req;
    auto submitted = ctx_.s.pool.try_submit(
        [this, &ctx = ctx_, conn = conn_, user = state_->principal.user_id, f = std::move(f)] {
          // The frame's span (a new trace, sampled by ratio): the commit, the bus hop and the
          // fan-outs are its children. Held by pointer only when sampled.
          std::shared_ptr<trace::Span> span;
          if (auto s = trace::Span::root("ws send", trace::Kind::server); s.recording())
            span = std::make_shared<trace::Span>(std::move(s));
          auto answer = [conn, req = f.req, span, started = std::chrono::steady_clock::now()](
                            const Result<messaging::Appended>& sent) {
            send_ack_seconds().Observe(std::chrono::duration<double>(
                                           std::chrono::steady_clock::now() - started)
                                           .count());
            if (span) {
              if (!sent) span->fail(sent.error().message);
              span->end();
            }
            if (!sent) return conn->send(error_frame(req, sent.error()));
            boost::json::object ack{{"type", "ack"},
                                    {"message", messaging::to_json(sent->message)}};
            if (!req.is_null()) ack["req"] = req;
            conn->send(json_frame(ack));
          };
          // A slash command is acknowledged with its answer: {"type": "ack", "req", "command",
          // "message"?}.
          auto command = [conn, req = f.req](const Result<CommandOutcome>& c) {
            if (!c) return conn->send(error_frame(req, c.error()));
            boost::json::object ack = command_json(*c);
            ack["type"] = "ack";
            if (!req.is_null()) ack["req"] = req;
            conn->send(json_frame(ack));
          };
          {
            trace::Scope scope(span ? span->context() : trace::Context{});
            send_message(ctx, user, std::move(f.send), answer, command);
          }
          // Queued (or refused): the next send of this connection may go. Runs only while the
          // connection is open, so this session still exists.
          conn->post([this] { submit_next_send(); });
        });
    if (!submitted) {
      conn_->send(error_frame(req, {Errc::unavailable, "server busy, retry", {}, 0}));
      submit_next_send();
    }
  }

  void typing(ClientFrame f) {
    on_pool(std::move(f.req), [&ctx = ctx_, cid = std::move(f.conversation_id)](
                                  const std::string& user, const std::string&)
                                  -> Result<std::shared_ptr<const std::string>> {
      if (auto r = ctx.s.messaging.typing(user, cid); !r) return fail(r.error());
      return nullptr;
    });
  }

  void read(ClientFrame f) {
    on_pool(std::move(f.req), [&ctx = ctx_, cid = std::move(f.conversation_id), seq = f.seq](
                                  const std::string& user, const std::string& session)
                                  -> Result<std::shared_ptr<const std::string>> {
      if (auto r = ctx.s.messaging.mark_read(user, session, cid, seq); !r) return fail(r.error());
      return nullptr;
    });
  }

  // The call.* frames (API-EXTENSIONS.md "Calls"): the calls module on the call pool; an ack with the
  // call, or for call.signal an ack only when the frame has a req (ICE candidates come in runs).
  void call(ClientFrame f) {
    auto* calls = ctx_.s.calls;
    if (!calls)
      return conn_->send(
          error_frame(f.req, {Errc::unavailable, "calls are not enabled on this server", {}, 0}));
    auto req = f.req;
    on_pool(std::move(req), [calls, f = std::move(f)](const std::string& user,
                                                       const std::string& session) mutable
                                -> Result<std::shared_ptr<const std::string>> {
      using T = ClientFrame::Type;
      Result<calls::Call> c = fail(Errc::internal, "unreachable");
      switch (f.type) {
        case T::call_start:
          c = calls->start(user, session, f.conversation_id, f.media);
          break;
        case T::call_accept:
          c = calls->accept(user, session, f.call_id);
          break;
        case T::call_decline:
          c = calls->decline(user, f.call_id);
          break;
        case T::call_leave:
          c = calls->leave(user, session, f.call_id);
          break;
        case T::call_media:
          c = calls->set_media(user, session, f.call_id, {f.audio, f.video, f.screen});
          break;
        case T::call_kick:
          c = calls->kick(user, f.call_id, f.to_user_id);
          break;
        case T::call_mute:
          c = calls->mute(user, f.call_id, f.to_user_id);
          break;
        case T::call_record:
          c = calls->record(user, f.call_id, f.on);
          break;
        case T::call_signal: {
          auto r = calls->signal(user, session, f.call_id, f.to_user_id, f.to_session_id,
                                 std::move(f.data));
          if (!r) return fail(r.error());
          if (f.req.is_null()) return nullptr;
          return json_frame({{"type", "ack"}, {"req", f.req}});
        }
        default:
          break;
      }
      if (!c) return fail(c.error());
      boost::json::object ack{{"type", "ack"}, {"call", calls::to_json(*c)}};
      if (!f.req.is_null()) ack["req"] = f.req;
      return json_frame(ack);
    }, &call_pool());
  }

  void hello(std::string token) {
    // Admission control for reconnect storms: past the cap, come back after a backoff.
    if (!gw_.begin_hello()) {
      state_->phase = State::Phase::closed;
      return conn_->close(net::kCloseTryAgainLater, "too many sign-ins at once, retry shortly");
    }
    state_->phase = State::Phase::authenticating;
    // authenticate() may read the store and the hub loads the user's conversations: do it on the
    // pool, come back to the I/O thread.
    auto submitted = ctx_.s.pool.try_submit(
        [&ctx = ctx_, &gw = gw_, conn = conn_, state = state_, token = std::move(token)] {
          auto p = authenticate_token(ctx, token);
          Millis expires_at = 0;
          if (p && p->bot) {
            // A bot token does not lapse; revoking it closes its sockets (session-revoked topic).
            if (!has_scope(*p, integrations::kMessagesRead))
              p = fail(Errc::unauthenticated, "this token lacks the scope messages:read");
            else
              expires_at = std::numeric_limits<Millis>::max() / 2;
          } else if (p) {
            auto expiry = ctx.s.auth.session_expiry(p->session_id);
            if (expiry)
              expires_at = *expiry;
            else
              p = fail(expiry.error());
          }
          if (p && !state->closed) {
            ctx.s.presence.connected(p->user_id);
            gw.hub().attach(p->user_id, p->session_id, conn);
            // Closed while attaching: on_close may have found nothing to detach.
            if (state->closed)
              if (auto user = gw.hub().detach(conn->id())) ctx.s.presence.disconnected(*user);
          }
          gw.end_hello();
          conn->post([&ctx, &gw, conn, state, expires_at, p = std::move(p)] {
            if (state->phase != State::Phase::authenticating) return;
            if (!p) {
              state->phase = State::Phase::closed;
              return conn->close(net::kCloseUnauthorized, "invalid or expired token");
            }
            state->phase = State::Phase::ready;
            state->principal = *p;
            conn->mark_ready();
            gw.add(*p, expires_at, conn);
            if (ctx.s.calls) ctx.s.calls->socket_opened(p->user_id, p->session_id);
            conn->send(json_frame({{"type", "ready"},
                              {"user_id", p->user_id},
                              {"session_id", p->session_id},
                              {"heartbeat_ms", ctx.opts.heartbeat_ms}}));
            gw.hub().activate(conn->id());
          });
        });
    if (!submitted) {
      gw_.end_hello();
      state_->phase = State::Phase::closed;
      conn_->close(net::kCloseTryAgainLater, "server busy, retry");
    }
  }

  Context& ctx_;
  Gateway& gw_;
  std::shared_ptr<net::WsConnection> conn_;
  const std::string address_;
  std::shared_ptr<State> state_;
  // Sends received and not yet handed to storage (I/O thread only), bounded in count and in
  // bytes so that a client pipelining large sends cannot pin memory.
  static constexpr std::size_t kMaxQueuedSends = 1024;
  static constexpr std::size_t kMaxQueuedSendBytes = 1024 * 1024;
  std::deque<ClientFrame> sends_;
  std::size_t queued_send_bytes_ = 0;
  bool submitting_ = false;
};

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

Gateway::Gateway(Context& ctx) : ctx_(ctx), hub_(ctx.s.bus, ctx.s.messaging) {
  revocations_ = ctx_.s.bus.subscribe(auth::kSessionRevokedTopic, [this](std::string_view sid) {
    close_session(std::string(sid), "session revoked");
  });
  disconnects_ = ctx_.s.bus.subscribe(auth::kUserDisconnectTopic, [this](std::string_view uid) {
    close_user(std::string(uid), "account deactivated");
  });
  gaps_ = ctx_.s.bus.subscribe(std::string(kBusGapTopic), [this](std::string_view) {
    if (!ctx_.s.pool.try_submit([this] { hub_.resync(); }))
      log::warn("bus gap: hub resync refused (worker queue full)");
  });
  if (ctx_.s.calls)
    recordings_sub_ = ctx_.s.bus.subscribe(
        std::string(calls::kRecordedTopic), [this](std::string_view payload) {
          // Rendering takes seconds of subprocesses: its own thread, never a request worker.
          auto task = [this, p = std::string(payload)] { post_recording(p); };
          if (!recordings_.try_submit(task)) log::warn("recording dropped: queue full");
        });
  if (ctx_.s.calls)
    finished_calls_ = ctx_.s.bus.subscribe(
        std::string(calls::kFinishedTopic), [this](std::string_view payload) {
          auto task = [this, p = std::string(payload)] { post_call_message(p); };
          if (!ctx_.s.pool.try_submit(task)) log::warn("call message dropped: worker queue full");
        });
  expiry_watcher_ = std::thread([this] { watch_expiries(); });
}

void Gateway::post_recording(std::string_view payload) {
  auto parsed = json::parse_object(payload);
  if (!parsed) return;
  auto field = [&](std::string_view k) {
    const auto* v = parsed->if_contains(k);
    return v && v->is_string() ? std::string(v->get_string()) : std::string();
  };
  const std::string call_id = field("call_id"), cid = field("conversation_id"),
                    by = field("recorded_by"), dir = field("dir");
  if (dir.empty()) return;
  auto file = calls::render_recording(dir);
  if (!file) {
    log::warn("recording not rendered", {{"call_id", call_id}, {"reason", file.error().message}});
    return;
  }
  std::ifstream in(*file, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto stored = ctx_.s.files.import(by, cid, "call-recording-" + call_id + ".webm", bytes);
  if (!stored) {
    log::warn("recording not stored", {{"call_id", call_id}, {"reason", stored.error().message}});
    return;
  }
  Send in_msg;
  in_msg.request.conversation_id = cid;
  in_msg.request.text = "🔴 Call recording";
  in_msg.request.client_msg_id = std::string(messaging::kRecordingPostPrefix) + call_id + "-" + stored->id;
  in_msg.attachment_ids = {stored->id};
  send_message(ctx_, by, std::move(in_msg), [call_id](const Result<messaging::Appended>& r) {
    if (!r)
      log::warn("recording not posted", {{"call_id", call_id}, {"reason", r.error().message}});
  });
  // The raw streams stay with Janus's recordings (operators prune them); the rendered file is
  // stored now.
  std::error_code ec;
  std::filesystem::remove(*file, ec);
}

void Gateway::post_call_message(std::string_view payload) {
  auto parsed = json::parse_object(payload);
  if (!parsed) return;
  const auto* call = parsed->if_contains("call");
  const auto* text = parsed->if_contains("text");
  if (!call || !call->is_object() || !text || !text->is_string()) return;
  const auto& c = call->get_object();
  auto field = [&](std::string_view k) {
    const auto* v = c.if_contains(k);
    return v && v->is_string() ? std::string(v->get_string()) : std::string();
  };
  Send in;
  in.request.conversation_id = field("conversation_id");
  in.request.text = std::string(text->get_string());
  // One message per call, whichever nodes hear of its end: a retried send returns the original.
  in.request.client_msg_id = std::string(messaging::kCallPostPrefix) + field("id");
  std::string starter = field("started_by");
  send_message(ctx_, starter, std::move(in), [starter](const Result<messaging::Appended>& r) {
    if (!r)
      log::warn("call message not posted",
                {{"user_id", starter}, {"reason", r.error().message}});
  });
}

Gateway::~Gateway() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  expiry_cv_.notify_all();
  if (expiry_watcher_.joinable()) expiry_watcher_.join();
}

net::WsFactory Gateway::factory() {
  return [this](std::shared_ptr<net::WsConnection> conn, const net::Request& upgrade) {
    return std::make_unique<GatewaySession>(ctx_, *this, std::move(conn),
                                            ctx_.client.of(upgrade));
  };
}

net::WsAdmission Gateway::admission() {
  return [this](const net::Request& upgrade) { return admit(upgrade); };
}

bool Gateway::origin_allowed(const net::Request& upgrade) const {
  auto origin = upgrade.header("Origin");
  if (origin.empty()) return true;  // not a browser: Origin guards browsers' ambient cookies
  for (const auto& allowed : ctx_.opts.sockets.allowed_origins)
    if (allowed == "*" || iequals(allowed, origin)) return true;
  // The server's own origin: scheme://host[:port] whose authority is the Host the client used.
  for (std::string_view scheme : {"http://", "https://"})
    if (origin.size() > scheme.size() && iequals(origin.substr(0, scheme.size()), scheme))
      return iequals(origin.substr(scheme.size()), upgrade.header("Host"));
  return false;
}

std::optional<net::Response> Gateway::admit(const net::Request& upgrade) {
  if (!origin_allowed(upgrade))
    return error_response({Errc::permission_denied,
                           "this origin may not open a WebSocket here (see --allowed-origins)",
                           {}, 0});
  std::string address = ctx_.client.of(upgrade);
  std::lock_guard lock(mu_);
  auto it = by_address_.find(address);
  if (it != by_address_.end() && it->second >= ctx_.opts.sockets.per_address)
    return error_response({Errc::resource_exhausted, "too many WebSockets from this address",
                           {}, 10});
  return std::nullopt;
}

void Gateway::address_opened(const std::string& address) {
  std::lock_guard lock(mu_);
  ++by_address_[address];
}

void Gateway::address_closed(const std::string& address) {
  std::lock_guard lock(mu_);
  auto it = by_address_.find(address);
  if (it != by_address_.end() && --it->second <= 0) by_address_.erase(it);
}

bool Gateway::begin_hello() {
  if (pending_hellos_.fetch_add(1) < ctx_.opts.sockets.pending_hellos) return true;
  pending_hellos_.fetch_sub(1);
  return false;
}

void Gateway::end_hello() { pending_hellos_.fetch_sub(1); }

void Gateway::add(const auth::Principal& p, Millis expires_at,
                  const std::shared_ptr<net::WsConnection>& c) {
  std::vector<std::shared_ptr<net::WsConnection>> over_cap;
  {
    std::lock_guard lock(mu_);
    if (!revoked_.contains(p.session_id)) {
      auto& sockets = by_session_[p.session_id];
      if (sockets.empty()) {
        expiries_.emplace(expires_at, p.session_id);
        expiry_cv_.notify_all();
      }
      sockets.push_back(c);
      auto& mine = by_user_[p.user_id];
      std::erase_if(mine, [](const auto& w) { return w.expired(); });
      mine.push_back(c);
      while (static_cast<int>(mine.size()) > ctx_.opts.sockets.per_user) {
        if (auto oldest = mine.front().lock()) over_cap.push_back(std::move(oldest));
        mine.pop_front();
      }
    } else {
      // Revoked while its hello was being checked: the revocation found no socket to close.
      c->close(net::kCloseUnauthorized, "session revoked");
      return;
    }
  }
  for (auto& old : over_cap)
    old->close(net::kCloseTooManySockets,
               "too many connections for this account: the oldest was closed");
}

void Gateway::remove(const auth::Principal& p, std::uint64_t conn_id) {
  auto gone = [&](const std::weak_ptr<net::WsConnection>& w) {
    auto c = w.lock();
    return !c || c->id() == conn_id;
  };
  std::lock_guard lock(mu_);
  if (auto it = by_session_.find(p.session_id); it != by_session_.end()) {
    std::erase_if(it->second, gone);
    if (it->second.empty()) by_session_.erase(it);
  }
  if (auto it = by_user_.find(p.user_id); it != by_user_.end()) {
    std::erase_if(it->second, gone);
    if (it->second.empty()) by_user_.erase(it);
  }
}

namespace {

// The live sockets of an index entry, closed once the lock is released.
template <typename Index>
std::vector<std::shared_ptr<net::WsConnection>> live_sockets(const Index& index,
                                                             const std::string& key) {
  std::vector<std::shared_ptr<net::WsConnection>> out;
  if (auto it = index.find(key); it != index.end())
    for (const auto& w : it->second)
      if (auto c = w.lock()) out.push_back(std::move(c));
  return out;
}

}  // namespace

void Gateway::close_session(const std::string& session_id, const char* why) {
  std::vector<std::shared_ptr<net::WsConnection>> conns;
  {
    std::lock_guard lock(mu_);
    if (revoked_.size() >= kMaxRevokedRemembered) revoked_.clear();
    revoked_.insert(session_id);
    conns = live_sockets(by_session_, session_id);
  }
  for (auto& c : conns) c->close(net::kCloseUnauthorized, why);
}

void Gateway::close_user(const std::string& user_id, const char* why) {
  std::vector<std::shared_ptr<net::WsConnection>> conns;
  {
    std::lock_guard lock(mu_);
    conns = live_sockets(by_user_, user_id);
  }
  for (auto& c : conns) c->close(net::kCloseUnauthorized, why);
}

void Gateway::watch_expiries() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    if (expiries_.empty()) {
      expiry_cv_.wait(lock);
      continue;
    }
    const Millis now = ctx_.s.clock.now_ms();
    auto [due, session_id] = expiries_.top();
    if (due > now) {
      expiry_cv_.wait_for(lock, std::chrono::milliseconds(std::min<Millis>(due - now, 60'000)));
      continue;
    }
    expiries_.pop();
    if (!by_session_.contains(session_id)) continue;  // no sockets here any more
    lock.unlock();
    auto expiry = ctx_.s.auth.session_expiry(session_id);
    if (!expiry && expiry.error().code == Errc::unauthenticated) {
      close_session(session_id, "session expired: sign in again");
      lock.lock();
      continue;
    }
    lock.lock();
    // Refreshed since (the lapse moved on), or the store did not answer: look again later.
    expiries_.emplace(expiry ? *expiry : now + 60'000, session_id);
  }
}

}  // namespace parley::api
