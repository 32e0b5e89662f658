// Three nodes behind nginx on one PostgreSQL and one Redis, as docs/scaling.md deploys them, tested
// as the scale-out issue's "Done when" asks:
//
// - clients on different nodes chat in real time, with presence and typing (sockets straight to
//   each node's port);
// - concurrent sends to one conversation through all nodes give one gap-free order: every
//   receiver gets every seq exactly once, history through every node is the same sequence, and
//   the acks agree with it (the arrival order per receiver is reported, not asserted);
// - a node killed with SIGKILL during a stream of sends: its clients reconnect through nginx to
//   the others and catch up from history, with 0 acknowledged messages lost and 0 duplicates;
// - Redis restarted mid-stream: no acknowledged message lost, real-time delivery resumes by
//   itself (no client reconnects);
// - membership changed while Redis was down (the events dropped): once the bus is back, the
//   added member gets the conversation's events on their node and the removed one stops.
//
// Needs PARLEY_TEST_POSTGRES_URL, PARLEY_TEST_REDIS_URL (`make test` starts both), psql and
// nginx; skips with a line naming what is missing. Each cluster gets a database of its own
// (CREATE DATABASE, dropped at the end), so the PostgreSQL contract tests running beside it are
// not disturbed, and nginx in a folder and port of its own (scripts/nginx.sh). The Redis-restart
// suite starts a Redis of its own (scripts/redis.sh, own folder and port): restarting the shared
// one would break the Redis adapter tests. The server has no flag for a Redis channel prefix, so
// clusters on the shared Redis hear each other's events; their users and conversations are
// unique, so those events reach nobody.
//
// Observations that are reported but not asserted (out-of-order arrivals, GET /presence across
// nodes, timings) are printed as "[ observe ]" lines.
#include <signal.h>

#include <atomic>
#include <map>
#include <set>

#include "chat_stream.h"
#include "cluster.h"
#include "file_support.h"

