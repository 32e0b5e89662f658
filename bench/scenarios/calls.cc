// The call scenarios of parley_bench: call set-up time over the signaling (call.start to both
// sides seeing the call active) and many calls held at once on one node, each relaying a
// set-up's worth of SDP/ICE, with the server's CPU per call. Signaling only: the media of
// 1:1 calls goes peer to peer (or through coturn), never through Parley.
//
// Clients are net::WsClient, one per simulated device, driven from a few threads.
#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bench_support.h"
#include "net/client.h"

namespace parley::bench {
namespace {

using boost::json::object;

struct Device {
  std::string user_id;
  std::string token;
  std::unique_ptr<net::WsClient> ws;
};

std::string str_of(const boost::json::value& v, std::initializer_list<const char*> path) {
  const boost::json::value* at = &v;
  for (const char* k : path) {
    if (!at->is_object()) return {};
    at = at->as_object().if_contains(k);
    if (!at) return {};
  }
  return at->is_string() ? std::string(at->as_string()) : std::string();
}

// The next frame that pred accepts (others are dropped), or null after the timeout.
boost::json::value wait_for(net::WsClient& ws, const std::function<bool(const boost::json::value&)>& pred,
                            std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    auto t = ws.read_text(left);
    if (!t) return nullptr;
    boost::system::error_code ec;
    auto v = boost::json::parse(*t, ec);
    if (!ec && pred(v)) return v;
  }
  return nullptr;
}

bool is_event(const boost::json::value& v, std::string_view name, const std::string& call_id,
              std::string_view state = {}) {
  if (str_of(v, {"type"}) != "event" || str_of(v, {"event"}) != name) return false;
  if (!call_id.empty() && str_of(v, {"data", "call", "id"}) != call_id &&
      str_of(v, {"data", "call_id"}) != call_id)
    return false;
  return state.empty() || str_of(v, {"data", "call", "state"}) == state;
}

bool is_answer(const boost::json::value& v, const std::string& req) {
  auto t = str_of(v, {"type"});
  return (t == "ack" || t == "error") && str_of(v, {"req"}) == req;
}

// A server, `pairs` pairs of users with a DM each, and one ready socket per user.
class CallServer {
 public:
  CallServer(const BenchContext& ctx, const std::string& name, unsigned pairs)
      : ctx_(ctx), dir_(ctx.tmp_dir + "/" + name) {
    if (!server_.start(*ctx.opt, dir_, {"--call-ring-timeout-ms", "60000"})) {
      error_ = "the server did not report a port";
      return;
    }
    tcp::endpoint ep(asio::ip::make_address_v4("127.0.0.1"), server_.port());
    devices_.resize(pairs * 2);
    dms_.resize(pairs);
    std::mutex mu;
    unsigned threads = std::min(pairs, 8u);
    run_parallel(threads, [&](unsigned t) {
      for (unsigned p = t; p < pairs; p += threads) {
        for (unsigned side = 0; side < 2; ++side) {
          char body[128];
          std::snprintf(body, sizeof body,
                        "{\"username\":\"%s%05u%c\",\"password\":\"bench-password-%05u\"}",
                        name.c_str(), p, side ? 'b' : 'a', p);
          auto r = http_call(ep, "POST", "/api/v1/auth/register", "", body);
          if (!r.ok()) {
            std::lock_guard lock(mu);
            if (error_.empty()) error_ = "register: " + r.describe();
            return;
          }
          auto& d = devices_[p * 2 + side];
          d.token = json_at(r.body, {"access_token"});
          d.user_id = json_at(r.body, {"user", "id"});
        }
        auto dm = http_call(ep, "POST", "/api/v1/conversations", devices_[p * 2].token,
                            "{\"type\":\"dm\",\"member_ids\":[\"" + devices_[p * 2 + 1].user_id +
                                "\"]}");
        std::lock_guard lock(mu);
        if (!dm.ok() && error_.empty()) error_ = "dm: " + dm.describe();
        dms_[p] = json_at(dm.body, {"id"});
      }
    });
    if (!error_.empty()) return;
    run_parallel(threads, [&](unsigned t) {
      for (unsigned i = t; i < devices_.size(); i += threads) {
        auto ws = net::WsClient::connect("127.0.0.1", server_.port());
        bool ready = false;
        if (ws) {
          (void)(*ws)->send_text("{\"type\":\"hello\",\"token\":\"" + devices_[i].token + "\"}");
          ready = !wait_for(**ws, [](const boost::json::value& v) {
                     return str_of(v, {"type"}) == "ready";
                   }).is_null();
        }
        std::lock_guard lock(mu);
        if (!ready && error_.empty()) error_ = "a WebSocket did not get ready";
        if (ws) devices_[i].ws = std::move(*ws);
      }
    });
  }
  ~CallServer() {
    devices_.clear();
    server_.stop();
    if (!ctx_.opt->keep_data) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  pid_t pid() const { return server_.pid(); }
  Device& device(unsigned i) { return devices_[i]; }
  const std::string& dm(unsigned pair) const { return dms_[pair]; }

 private:
  const BenchContext& ctx_;
  std::string dir_;
  ServerProcess server_;
  std::vector<Device> devices_;
  std::vector<std::string> dms_;
  std::string error_;
};

// One call set-up between a pair, measured from call.start to both sides seeing it active; the
// call id, or "" when a step failed (why in *error).
std::string set_up(Device& a, Device& b, const std::string& dm, unsigned n, double* seconds,
                   std::string* error) {
  auto t0 = Clock::now();
  std::string req = "s" + std::to_string(n);
  (void)a.ws->send_text("{\"type\":\"call.start\",\"req\":\"" + req + "\",\"conversation_id\":\"" +
                        dm + "\",\"media\":\"video\"}");
  auto ack = wait_for(*a.ws, [&](const boost::json::value& v) { return is_answer(v, req); });
  std::string id = str_of(ack, {"call", "id"});
  if (id.empty()) return *error = "call.start: " + boost::json::serialize(ack), "";
  if (wait_for(*b.ws, [&](const boost::json::value& v) { return is_event(v, "call.ringing", id); })
          .is_null())
    return *error = "no call.ringing", "";
  std::string areq = "a" + std::to_string(n);
  (void)b.ws->send_text("{\"type\":\"call.accept\",\"req\":\"" + areq + "\",\"call_id\":\"" + id +
                        "\"}");
  if (str_of(wait_for(*b.ws, [&](const boost::json::value& v) { return is_answer(v, areq); }),
             {"call", "state"}) != "active")
    return *error = "call.accept was not acked active", "";
  if (wait_for(*a.ws, [&](const boost::json::value& v) {
        return is_event(v, "call.updated", id, "active");
      }).is_null())
    return *error = "the caller never saw the call active", "";
  *seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return id;
}

// What a WebRTC set-up relays: an offer, an answer and a few ICE candidates each way.
bool relay_setup(Device& a, Device& b, const std::string& id) {
  std::string sdp(3000, 'x');  // a typical audio+video SDP is 3-6 KiB
  auto signal = [&](Device& from, Device& to, const std::string& kind, const std::string& body) {
    (void)from.ws->send_text("{\"type\":\"call.signal\",\"call_id\":\"" + id +
                             "\",\"to_user_id\":\"" + to.user_id + "\",\"data\":{\"kind\":\"" +
                             kind + "\",\"sdp\":\"" + body + "\"}}");
    return !wait_for(*to.ws, [&](const boost::json::value& v) {
              return is_event(v, "call.signal", id);
            }).is_null();
  };
  bool ok = signal(a, b, "offer", sdp) && signal(b, a, "answer", sdp);
  for (int i = 0; ok && i < 4; ++i) ok = signal(a, b, "ice", "candidate") && signal(b, a, "ice", "c");
  return ok;
}

void hang_up(Device& a, Device& b, const std::string& id, unsigned n) {
  std::string req = "l" + std::to_string(n);
  (void)a.ws->send_text("{\"type\":\"call.leave\",\"req\":\"" + req + "\",\"call_id\":\"" + id +
                        "\"}");
  wait_for(*a.ws, [&](const boost::json::value& v) { return is_answer(v, req); });
  wait_for(*b.ws, [&](const boost::json::value& v) { return is_event(v, "call.ended", id); });
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

void run_setup(const BenchContext& ctx) {
  constexpr unsigned kPairs = 8, kCalls = 400;
  CallServer s(ctx, "callsetup", kPairs);
  if (!s.ok()) return report(ctx, "call set-up: FAILED: " + s.error(), true);
  std::vector<std::vector<double>> per(kPairs);
  std::atomic<int> failures{0};
  std::string first_error;
  std::mutex mu;
  double wall = run_parallel(kPairs, [&](unsigned p) {
    for (unsigned n = p; n < kCalls; n += kPairs) {
      double secs = 0;
      std::string err;
      auto id = set_up(s.device(p * 2), s.device(p * 2 + 1), s.dm(p), n, &secs, &err);
      if (id.empty()) {
        ++failures;
        std::lock_guard lock(mu);
        if (first_error.empty()) first_error = err;
        continue;
      }
      per[p].push_back(secs * 1000);
      hang_up(s.device(p * 2), s.device(p * 2 + 1), id, n);
    }
  });
  std::vector<double> all;
  for (auto& v : per) all.insert(all.end(), v.begin(), v.end());
  char line[256];
  std::snprintf(line, sizeof line,
                "call set-up (call.start to both sides active, signaling only): p50 %.2f ms, "
                "p99 %.2f ms over %zu calls, %u pairs calling at once (%.0f set-ups/s with hang-ups)",
                percentile(all, 0.5), percentile(all, 0.99), all.size(), kPairs,
                static_cast<double>(all.size()) / wall);
  report(ctx, line, failures > 0);
  if (failures > 0) report(ctx, "  " + std::to_string(failures.load()) + " failed: " + first_error, true);
}

void run_concurrent(const BenchContext& ctx) {
  for (unsigned pairs : {250u, 1000u}) {
    CallServer s(ctx, "calls" + std::to_string(pairs), pairs);
    if (!s.ok()) return report(ctx, "concurrent calls: FAILED: " + s.error(), true);
    std::atomic<unsigned> up{0}, relayed{0};
    std::vector<std::string> ids(pairs);
    double cpu0 = process_cpu_s(s.pid());
    unsigned threads = std::min(pairs, 16u);
    double wall = run_parallel(threads, [&](unsigned t) {
      for (unsigned p = t; p < pairs; p += threads) {
        double secs = 0;
        std::string err;
        ids[p] = set_up(s.device(p * 2), s.device(p * 2 + 1), s.dm(p), p, &secs, &err);
        if (ids[p].empty()) continue;
        ++up;
        if (relay_setup(s.device(p * 2), s.device(p * 2 + 1), ids[p])) ++relayed;
      }
    });
    double cpu = process_cpu_s(s.pid()) - cpu0;
    char line[320];
    std::snprintf(line, sizeof line,
                  "%u calls held at once on one node: %u set up and %u relayed an offer, an "
                  "answer and 8 ICE candidates in %.1f s; server CPU %.2f ms per call "
                  "(set-up + signaling)",
                  pairs, up.load(), relayed.load(), wall, 1000 * cpu / std::max(1u, up.load()));
    report(ctx, line, up != pairs || relayed != pairs);
  }
}

}  // namespace

const std::vector<Scenario>& call_scenarios() {
  static const std::vector<Scenario> kTable = {
      {"callsetup", "call set-up time p50/p99: call.start to both sides active (signaling)",
       run_setup},
      {"calls",
       "calls held at once on one node (250, 1000 pairs), each relaying a WebRTC set-up's "
       "SDP/ICE; server CPU per call",
       run_concurrent},
  };
  return kTable;
}

}  // namespace parley::bench
