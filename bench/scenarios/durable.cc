// durable: sends whose every ack/201 comes after the commit that holds the message, over
// WebSocket and HTTP, with the commits counted by perf where it can.
#include "load_generator.h"
#include "scenarios/chat.h"

namespace parley::bench {

namespace {

struct DurableSpec {
  bool ws = true;
  char tag = 'd';                      // makes client_msg_id unique across variants
  unsigned read_every = 0;             // WebSocket: a read frame after every N acks (0: never)
  std::vector<std::string> cids;       // connection i sends into cids[i % size]
  std::vector<std::string> tokens;     // connection i is tokens[i % size]
  std::vector<tcp::endpoint> servers;  // connection i goes to servers[i % size]
};

asio::awaitable<void> durable_connection(const DurableSpec& sp, const Window& w, ThreadStats& st,
                                         unsigned conn) {
  auto c = std::make_shared<Conn>(co_await asio::this_coro::executor);
  asio::co_spawn(c->sock.get_executor(), watchdog(c, 20s), asio::detached);
  const std::string& token = sp.tokens[conn % sp.tokens.size()];
  const std::string& cid = sp.cids[conn % sp.cids.size()];
  const tcp::endpoint& server = sp.servers[conn % sp.servers.size()];
  const std::string upgrade = ws_upgrade_request(server.port());
  bool connected = false;
  std::int64_t acked_seq = -1;
  unsigned since_read = 0;
  std::string http_head;
  if (!sp.ws)
    http_head = "POST /api/v1/conversations/" + cid +
                "/messages HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(server.port()) +
                "\r\nAuthorization: Bearer " + token +
                "\r\nContent-Type: application/json\r\nContent-Length: ";
  const std::string ws_prefix =
      "{\"type\":\"send\",\"conversation_id\":\"" + cid + "\",\"text\":\"durable message ";
  for (std::uint64_t k = 0; k < kMaxOpsPerConnection && Clock::now() < w.end; ++k) {
    if (!connected) {
      if (!co_await connect(*c, server, st)) continue;
      if (sp.ws) {
        c->begin(Clock::now());
        auto err = co_await ws_handshake(*c, upgrade, hello_frame(token));
        c->busy = false;
        if (!err.empty()) {
          st.error("hello: " + err);
          c->reset();
          c->backoff.expires_after(100ms);
          co_await c->backoff.async_wait(kTuple);
          continue;
        }
      }
      connected = true;
    }
    std::string cmid = std::string(1, sp.tag) + std::to_string(conn) + "-" + std::to_string(k);
    std::string out;
    if (sp.ws) {
      out = client_frame(0x1, ws_prefix + std::to_string(k) + "\",\"client_msg_id\":\"" + cmid +
                                  "\",\"req\":" + std::to_string(k) + "}");
    } else {
      std::string body = "{\"text\":\"durable message " + std::to_string(k) +
                         "\",\"client_msg_id\":\"" + cmid + "\"}";
      out = http_head + std::to_string(body.size()) + "\r\n\r\n" + body;
    }
    auto t0 = Clock::now();
    c->begin(t0);
    auto [wec, wn] = co_await asio::async_write(c->sock, asio::buffer(out), kTuple);
    if (wec) {
      c->busy = false;
      st.error(c->read_error(wec, "write"));
      connected = false;
      continue;
    }
    std::string err;
    bool good = false;
    if (sp.ws) {
      const std::string want = "\"req\":" + std::to_string(k);
      for (int frames = 0; frames < 10000; ++frames) {
        Frame f;
        err = co_await read_frame(*c, f);
        if (!err.empty()) break;
        std::string_view p = f.payload;
        bool done = false;
        if (f.opcode == 0x8) {
          err = "closed by server " + close_code(p);
        } else if (f.opcode == 0x1 && p.rfind("{\"type\":\"ack\"", 0) == 0) {
          done = true;
          good = true;
          acked_seq = seq_in(p);
        } else if (f.opcode == 0x1 &&
                   p.substr(0, 32).find("\"type\":\"error\"") != std::string_view::npos) {
          err = "error frame: " + std::string(p.substr(0, 160));
          done = p.find(want) != std::string_view::npos;
        }
        c->consume(f.bytes);
        if (done || !err.empty()) break;
      }
      if (!good && err.empty()) err = "no ack";
    } else {
      HttpHead h;
      err = co_await read_response(*c, h);
      if (err.empty()) {
        std::string_view body(c->buf.data() + h.header_bytes, h.content_length);
        if (h.status == 201)
          good = true;
        else if (h.status == 200)
          err = "HTTP 200: a retry of an earlier client_msg_id, not a new message";
        else
          err = status_error(h.status, body);
        c->consume(h.header_bytes + h.content_length);
      }
    }
    c->busy = false;
    auto t1 = Clock::now();
    if (!good) {
      st.error(err);
      if (err.rfind("error frame", 0) != 0 && err.rfind("HTTP", 0) != 0) {
        connected = false;
        c->reset();
      }
      continue;
    }
    if (w.inside(t1)) {
      ++st.ok;
      st.latency_ns.push_back(std::chrono::nanoseconds(t1 - t0).count());
    } else {
      ++st.outside;
    }
    // A client with the conversation open marks it read (a `read` frame has no answer).
    if (sp.ws && sp.read_every && ++since_read >= sp.read_every && acked_seq > 0) {
      since_read = 0;
      std::string rf = client_frame(0x1, "{\"type\":\"read\",\"conversation_id\":\"" + cid +
                                             "\",\"seq\":" + std::to_string(acked_seq) + "}");
      auto [rec, rn] = co_await asio::async_write(c->sock, asio::buffer(rf), kTuple);
      if (rec) connected = false;
    }
  }
  c->finished = true;
  c->watchdog.cancel();
  c->reset();
}

}  // namespace

void run_durable(Env& env, bool ws_many_only, bool one_conversation) {
  const Options& opt = *env.opt;
  unsigned conns = opt.durable_conns;
  unsigned senders = std::min<unsigned>(conns, static_cast<unsigned>(env.tokens.size()));
  // Use the last users: the first ones are members of the fan-out channels.
  std::vector<std::string> tokens(env.tokens.end() - senders, env.tokens.end());
  std::vector<std::string> ids(env.user_ids.end() - senders, env.user_ids.end());
  std::printf("\n== durable sends: set-up of %u note-to-self DMs and one shared group channel\n",
              senders);
  std::vector<std::string> own;
  for (unsigned i = 0; i < senders; ++i) {
    std::string cid = create_conversation(env, tokens[i],
                                          "{\"type\":\"dm\",\"member_ids\":[\"" + ids[i] + "\"]}");
    if (cid.empty()) return;
    own.push_back(cid);
  }
  std::string shared = create_conversation(
      env, tokens[0],
      "{\"type\":\"channel\",\"name\":\"bench-durable\",\"visibility\":\"private\"}");
  if (shared.empty()) return;
  std::vector<std::string> others(ids.begin() + 1, ids.end());
  if (!add_members(env, tokens[0], shared, others)) return;

  struct Variant {
    const char* name;
    bool ws;
    bool one;
    char tag;
  };
  std::vector<Variant> variants = {Variant{"durable ws many", true, false, 'w'},
                                   Variant{"durable http many", false, false, 'h'},
                                   Variant{"durable http one", false, true, 'o'}};
  if (ws_many_only)
    variants.erase(variants.begin() + 1, variants.end() - (one_conversation ? 1 : 0));
  for (const Variant& v : variants) {
    DurableSpec sp;
    sp.ws = v.ws;
    sp.tag = v.tag;
    sp.read_every = v.ws ? 16 : 0;
    sp.tokens = tokens;
    sp.cids = v.one ? std::vector<std::string>{shared} : own;
    sp.servers = env.endpoints();
    SyncCounter syncs;
    auto r = run_scenario(
        env.label + v.name, conns, env.threads, env.pids(), env.ep(), std::max(opt.warmup, 1.0),
        opt.seconds, false,
        [&](const Window& w, ThreadStats& st, unsigned c) {
          return durable_connection(sp, w, st, c);
        },
        [&](double secs) { syncs.start(env.commit_pids ? env.commit_pids() : env.pids(), secs); });
    char what[300];
    std::snprintf(what, sizeof what,
                  "%s, closed loop, one send in flight per connection, into %s; latency = send "
                  "to %s (after the commit)",
                  v.ws ? "WebSocket send -> ack" : "HTTP POST .../messages -> 201",
                  v.one ? "one conversation shared by every sender"
                        : "each sender's own conversation (note-to-self DM)",
                  v.ws ? "ack" : "response");
    r.what = what;
    r.others = env.others;
    print_result(r, env.cores);
    auto n = syncs.finish();
    std::string commits = "commits: n/a (perf not available)";
    if (n && *n > 0)
      commits = fmt("%.0f", static_cast<double>(*n)) + " WAL syncs in the window (= commits), " +
                fmt("%.1f", static_cast<double>(r.ok) / static_cast<double>(*n)) +
                " sends per commit, " + fmt("%.0f", *n / std::max(1e-9, r.seconds)) + " commits/s";
    std::printf("   group commit: %s\n", commits.c_str());
    char line[512];
    std::snprintf(line, sizeof line,
                  "%s (%u connections): %.0f sends/s, ack p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms; "
                  "%s",
                  (env.label + v.name).c_str(), conns, r.rate(), percentile_ms(r.latency_ns, 0.5),
                  percentile_ms(r.latency_ns, 0.99), percentile_ms(r.latency_ns, 0.999),
                  commits.c_str());
    env.headlines->push_back(line);
    env.results->push_back(std::move(r));
  }
}

}  // namespace parley::bench