namespace parley::itest {
namespace {

using namespace chat;

// ---- the suites: one cluster each ----

class MultiNode : public ClusterTest<MultiNode> {
 public:
  static ClusterOptions options() { return {}; }
};
class MultiNodeFailover : public ClusterTest<MultiNodeFailover> {
 public:
  static ClusterOptions options() { return {}; }
};
class MultiNodeRedisRestart : public ClusterTest<MultiNodeRedisRestart> {
 public:
  static ClusterOptions options() { return {.own_redis = true}; }
};
class MultiNodeFiles : public ClusterTest<MultiNodeFiles> {
 public:
  static ClusterOptions options() { return {.s3 = true}; }
};

// ---- 1. real time across nodes ----

TEST_F(MultiNode, ClientsOnDifferentNodesChatInRealTimeWithPresenceAndTyping) {
  auto& c = cluster();
  Api n0(c.port(0)), n1(c.port(1)), n2(c.port(2));
  // One database: each registers on a node of their own, and every node knows all three.
  auto alice = register_account(n0, "mna");
  auto bob = register_account(n1, "mnb");
  auto carol = register_account(n2, "mnc");
  auto conv = make_group(n1, bob, {alice.id, carol.id});
  for (Api* api : {&n0, &n1, &n2}) {
    auto r = get_conv(*api, alice, conv);
    ASSERT_EQ(r.status, 200) << r;
    EXPECT_EQ(num(r.json, "member_count"), 3) << r;
  }

  // Presence: carol connecting on node 2 is announced to bob on node 1; alice connecting on
  // node 0 to both.
  Live bob_ws(c.port(1), bob);
  Live carol_ws(c.port(2), carol);
  bob_ws.event("presence.changed", presence_of(carol.id, "online"), 10s);
  auto alice_ws = std::make_unique<Live>(c.port(0), alice);
  bob_ws.event("presence.changed", presence_of(alice.id, "online"), 10s);
  carol_ws.event("presence.changed", presence_of(alice.id, "online"), 10s);

  // GET /presence reads the node's own state (a known limitation): reported, not asserted.
  {
    std::string seen;
    for (int i = 0; i < Cluster::kNodes; ++i) {
      Api api(c.port(i));
      auto r = api.get("/api/v1/presence?user_ids=" + alice.id + "," + bob.id + "," + carol.id,
                       bob.access);
      seen += " node" + std::to_string(i) + "=[";
      for (const auto& p : arr(r.json, "presence")) seen += str(p, "status") + " ";
      seen += "]";
    }
    observe("GET /presence (alice on node 0, bob on 1, carol on 2; all online):" + seen);
  }

  // Messages: over alice's socket on node 0, over HTTP on node 1, over carol's socket on node 2;
  // each reaches the sockets on the other two nodes.
  auto t0 = Clock::now();
  alice_ws->send(send_frame("a1", conv, "hello from node 0", fresh_cmid()));
  auto ack = alice_ws->reply("ack", "a1", 10s).at("message").as_object();
  EXPECT_EQ(num(ack, "seq"), 1);
  for (Live* other : {&bob_ws, &carol_ws}) {
    auto ev = other->event("message.created", with_id(str(ack, "id")), 10s);
    EXPECT_EQ(num(ev, "seq"), 1);
    EXPECT_EQ(str(ev, "sender_id"), alice.id);
    EXPECT_EQ(str(ev, "text"), "hello from node 0");
  }
  observe("a message from node 0 reached nodes 1 and 2 in " + ms_since(t0));

  auto m2 = send_ok(n1, bob, conv, "hello from node 1");
  EXPECT_EQ(num(m2, "seq"), 2);
  for (Live* other : {alice_ws.get(), &carol_ws}) {
    auto ev = other->event("message.created", with_id(str(m2, "id")), 10s);
    EXPECT_EQ(num(ev, "seq"), 2);
    EXPECT_EQ(str(ev, "text"), "hello from node 1");
  }
  bob_ws.event("message.created", with_id(str(m2, "id")), 10s);  // the sender's own socket too

  carol_ws.send(send_frame("c1", conv, "hello from node 2", fresh_cmid()));
  auto ack3 = carol_ws.reply("ack", "c1", 10s).at("message").as_object();
  EXPECT_EQ(num(ack3, "seq"), 3);
  for (Live* other : {alice_ws.get(), &bob_ws})
    EXPECT_EQ(num(other->event("message.created", with_id(str(ack3, "id")), 10s), "seq"), 3);

  // Typing: bob's on node 1 reaches nodes 0 and 2; carol's on node 2 reaches nodes 0 and 1.
  auto typing_of = [&](const std::string& user) {
    return [conv, user](const object& d) {
      return str(d, "conversation_id") == conv && str(d, "user_id") == user;
    };
  };
  bob_ws.send(object{{"type", "typing"}, {"conversation_id", conv}});
  alice_ws->event("typing", typing_of(bob.id), 10s);
  carol_ws.event("typing", typing_of(bob.id), 10s);
  carol_ws.send(object{{"type", "typing"}, {"conversation_id", conv}});
  alice_ws->event("typing", typing_of(carol.id), 10s);
  bob_ws.event("typing", typing_of(carol.id), 10s);
  // Nobody hears their own typing.
  bob_ws.sync();
  EXPECT_FALSE(bob_ws.event_within("typing", typing_of(bob.id), 0ms)) << "bob got his own typing";

  // A chosen status set on the node holding alice's socket crosses to the others.
  auto set_status = [&](Api& api, const std::string& status) {
    return api.call("PUT", "/api/v1/users/me/presence",
                    boost::json::serialize(object{{"status", status}}), alice.access);
  };
  auto away = set_status(n0, "away");
  ASSERT_EQ(away.status, 200) << away;
  EXPECT_EQ(away.str("status"), "away") << away;
  bob_ws.event("presence.changed", presence_of(alice.id, "away"), 10s);
  carol_ws.event("presence.changed", presence_of(alice.id, "away"), 10s);
  ASSERT_EQ(set_status(n0, "online").status, 200);
  bob_ws.event("presence.changed", presence_of(alice.id, "online"), 10s);
  carol_ws.event("presence.changed", presence_of(alice.id, "online"), 10s);
  // Alice leaves node 0: after the grace, bob on node 1 and carol on node 2 see her offline.
  bob_ws.forget();
  carol_ws.forget();
  alice_ws->raw().close();
  alice_ws.reset();
  auto left = Clock::now();
  bob_ws.event("presence.changed", presence_of(alice.id, "offline"), Cluster::kPresenceGrace + 10s);
  carol_ws.event("presence.changed", presence_of(alice.id, "offline"),
                 Cluster::kPresenceGrace + 10s);
  observe("alice offline announced on nodes 1 and 2 " + ms_since(left) +
          " after her socket closed "
          "(grace " +
          std::to_string(Cluster::kPresenceGrace.count()) + " ms)");

  // Back on node 0, alice sets a status through node 2, which holds no socket of hers:
  // reported, not asserted (presence is per node today).
  alice_ws = std::make_unique<Live>(c.port(0), alice);
  bob_ws.event("presence.changed", presence_of(alice.id, "online"), 10s);
  bob_ws.forget();
  {
    auto dnd = set_status(n2, "dnd");
    std::string heard;
    auto until = Clock::now() + 1s;
    while (auto ev = bob_ws.event_within(
               "presence.changed", [&](const object& d) { return str(d, "user_id") == alice.id; },
               std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()))) {
      heard += " " + str(ev->at("data"), "status");
      bob_ws.forget();
    }
    std::string shown;
    for (int i = 0; i < Cluster::kNodes; ++i) {
      Api api(c.port(i));
      auto r = api.get("/api/v1/presence?user_ids=" + alice.id, bob.access);
      auto list = arr(r.json, "presence");
      shown += " node" + std::to_string(i) + "=" + (list.empty() ? "?" : str(list[0], "status"));
    }
    observe("alice on node 0 sets dnd through node 2: HTTP " + std::to_string(dnd.status) +
            " status " + dnd.str("status") + "; bob on node 1 heard [" + heard +
            " ] within 1 s; GET /presence shows alice" + shown);
  }

