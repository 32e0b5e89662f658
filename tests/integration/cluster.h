// The multi-node test rig (multinode_test.cc, shared_redis_test.cc, calls_multinode_test.cc):
// throw-away Redis and nginx started through scripts/*.sh, a PostgreSQL database of a test's own,
// and a cluster of three real servers on one PostgreSQL and one Redis behind nginx, one per
// suite (ClusterTest).
//
// Needs PARLEY_TEST_POSTGRES_URL, PARLEY_TEST_REDIS_URL (`make test` starts both), psql and
// nginx; Cluster::start says which is missing, and the fixture skips with that line. Everything
// here is used from the test's thread: the nodes get SIGKILL when the thread that started them
// ends (PR_SET_PDEATHSIG), so no helper threads start them. Set-up failures are returned as text;
// nothing throws.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "harness.h"
#include "support/shell.h"

namespace parley::itest {

using support::run_shell;
using support::sh_quote;
using support::ShellRun;

// ---- processes and scripts ----

// The variable's value; "" when it is not set.
std::string getenv_str(const char* name);
// The source tree (scripts/ is in it).
std::string source_dir();

// The PostgreSQL and Redis that `make test` starts for the tests (PARLEY_TEST_POSTGRES_URL,
// PARLEY_TEST_REDIS_URL) into *postgres and *redis: "" when both are set, otherwise the line a
// test skips with.
std::string shared_postgres_and_redis(std::string* postgres, std::string* redis);

// A port below the kernel's ephemeral range (32768 and up on Linux), so that no outgoing
// connection holds it when a script binds it.
std::uint16_t random_port();

// A throw-away server started through scripts/<name>.sh (redis or nginx), in a folder and at a
// first port of its own (PARLEY_<NAME>_DIR, PARLEY_<NAME>_PORT).
class ScriptServer {
 public:
  explicit ScriptServer(std::string name)
      : name_(std::move(name)),
        dir_((std::filesystem::temp_directory_path() /
              ("parley-mn-" + name_ + "-" + std::to_string(::getpid()) + "-" + unique_name("d")))
                 .string()) {}
  ~ScriptServer() { stop(); }
  ScriptServer(const ScriptServer&) = delete;
  ScriptServer& operator=(const ScriptServer&) = delete;

  // Starts it (a few tries, each at another random first port); the URL it printed, or "" with
  // *why set. *not_installed when the script says so (exit status 3).
  std::string start(const std::string& args, std::string* why, bool* not_installed);
  // Stops it and starts it again at the same URL (retrying while the port is not free yet).
  // Empty on success, otherwise why not.
  std::string restart(std::chrono::milliseconds down = 0ms);
  // Starts it again after stop(), at the same URL (retrying while the port is not free yet).
  // Empty on success, otherwise why not.
  std::string start_again();
  void stop() { run("stop"); }
  const std::string& url() const { return url_; }

 private:
  ShellRun run(const std::string& args) {
    std::string upper;
    for (char c : name_) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return run_shell("PARLEY_" + upper + "_DIR=" + sh_quote(dir_) + " PARLEY_" + upper +
                     "_PORT=" + std::to_string(port_) + " " +
                     sh_quote(source_dir() + "/scripts/" + name_ + ".sh") + " " + args);
  }

  std::string name_, dir_, url_;
  std::uint16_t port_ = 0;
};

// psql on PATH, else the newest /usr/lib/postgresql/*/bin/psql; "" when neither.
std::string find_psql();

// The URL with its database name replaced (postgres://USER@HOST:PORT/DB?QUERY).
std::string with_database(const std::string& url, const std::string& db);

// A database of its own on the test PostgreSQL, dropped when it goes.
class OwnDatabase {
 public:
  // Empty on success, otherwise why not.
  std::string create(const std::string& base_url, const std::string& psql);
  ~OwnDatabase() {
    if (created_) admin("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  }
  const std::string& url() const { return url_; }
  const std::string& name() const { return name_; }

 private:
  ShellRun admin(const std::string& sql) {
    return run_shell("PGCONNECT_TIMEOUT=10 " + sh_quote(psql_) + " " + sh_quote(base_) +
                     " -v ON_ERROR_STOP=1 -qAt -c " + sh_quote(sql));
  }
  std::string base_, psql_, name_, url_;
  bool created_ = false;
};

// ---- the cluster ----

struct ClusterOptions {
  bool own_redis = false;  // a Redis of its own, which the test may restart
  bool s3 = false;         // files on the S3 at PARLEY_TEST_S3_URL (skipped without it)
};

class Cluster {
 public:
  static constexpr int kNodes = 3;
  static constexpr std::chrono::milliseconds kPresenceGrace{1000};

  // Empty when it runs; otherwise why not (skip_ tells whether that is a skip).
  std::string start(const ClusterOptions& o);

  ~Cluster() {
    if (nginx) nginx->stop();
    nodes.clear();  // before the database goes
  }

  std::uint16_t port(int i) const { return nodes[static_cast<std::size_t>(i)]->port(); }

  // Open WebSockets on node i (its /metrics), -1 when unreadable.
  int websockets_on(int i) {
    Api api(port(i));
    auto n = metric_value(api, "parley_open_connections{kind=\"websocket\"}");
    return n ? static_cast<int>(*n) : -1;
  }

  bool skipped = false;
  OwnDatabase db;  // declared before the nodes: dropped after they stop
  std::unique_ptr<ScriptServer> own_redis;
  std::string redis_url;
  std::vector<std::unique_ptr<ServerProcess>> nodes;
  std::unique_ptr<ScriptServer> nginx;
  std::uint16_t proxy = 0;

 private:
  std::string skip(std::string why) {
    skipped = true;
    return why;
  }
};

// One cluster per suite (ctest runs each test in a process of its own, so there it is one per
// test); tests make their own users and conversations.
template <class Suite>
class ClusterTest : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    cluster_ = std::make_unique<Cluster>();
    auto t0 = Clock::now();
    error_ = cluster_->start(Suite::options());
    if (error_.empty())
      observe("cluster up (database " + cluster_->db.name() + ", 3 nodes, nginx on " +
              std::to_string(cluster_->proxy) + ") in " + ms_since(t0));
  }
  static void TearDownTestSuite() { cluster_.reset(); }

  static void observe(const std::string& line) {
    std::cout << "[ observe  ] " << line << std::endl;
  }
  static std::string ms_since(Clock::time_point t0) {
    return std::to_string(
               std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count()) +
           " ms";
  }

 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_);
    if (cluster_->skipped) GTEST_SKIP() << error_;
    ASSERT_TRUE(error_.empty()) << error_;
    for (int i = 0; i < Cluster::kNodes; ++i) {
      auto& n = *cluster_->nodes[static_cast<std::size_t>(i)];
      auto exited = n.wait_exit(0ms);
      ASSERT_TRUE(n.running() && !exited)
          << "node " << i << " is gone (running " << n.running() << ", wait status "
          << (exited ? std::to_string(*exited) : "none") << "); output:\n"
          << n.logs();
    }
  }
  static Cluster& cluster() { return *cluster_; }

  static inline std::unique_ptr<Cluster> cluster_;
  static inline std::string error_;
};

}  // namespace parley::itest