  // Every node serves the same history.
  for (Api* api : {&n0, &n1, &n2}) {
    auto all = all_messages(*api, carol, conv);
    ASSERT_EQ(seqs_of(all), range(1, 3));
    EXPECT_EQ(str(all[0], "id"), str(ack, "id"));
    EXPECT_EQ(str(all[1], "id"), str(m2, "id"));
    EXPECT_EQ(str(all[2], "id"), str(ack3, "id"));
  }
}

// ---- 2. one order for concurrent sends through every node ----

TEST_F(MultiNode, ConcurrentSendsThroughAllNodesGiveOneGapFreeOrderThatEveryoneSees) {
  auto& c = cluster();
  constexpr int kUsers = 6;  // two per node: one sends over its socket, one over HTTP
  constexpr int kEach = 40;
  constexpr int kTotal = kUsers * kEach;
  auto node_of = [](int u) { return u % Cluster::kNodes; };
  std::vector<Account> users(kUsers);
  run_parallel(kUsers, [&](int u) {
    Api api(c.port(node_of(u)));
    users[static_cast<std::size_t>(u)] = register_account(api, "mncs");
  });
  std::string conv;
  {
    Api api(c.port(0));
    std::vector<std::string> others;
    for (int u = 1; u < kUsers; ++u) others.push_back(users[static_cast<std::size_t>(u)].id);
    conv = make_group(api, users[0], others);
  }
  // Everyone listens on their own node.
  std::vector<std::unique_ptr<Live>> live;
  for (int u = 0; u < kUsers; ++u)
    live.push_back(std::make_unique<Live>(c.port(node_of(u)), users[static_cast<std::size_t>(u)]));

  AckBook book;
  auto t0 = Clock::now();
  run_parallel(kUsers, [&](int u) {
    const Account& me = users[static_cast<std::size_t>(u)];
    Api api(c.port(node_of(u)));
    for (int i = 0; i < kEach; ++i) {
      auto cmid = "cs" + std::to_string(u) + "-" + std::to_string(i);
      auto text = "concurrent " + cmid;
      if (u < Cluster::kNodes) {  // users 0..2: over the socket on their node
        auto& ws = *live[static_cast<std::size_t>(u)];
        auto req = "r" + std::to_string(i);
        ws.send(send_frame(req, conv, text, cmid));
        auto ans = ws.answer(req, 10s);
        if (str(ans, "type") != "ack") return book.problem("WS send " + cmid + ": " + dump(ans));
        book.add(cmid, ans.at("message").as_object(), me.id);
      } else {  // users 3..5: over HTTP to their node
        auto r = send(api, me, conv, text, cmid);
        if (r.status != 201)
          return book.problem("HTTP send " + cmid + ": " + r.body.substr(0, 300));
        book.add(cmid, r.obj(), me.id);
      }
    }
  });
  observe(std::to_string(kTotal) + " concurrent sends through 3 nodes acknowledged in " +
          ms_since(t0));
  auto problems = book.problems();
  ASSERT_TRUE(problems.empty()) << problems.size() << " sends failed, first: " << problems.front();
  auto acked = book.acked();
  ASSERT_EQ(acked.size(), static_cast<std::size_t>(kTotal));

  // The acks hand out each seq of 1..N once.
  std::set<std::int64_t> ack_seqs;
  for (const auto& [cmid, a] : acked)
    EXPECT_TRUE(ack_seqs.insert(a.seq).second) << "seq " << a.seq << " acked twice";
  EXPECT_EQ(std::vector<std::int64_t>(ack_seqs.begin(), ack_seqs.end()), range(1, kTotal));

  // History through every node: the same sequence, gap-free, agreeing with the acks.
  std::vector<std::string> first_ids;
  for (int n = 0; n < Cluster::kNodes; ++n) {
    Api api(c.port(n));
    auto all = check_history(api, users[static_cast<std::size_t>(n)], conv, acked,
                             "history on node " + std::to_string(n));
    std::vector<std::string> ids;
    for (const auto& m : all) ids.push_back(str(m, "id"));
    if (n == 0)
      first_ids = ids;
    else
      EXPECT_EQ(ids, first_ids) << "node " << n << " serves another order than node 0";
  }
  std::map<std::int64_t, std::string> id_of_seq;
  for (const auto& [cmid, a] : acked) id_of_seq[a.seq] = a.id;

  // Every receiver (each on its node) gets every seq exactly once, with the id history has.
  auto deadline = Clock::now() + 20s;
  std::string order_report;
  for (int u = 0; u < kUsers; ++u) {
    auto& ws = *live[static_cast<std::size_t>(u)];
    std::vector<std::int64_t> arrival;
    std::map<std::int64_t, int> times;
    std::set<std::int64_t> distinct;
    while (distinct.size() < static_cast<std::size_t>(kTotal) && Clock::now() < deadline) {
      std::optional<object> f;
      try {
        f = ws.wait([&](const object& x) { return is_message_of(x, conv); },
                    std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()),
                    "message.created");
      } catch (const std::exception& e) {
        ADD_FAILURE() << "receiver " << u << " (node " << node_of(u) << "): " << e.what();
        break;
      }
      const auto& d = f->at("data");
      auto seq = num(d, "seq");
      arrival.push_back(seq);
      ++times[seq];
      distinct.insert(seq);
      EXPECT_EQ(str(d, "id"), id_of_seq[seq]) << "receiver " << u << " seq " << seq;
    }
    // Anything queued behind (a repeat) has arrived once the pong does.
    ws.sync(10s);
    for (const auto& f : ws.kept())
      if (is_message_of(f, conv)) {
        auto seq = num(f.at("data"), "seq");
        arrival.push_back(seq);
        ++times[seq];
      }
    ws.forget();
    EXPECT_EQ(std::vector<std::int64_t>(distinct.begin(), distinct.end()), range(1, kTotal))
        << "receiver " << u << " on node " << node_of(u) << " missed seqs";
    int repeats = 0;
    for (const auto& [seq, n] : times) repeats += n - 1;
    EXPECT_EQ(repeats, 0) << "receiver " << u << " got " << repeats << " seqs more than once";
    int inversions = 0;
    std::int64_t max_seen = 0;
    for (auto s : arrival) {
      if (s < max_seen) ++inversions;
      max_seen = std::max(max_seen, s);
    }
    order_report += " u" + std::to_string(u) + "@node" + std::to_string(node_of(u)) + "=" +
                    std::to_string(inversions);
  }
  observe("live message.created arriving below an earlier seq, per receiver (of " +
          std::to_string(kTotal) + "):" + order_report);
  for (int n = 0; n < Cluster::kNodes; ++n) {
    Api api(c.port(n));
    auto r = get_conv(api, users[0], conv);
    EXPECT_EQ(num(r.json, "last_seq"), kTotal) << "node " << n << ": " << r;
  }
}

// ---- 3. a node killed with SIGKILL during a stream of sends ----

TEST_F(MultiNodeFailover, NodeKilledMidStreamItsClientsReconnectThroughNginxAndCatchUp) {
  auto& c = cluster();
  constexpr int kWsSenders = 3, kHttpSenders = 3, kReaders = 3;
  constexpr int kSenders = kWsSenders + kHttpSenders;
  constexpr int kEach = 80;
  constexpr int kTotal = kSenders * kEach;
  Api via(c.proxy, 10s);
  std::vector<Account> senders(kSenders), readers(kReaders);
  run_parallel(4, [&](int t) {
    Api api(c.proxy);
    for (int i = t; i < kSenders + kReaders; i += 4) {
      auto a = register_account(api, "mnf");
      if (i < kSenders)
        senders[static_cast<std::size_t>(i)] = a;
      else
        readers[static_cast<std::size_t>(i - kSenders)] = a;
    }
  });
  std::string conv;
  {
    std::vector<std::string> others;
    for (int i = 1; i < kSenders; ++i) others.push_back(senders[static_cast<std::size_t>(i)].id);
    for (const auto& r : readers) others.push_back(r.id);
    conv = make_group(via, senders[0], others);
  }

  // Every socket goes through nginx (round robin). Which node took it shows in the nodes'
  // open-WebSocket gauges, read after each connect.
  std::vector<int> before(Cluster::kNodes, 0);
  auto landed_on = [&]() {
    for (int deadline_tries = 0; deadline_tries < 100; ++deadline_tries) {
      for (int n = 0; n < Cluster::kNodes; ++n) {
        int now = c.websockets_on(n);
        if (now > before[static_cast<std::size_t>(n)]) {
          before[static_cast<std::size_t>(n)] = now;
          return n;
        }
      }
      std::this_thread::sleep_for(10ms);
    }
    return -1;
  };
  std::vector<std::unique_ptr<Reader>> reader_clients;
  std::vector<std::unique_ptr<Live>> ws_senders;
  std::vector<int> node_of_reader, node_of_ws_sender;
  for (int i = 0; i < std::max(kReaders, kWsSenders); ++i) {
    if (i < kReaders) {
      reader_clients.push_back(
          std::make_unique<Reader>(c.proxy, c.proxy, readers[static_cast<std::size_t>(i)], conv));
      node_of_reader.push_back(landed_on());
    }
    if (i < kWsSenders) {
      ws_senders.push_back(std::make_unique<Live>(c.proxy, senders[static_cast<std::size_t>(i)]));
      node_of_ws_sender.push_back(landed_on());
    }
  }
  // The victim: the node holding the most of these sockets (round robin: two each).
  std::vector<int> load(Cluster::kNodes, 0);
  for (int n : node_of_reader) ASSERT_GE(n, 0) << "a reader's socket is on no node";
  for (int n : node_of_ws_sender) ASSERT_GE(n, 0) << "a sender's socket is on no node";
  for (int n : node_of_reader) ++load[static_cast<std::size_t>(n)];
  for (int n : node_of_ws_sender) ++load[static_cast<std::size_t>(n)];
  const int victim = static_cast<int>(std::max_element(load.begin(), load.end()) - load.begin());
  int victim_clients = load[static_cast<std::size_t>(victim)];
  {
    std::string where = "readers on nodes";
    for (int n : node_of_reader) where += " " + std::to_string(n);
    where += ", socket senders on nodes";
    for (int n : node_of_ws_sender) where += " " + std::to_string(n);
    observe(where + "; killing node " + std::to_string(victim) + " (" +
            std::to_string(victim_clients) + " of these sockets)");
  }
  ASSERT_GE(victim_clients, 1);
  for (auto& r : reader_clients) r->start();

  AckBook book;
  std::atomic<bool> killed{false};
  std::atomic<int> ws_resends{0}, http_retries{0}, sender_reconnects{0};
  std::mutex mu;
  std::map<int, int> http_retry_statuses;
  std::vector<int> sender_reconnects_of(kWsSenders, 0);
  auto cmid_of = [](int t, int i) { return "f" + std::to_string(t) + "-" + std::to_string(i); };

  std::vector<std::thread> threads;
  for (int t = 0; t < kSenders; ++t) {
    threads.emplace_back([&, t] {
      const Account& me = senders[static_cast<std::size_t>(t)];
      try {
        if (t < kWsSenders) {
          auto ws = std::move(ws_senders[static_cast<std::size_t>(t)]);
          int req_no = 0;
          for (int i = 0; i < kEach; ++i) {
            auto cmid = cmid_of(t, i);
            for (int attempt = 0;; ++attempt) {
              if (!ws) {  // reconnect through nginx; the retry below re-sends the same cmid
                auto lost = Clock::now();
                while (!ws) {
                  try {
                    ws = std::make_unique<Live>(c.proxy, me);
                  } catch (const std::exception& e) {
                    if (Clock::now() - lost > 20s) throw;
                    std::this_thread::sleep_for(50ms);
                  }
                }
                ++sender_reconnects;
                std::lock_guard lock(mu);
                ++sender_reconnects_of[static_cast<std::size_t>(t)];
              }
              if (attempt > 0) ++ws_resends;
              auto req = "q" + std::to_string(++req_no);
              object ans;
              try {
                ws->send(send_frame(req, conv, "failover " + cmid, cmid));
                ans = ws->answer(req, 10s);
              } catch (const std::exception& e) {
                if (!ws->raw().close_code() || attempt > 5) throw;
                ws.reset();  // its node died: reconnect and send the same message again
                continue;
              }
              if (str(ans, "type") != "ack")
                return book.problem("WS send " + cmid + ": " + dump(ans));
              book.add(cmid, ans.at("message").as_object(), me.id);
              break;
            }
            if (i % 20 == 0) ws->forget();
          }
        } else {
          Api api(c.proxy, 10s);
          for (int i = 0; i < kEach; ++i) {
            auto cmid = cmid_of(t, i);
            auto give_up = Clock::now() + 20s;
            for (;;) {
              auto r = send(api, me, conv, "failover " + cmid, cmid);
              if (r.status == 201 || r.status == 200) {
                book.add(cmid, r.obj(), me.id);
                break;
              }
              // The request that was on the dying node: 502 from nginx (or the connection
              // failed). Retried with the same client_msg_id: stored once, whatever happened.
              {
                std::lock_guard lock(mu);
                ++http_retry_statuses[r.status];
              }
              ++http_retries;
              if (!killed || Clock::now() > give_up)
                return book.problem("HTTP send " + cmid + ": " + std::to_string(r.status) + " " +
                                    r.body.substr(0, 200));
              std::this_thread::sleep_for(20ms);
            }
          }
        }
      } catch (const std::exception& e) {
        book.problem("sender " + std::to_string(t) + ": " + e.what());
      }
    });
  }

  // Kill the victim once a third of the stream is acknowledged.
  auto deadline = Clock::now() + 30s;
  while (book.count() < kTotal / 3 && Clock::now() < deadline) std::this_thread::sleep_for(1ms);
  const int acked_at_kill = book.count();
  auto& node = *c.nodes[static_cast<std::size_t>(victim)];
  killed = true;
  node.send_signal(SIGKILL);
  auto killed_at = Clock::now();
  auto status = node.wait_exit(10s);
  for (auto& th : threads) th.join();
  auto stream_done = Clock::now();

  ASSERT_TRUE(status) << "the node did not die";
  EXPECT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == SIGKILL) << "wait status " << *status;
  EXPECT_GT(acked_at_kill, 0);
  EXPECT_LT(acked_at_kill, kTotal) << "the kill came after the stream ended";
  auto problems = book.problems();
  ASSERT_TRUE(problems.empty()) << problems.size()
                                << " senders failed, first: " << problems.front();
  auto acked = book.acked();
  ASSERT_EQ(acked.size(), static_cast<std::size_t>(kTotal)) << "not every message was acknowledged";

  // History (through nginx: the survivors): 1..N, every ack in it, no client_msg_id twice.
  auto all = check_history(via, readers[0], conv, acked, "history after the kill");
  EXPECT_EQ(all.size(), static_cast<std::size_t>(kTotal)) << "duplicates or strays stored";

  // Every reader ends with every seq, live or caught up, each with the id history has.
  for (auto& r : reader_clients) r->finish(kTotal, Clock::now() + 20s);
  int readers_reconnected = 0;
  std::string report;
  for (std::size_t i = 0; i < reader_clients.size(); ++i) {
    auto& r = *reader_clients[i];
    auto errors = r.errors();
    EXPECT_TRUE(errors.empty()) << errors.front();
    auto known = r.known();
    std::vector<std::int64_t> seqs;
    for (const auto& [seq, id] : known) {
      seqs.push_back(seq);
      if (seq >= 1 && seq <= static_cast<std::int64_t>(all.size())) {
        EXPECT_EQ(id, str(all[static_cast<std::size_t>(seq - 1)], "id"))
            << "reader " << i << " seq " << seq;
      }
    }
    EXPECT_EQ(seqs, range(1, kTotal)) << "reader " << i << " did not catch up";
    auto st = r.stats();
    EXPECT_EQ(st.live_dups, 0) << "reader " << i << " got a seq twice on one socket";
    const bool on_victim = node_of_reader[i] == victim;
    if (on_victim) {
      EXPECT_GE(st.reconnects, 1) << "reader " << i
                                  << " was on the killed node and never reconnected";
      ++readers_reconnected;
    } else {
      EXPECT_EQ(st.reconnects, 0) << "reader " << i << " on a surviving node lost its socket";
    }
    report += " reader" + std::to_string(i) + "@node" + std::to_string(node_of_reader[i]) +
              ": live " + std::to_string(st.live) + ", from history " +
              std::to_string(st.caught_up) + " (" + std::to_string(st.catch_ups) +
              " fetches), out of order " + std::to_string(st.out_of_order) + ", reconnects " +
              std::to_string(st.reconnects) +
              (st.reconnects ? " (back in " + std::to_string(st.reconnect_ms) + " ms)" : "") + ";";
  }
  for (int t = 0; t < kWsSenders; ++t) {
    if (node_of_ws_sender[static_cast<std::size_t>(t)] == victim) {
      EXPECT_GE(sender_reconnects_of[static_cast<std::size_t>(t)], 1)
          << "socket sender " << t << " was on the killed node and never reconnected";
    } else {
      EXPECT_EQ(sender_reconnects_of[static_cast<std::size_t>(t)], 0)
          << "socket sender " << t << " on a surviving node lost its socket";
    }
  }
  std::string statuses;
  for (const auto& [st, n] : http_retry_statuses)
    statuses += " " + std::to_string(n) + "x" + std::to_string(st);
  observe(
      "killed node " + std::to_string(victim) + " after " + std::to_string(acked_at_kill) + " of " +
      std::to_string(kTotal) + " acks; stream finished " +
      std::to_string(
          std::chrono::duration_cast<std::chrono::milliseconds>(stream_done - killed_at).count()) +
      " ms later; socket senders reconnected " + std::to_string(sender_reconnects.load()) +
      " times, re-sent " + std::to_string(ws_resends.load()) + "; HTTP sends retried " +
      std::to_string(http_retries.load()) + (statuses.empty() ? "" : " (" + statuses + " )") + ";" +
      report);

  // The survivors still work: a send through nginx reaches a reader on each surviving node.
  auto m = send_ok(via, senders[0], conv, "after the failover");
  EXPECT_EQ(num(m, "seq"), kTotal + 1);
  for (int n = 0; n < Cluster::kNodes; ++n) {
    if (n == victim) continue;
    EXPECT_TRUE(c.nodes[static_cast<std::size_t>(n)]->running() &&
                !c.nodes[static_cast<std::size_t>(n)]->wait_exit(0ms))
        << "surviving node " << n << " died";
  }
}

// ---- 4. Redis restarted mid-stream ----

TEST_F(MultiNodeRedisRestart, RedisRestartedMidStreamLosesNothingAndRealTimeResumesByItself) {
  auto& c = cluster();
  ASSERT_TRUE(c.own_redis);
  // Senders: one socket on each node, plus one over HTTP through nginx (all nodes in turn).
  // Readers: one on each node, straight to its port.
  constexpr int kWsSenders = Cluster::kNodes, kSenders = kWsSenders + 1;
  std::vector<Account> senders(kSenders), readers(Cluster::kNodes);
  run_parallel(Cluster::kNodes, [&](int n) {
    Api api(c.port(n));
    senders[static_cast<std::size_t>(n)] = register_account(api, "mnrs");
    readers[static_cast<std::size_t>(n)] = register_account(api, "mnrr");
    if (n == 0) senders[kWsSenders] = register_account(api, "mnrh");
  });
  std::string conv;
  {
    Api api(c.port(0));
    std::vector<std::string> others;
    for (int i = 1; i < kSenders; ++i) others.push_back(senders[static_cast<std::size_t>(i)].id);
    for (const auto& r : readers) others.push_back(r.id);
    conv = make_group(api, senders[0], others);
  }
  std::vector<std::unique_ptr<Reader>> reader_clients;
  for (int n = 0; n < Cluster::kNodes; ++n)
    reader_clients.push_back(
        std::make_unique<Reader>(c.port(n), c.port(n), readers[static_cast<std::size_t>(n)], conv));
  std::vector<std::unique_ptr<Live>> ws_senders;
  for (int n = 0; n < Cluster::kNodes; ++n)
    ws_senders.push_back(std::make_unique<Live>(c.port(n), senders[static_cast<std::size_t>(n)]));
  for (auto& r : reader_clients) r->start();

  AckBook book;
  std::atomic<bool> stop{false};
  std::atomic<int> next_no{0};
  // One send by sender t (a socket on node t, or HTTP through nginx); the message, or throws.
  auto http_via = std::make_unique<Api>(c.proxy, 10s);
  std::vector<int> req_no(kSenders, 0);
  auto send_one = [&](int t, const std::string& text, const std::string& cmid) -> object {
    const Account& me = senders[static_cast<std::size_t>(t)];
    if (t < kWsSenders) {
      auto& ws = *ws_senders[static_cast<std::size_t>(t)];
      auto req = "q" + std::to_string(++req_no[static_cast<std::size_t>(t)]);
      ws.send(send_frame(req, conv, text, cmid));
      auto ans = ws.answer(req, 10s);
      if (str(ans, "type") != "ack") throw std::runtime_error("WS send " + cmid + ": " + dump(ans));
      if (req_no[static_cast<std::size_t>(t)] % 20 == 0) ws.forget();
      return ans.at("message").as_object();
    }
    auto r = send(*http_via, me, conv, text, cmid);
    if (r.status != 201)
      throw std::runtime_error("HTTP send " + cmid + ": " + r.body.substr(0, 200));
    return r.obj();
  };

  std::vector<std::thread> threads;
  for (int t = 0; t < kSenders; ++t)
    threads.emplace_back([&, t] {
      try {
        while (!stop) {
          auto cmid = "rr" + std::to_string(t) + "-" + std::to_string(++next_no);
          book.add(cmid, send_one(t, "stream " + cmid, cmid),
                   senders[static_cast<std::size_t>(t)].id);
          std::this_thread::sleep_for(3ms);
        }
      } catch (const std::exception& e) {
        book.problem(std::string("sender ") + std::to_string(t) + ": " + e.what());
      }
    });
  auto wait_acks = [&](int n, std::chrono::milliseconds limit) {
    auto until = Clock::now() + limit;
    int target = book.count() + n;
    while (book.count() < target && Clock::now() < until && book.problems().empty())
      std::this_thread::sleep_for(2ms);
    return book.count() >= target;
  };

  EXPECT_TRUE(wait_acks(60, 20s)) << "the stream did not get going";
  const int before_restart = book.count();
  // Down for at least 1 s (the nodes' reconnect backoff grows meanwhile) and 30 acknowledged
  // sends, then back at the same address.
  auto down_at = Clock::now();
  c.own_redis->stop();
  EXPECT_TRUE(wait_acks(30, 5s)) << "sends stalled while Redis was down";
  std::this_thread::sleep_until(down_at + 1s);
  const int during_outage = book.count() - before_restart;
  auto restart_err = c.own_redis->restart();
  auto up_at = Clock::now();
  ASSERT_TRUE(restart_err.empty())
      << "Redis did not come back at " << c.own_redis->url() << ": " << restart_err;
  EXPECT_TRUE(wait_acks(60, 20s)) << "the stream did not go on after Redis came back";
  stop = true;
  for (auto& th : threads) th.join();
  auto problems = book.problems();
  ASSERT_TRUE(problems.empty()) << problems.size()
                                << " senders failed, first: " << problems.front();
  observe("Redis down " +
          std::to_string(
              std::chrono::duration_cast<std::chrono::milliseconds>(up_at - down_at).count()) +
          " ms; " + std::to_string(during_outage) + " sends acknowledged meanwhile; " +
          std::to_string(book.count()) + " in the stream");

  // Real time resumes by itself: every node's sender reaches every other node's reader live,
  // with no reconnect. Probe rounds until one gets through everywhere.
  auto probe_round = [&](const std::string& tag, int per_sender, std::chrono::milliseconds wait) {
    std::vector<std::pair<int, std::string>> sent;  // (sender node, id)
    for (int t = 0; t < kWsSenders; ++t)
      for (int k = 0; k < per_sender; ++k) {
        auto cmid = tag + "-" + std::to_string(t) + "-" + std::to_string(k);
        auto m = send_one(t, tag + " " + cmid, cmid);
        book.add(cmid, m, senders[static_cast<std::size_t>(t)].id);
        sent.emplace_back(t, str(m, "id"));
      }
    auto until = Clock::now() + wait;
    int missing = 0;
    do {
      missing = 0;
      for (int n = 0; n < Cluster::kNodes; ++n)
        for (const auto& [from, id] : sent)
          if (from != n && !reader_clients[static_cast<std::size_t>(n)]->saw_live(id)) ++missing;
      if (missing == 0) break;
      std::this_thread::sleep_for(20ms);
    } while (Clock::now() < until);
    return missing;
  };
  bool resumed = false;
  int rounds = 0;
  auto resume_deadline = up_at + 20s;
  while (!resumed && Clock::now() < resume_deadline) {
    ++rounds;
    resumed = probe_round("probe" + std::to_string(rounds), 1, 500ms) == 0;
  }
  ASSERT_TRUE(resumed) << "real-time delivery between nodes did not resume within 20 s of Redis "
                          "coming back; node 0 output:\n"
                       << c.nodes[0]->logs().substr(0, 4000);
  observe("cross-node real time back " + ms_since(up_at) + " after Redis came back (" +
          std::to_string(rounds) + " probe rounds)");
  // And it stays back: a burst from every node reaches every other node live.
  EXPECT_EQ(probe_round("steady", 20, 10s), 0) << "live events between nodes still missing";

  // Nothing acknowledged is lost: history on every node is 1..N and holds every ack; every
  // reader ends with all of it (the outage's share from history), nobody reconnected.
  auto acked = book.acked();
  const auto total = static_cast<std::int64_t>(acked.size());
  for (int n = 0; n < Cluster::kNodes; ++n) {
    Api api(c.port(n));
    auto all = check_history(api, readers[static_cast<std::size_t>(n)], conv, acked,
                             "history on node " + std::to_string(n));
    EXPECT_EQ(static_cast<std::int64_t>(all.size()), total) << "node " << n;
  }
  std::string report;
  for (int n = 0; n < Cluster::kNodes; ++n) {
    auto& r = *reader_clients[static_cast<std::size_t>(n)];
    r.finish(total, Clock::now() + 20s);
    auto errors = r.errors();
    EXPECT_TRUE(errors.empty()) << errors.front();
    std::vector<std::int64_t> seqs;
    for (const auto& [seq, id] : r.known()) seqs.push_back(seq);
    EXPECT_EQ(seqs, range(1, total)) << "reader on node " << n << " did not catch up";
    auto st = r.stats();
    EXPECT_EQ(st.live_dups, 0) << "reader on node " << n << " got a seq twice";
    EXPECT_EQ(st.reconnects, 0) << "reader on node " << n << " lost its socket";
    report += " node" + std::to_string(n) + ": live " + std::to_string(st.live) +
              ", from history " + std::to_string(st.caught_up) + ", out of order " +
              std::to_string(st.out_of_order) + ";";
  }
  for (int t = 0; t < kWsSenders; ++t)
    EXPECT_FALSE(ws_senders[static_cast<std::size_t>(t)]->raw().close_code())
        << "sender socket " << t << " closed";
  std::string logs_seen;
  for (int n = 0; n < Cluster::kNodes; ++n) {
    auto logs = c.nodes[static_cast<std::size_t>(n)]->logs();
    logs_seen += " node" + std::to_string(n) + ":";
    for (const char* needle :
         {"lost its connection", "reconnected", "queue full", "unavailable; using per-node"})
      if (logs.find(needle) != std::string::npos) logs_seen += std::string(" '") + needle + "'";
  }
  observe("readers:" + report + " log lines:" + logs_seen);
}

}  // namespace
// ---- 5. Membership changed while Redis was down ----

// The member_joined / member_left events of a change made during the outage never reach the
// other nodes; after the bus comes back each node reloads what its users follow (bus.gap), so
// an added member gets the conversation's events there and a removed one stops getting them.
TEST_F(MultiNodeRedisRestart, MembershipChangedWhileRedisWasDownTakesEffectOnEveryNode) {
  auto& c = cluster();
  ASSERT_TRUE(c.own_redis);
  Api n0(c.port(0));
  auto alice = register_account(n0, "mnga");  // the owner, changing membership on node 0
  auto bob = register_account(n0, "mngb");    // removed during the outage; listens on node 2
  auto carol = register_account(n0, "mngc");  // added during the outage; listens on node 1
  auto conv = make_group(n0, alice, {bob.id});
  Live carol_ws(c.port(1), carol);
  Live bob_ws(c.port(2), bob);
  auto first = send_ok(n0, alice, conv, "before the outage");
  bob_ws.event("message.created", with_id(str(first, "id")), 10s);

  c.own_redis->stop();
  add_members(n0, alice, conv, {carol.id});
  auto removed = n0.del(conv_path(conv) + "/members/" + bob.id, alice.access);
  ASSERT_EQ(removed.status, 204) << removed;
  auto changed_at = Clock::now();
  // Node 0 keeps the two events queued for Redis at most 10 s (max_queue_age_ms of
  // redis::BusOptions): stay down longer, so they are dropped and only the reload can tell the
  // other nodes.
  std::this_thread::sleep_until(changed_at + 10500ms);
  auto restart_err = c.own_redis->restart();
  ASSERT_TRUE(restart_err.empty()) << "Redis did not come back: " << restart_err;

  // Probe until carol (node 1) gets the conversation's messages and bob (node 2) no longer
  // does: each node comes back on the bus and reloads in its own time.
  bool carol_in = false, bob_out = false;
  auto deadline = Clock::now() + 20s;
  for (int i = 0; !(carol_in && bob_out) && Clock::now() < deadline; ++i) {
    auto m = send_ok(n0, alice, conv, "probe " + std::to_string(i));
    carol_in = carol_in || carol_ws.event_within("message.created", with_id(str(m, "id")), 500ms);
    bob_out = !bob_ws.event_within("message.created", with_id(str(m, "id")), 300ms);
  }
  ASSERT_TRUE(carol_in) << "carol, added while Redis was down, got no live message on node 1";
  ASSERT_TRUE(bob_out)
      << "bob, removed while Redis was down, still gets the conversation's messages on node 2";
  auto last = send_ok(n0, alice, conv, "after the reload");
  EXPECT_TRUE(carol_ws.event_within("message.created", with_id(str(last, "id")), 10s))
      << "carol missed a message after the reload";
  EXPECT_FALSE(bob_ws.event_within("message.created", with_id(str(last, "id")), 2s))
      << "bob got a message of a conversation he was removed from";
  EXPECT_FALSE(bob_ws.raw().close_code()) << "bob's socket closed";
}

// ---- 6. Files across nodes: an upload's state is in PostgreSQL and its bytes in S3 ----

TEST_F(MultiNodeFiles, AnUploadStartedOnOneNodeFinishesOnAnotherAndStreamsThroughNginx) {
  auto& c = cluster();
  Api n0(c.port(0)), n1(c.port(1)), proxy(c.proxy);
  auto alice = register_account(n0, "mfa");
  auto bob = register_account(n1, "mfb");
  const std::string bytes = files::random_bytes_of(12 * files::kMiB + 321, 11);
  auto created = files::create_upload(n0, alice, bytes.size(), "across.bin");
  ASSERT_EQ(created.status, 201) << created;
  const std::string location = created.header("Location");
  // tus clients upload in chunks: the first on node 0 (a whole part and a tail), the rest on
  // node 1, which knows nothing of it but what the database and S3 hold.
  const std::size_t first = 9 * files::kMiB;
  auto p0 = files::patch_upload(n0, alice, location, 0, std::string_view(bytes).substr(0, first));
  ASSERT_EQ(p0.status, 204) << p0;
  auto head = n1.call("HEAD", location, {}, alice.access, files::tus());
  EXPECT_EQ(head.header("Upload-Offset"), std::to_string(first));
  auto p1 =
      files::patch_upload(n1, alice, location, first, std::string_view(bytes).substr(first));
  ASSERT_EQ(p1.status, 204) << p1;
  const std::string id = p1.header("Parley-File-Id");
  ASSERT_FALSE(id.empty());

  auto conv = make_group(n0, alice, {bob.id});
  auto sent = n0.post(conv_path(conv) + "/messages",
                      object{{"text", "across nodes"},
                             {"client_msg_id", fresh_cmid()},
                             {"attachments", array{value(id)}}},
                      alice.access);
  ASSERT_EQ(sent.status, 201) << sent;
  // Bob downloads through nginx, whichever node answers.
  auto got = files::download(proxy, bob, id);
  ASSERT_EQ(got.status, 200) << got.status;
  EXPECT_TRUE(got.body == bytes);
  EXPECT_EQ(files::sha256_hex(got.body), str(arr(sent.json, "attachments")[0], "sha256"));

  // An upload through nginx larger than its ordinary body limit (1 MiB) streams through.
  const std::string more = files::random_bytes_of(3 * files::kMiB, 12);
  auto via_proxy = files::upload(proxy, bob, more, "proxied.bin");
  EXPECT_EQ(num(via_proxy, "size"), static_cast<std::int64_t>(more.size()));
  EXPECT_TRUE(files::download(n0, bob, str(via_proxy, "id")).body == more);
}

}  // namespace parley::itest
