// The monitoring kit against a real Prometheus: starts a Parley, makes a little traffic (register,
// a WebSocket, a send over HTTP and over the socket), starts Debian's Prometheus on loopback
// (scripts/prometheus.sh) scraping it every second, and then, for every expr in
// deploy/prometheus/parley.rules.yml and every panel of deploy/grafana/*.json:
//   - /api/v1/query answers status "success" (the expr parses and evaluates), and
//   - every parley_* / process_* metric name the expr uses is one Prometheus has scraped
//     (/api/v1/label/__name__/values).
// Exprs on node_exporter's series (node_*) are checked for syntax and evaluation only: no
// node_exporter runs here. parley_redis_* series exist only with --redis: they are checked for
// existence when PARLEY_TEST_REDIS_URL is set (`make test` starts a Redis), otherwise only
// evaluated. Skips with one line when prometheus is not installed. (`promtool check rules` runs
// as its own CTest test, promtool_check_rules.)
#include <sys/wait.h>

#include <boost/json.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "chat_support.h"
#include "harness.h"

namespace parley::itest {
namespace {

using namespace chat;
namespace fs = std::filesystem;

const fs::path kSource = PARLEY_SOURCE_DIR;

struct Expr {
  std::string where;  // file and rule or panel, for failure messages
  std::string text;
};

// `expr:` values of the rules file (written by us: one line each, unquoted).
std::vector<Expr> rule_exprs(const fs::path& file) {
  std::vector<Expr> out;
  std::ifstream in(file);
  std::string line, alert;
  while (std::getline(in, line)) {
    auto p = line.find_first_not_of(' ');
    if (p == std::string::npos) continue;
    std::string_view l(line);
    l.remove_prefix(p);
    if (l.starts_with("- alert:")) alert = std::string(l.substr(8));
    if (l.starts_with("expr:")) {
      std::string e(l.substr(5));
      e.erase(0, e.find_first_not_of(' '));
      out.push_back({file.filename().string() + alert, e});
    }
  }
  return out;
}

// Every "expr" string anywhere in a Grafana dashboard (panels, rows, targets).
void collect_json_exprs(const boost::json::value& v, const std::string& where,
                        std::vector<Expr>& out) {
  if (v.is_object()) {
    const auto& o = v.as_object();
    std::string here = where;
    if (auto t = o.if_contains("title"); t && t->is_string())
      here = where + " / " + std::string(t->as_string());
    for (const auto& [k, child] : o) {
      if (k == "expr" && child.is_string())
        out.push_back({here, std::string(child.as_string())});
      else
        collect_json_exprs(child, here, out);
    }
  } else if (v.is_array()) {
    for (const auto& child : v.as_array()) collect_json_exprs(child, where, out);
  }
}

// Grafana's variables, as a query against this Prometheus would see them.
std::string expand_grafana(std::string e, const std::string& instance) {
  auto replace_all = [&](const std::string& from, const std::string& to) {
    for (auto at = e.find(from); at != std::string::npos; at = e.find(from, at + to.size()))
      e.replace(at, from.size(), to);
  };
  replace_all("$__rate_interval", "1m");
  replace_all("$__interval", "15s");
  replace_all("${instance}", instance);
  replace_all("$instance", instance);
  return e;
}

// Metric names an expr uses: identifiers starting parley_, process_ or node_ (label names and
// values never start so in these files; a quoted string is skipped).
std::set<std::string> metric_names(const std::string& expr) {
  std::set<std::string> out;
  static const std::regex kName(R"(\b((parley|process|node)_[A-Za-z0-9_]*))");
  std::string unquoted;
  bool quoted = false;
  for (char c : expr) {
    if (c == '"') quoted = !quoted;
    unquoted += quoted ? ' ' : c;
  }
  for (std::sregex_iterator it(unquoted.begin(), unquoted.end(), kName), end; it != end; ++it)
    out.insert((*it)[1].str());
  return out;
}

struct Shell {
  int status = -1;
  std::string out;
};
Shell shell(const std::string& cmd) {
  Shell r;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  while (!r.out.empty() && (r.out.back() == '\n' || r.out.back() == '\r')) r.out.pop_back();
  return r;
}

class PrometheusTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (!prom_dir_.empty())
      shell((kSource / "scripts/prometheus.sh").string() + " stop " + prom_dir_);
  }
  std::string prom_dir_;
};

TEST_F(PrometheusTest, EveryRuleAndPanelExprEvaluatesOnScrapedSeries) {
  if (shell("command -v prometheus").status != 0)
    GTEST_SKIP() << "prometheus is not installed (scripts/install-deps.sh installs it)";

  std::vector<std::string> args = {"--rate-limits", kGenerousLimits};
  const char* redis = std::getenv("PARLEY_TEST_REDIS_URL");
  const bool with_redis = redis && *redis;
  if (with_redis) {
    args.push_back("--redis");
    args.push_back(redis);
  } else {
    std::cout << "[ note ] PARLEY_TEST_REDIS_URL is not set: parley_redis_* exprs are evaluated "
                 "but their series are not required\n";
  }
  ServerProcess server(args);
  auto err = server.start();
  ASSERT_TRUE(err.empty()) << err;

  // A little traffic: two users, a DM, a send over HTTP and one over the socket, a 404, a search
  // and an AI job.
  Api api(server.port());
  auto a = register_account(api, "pa");
  auto b = register_account(api, "pb");
  auto dm = make_dm(api, a, b.id);
  auto ws = ws_ready(server.port(), b.access);
  send_ok(api, a, dm, "hello metrics");
  ASSERT_TRUE(ws->send_text(boost::json::serialize(object{{"type", "send"},
                                                          {"req", "r1"},
                                                          {"conversation_id", dm},
                                                          {"text", "over the socket"},
                                                          {"client_msg_id", fresh_cmid()}})));
  (void)ws_read(*ws);
  EXPECT_EQ(api.get("/api/v1/nope").status, 404);
  EXPECT_EQ(api.get("/api/v1/search/messages?q=hello", a.access).status, 200);
  // An AI job (the built-in engine's smart replies), so the job-duration histogram has a series.
  auto replies = api.get("/api/v1/conversations/" + dm + "/smart-replies", b.access);
  EXPECT_EQ(replies.status, 200) << replies;

  // Prometheus scraping this node.
  // Its own folder: the server's is deleted with it, before TearDown stops Prometheus.
  std::string tmpl = (fs::temp_directory_path() / "parley-prom-XXXXXX").string();
  ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
  prom_dir_ = tmpl;
  auto started = shell((kSource / "scripts/prometheus.sh").string() + " start " + prom_dir_ + " " +
                       std::to_string(server.port()));
  ASSERT_EQ(started.status, 0) << started.out;
  ASSERT_TRUE(started.out.starts_with("http://127.0.0.1:")) << started.out;
  const auto prom_port =
      static_cast<std::uint16_t>(std::stoi(started.out.substr(started.out.rfind(':') + 1)));
  const std::string instance = "127.0.0.1:" + std::to_string(server.port());
  Api prom(prom_port);

  auto query = [&](const std::string& expr) {
    return prom.get("/api/v1/query?query=" + pct(expr));
  };
  // Service discovery hands targets to the scraper every 5 s; then one scrape a second.
  bool up = false;
  for (auto deadline = Clock::now() + 30s; Clock::now() < deadline && !up;) {
    auto r = query("up{job=\"parley\",instance=\"" + instance + "\"} == 1");
    if (r.status == 200 && r.json.is_object()) {
      const auto* data = r.json.as_object().if_contains("data");
      const auto* result =
          data && data->is_object() ? data->as_object().if_contains("result") : nullptr;
      up = result && result->is_array() && !result->as_array().empty();
    }
    if (!up) std::this_thread::sleep_for(250ms);
  }
  ASSERT_TRUE(up) << "Prometheus never scraped the node\n"
                  << shell("tail -20 " + prom_dir_ + "/prometheus.log").out;
  // Two more scrapes so rate() over counters has points, after the traffic above.
  std::this_thread::sleep_for(2500ms);

  auto names_reply = prom.get("/api/v1/label/__name__/values");
  ASSERT_EQ(names_reply.status, 200) << names_reply;
  std::set<std::string> scraped;
  for (const auto& n : names_reply.obj().at("data").as_array())
    scraped.insert(std::string(n.as_string()));

  std::vector<Expr> exprs = rule_exprs(kSource / "deploy/prometheus/parley.rules.yml");
  const auto rules_count = exprs.size();
  EXPECT_GE(rules_count, 6u);
  int dashboards = 0;
  for (const auto& f : fs::directory_iterator(kSource / "deploy/grafana")) {
    if (f.path().extension() != ".json") continue;
    std::ifstream in(f.path());
    std::stringstream text;
    text << in.rdbuf();
    boost::system::error_code ec;
    auto v = boost::json::parse(text.str(), ec);
    ASSERT_FALSE(ec) << f.path() << ": " << ec.message();
    collect_json_exprs(v, f.path().filename().string(), exprs);
    ++dashboards;
  }
  EXPECT_GE(dashboards, 4);
  EXPECT_GT(exprs.size(), rules_count);

  std::set<std::string> node_exporter_only;
  for (const auto& e : exprs) {
    auto expr = expand_grafana(e.text, instance);
    auto r = query(expr);
    EXPECT_EQ(r.status, 200) << e.where << ": " << expr << "\n" << r;
    EXPECT_EQ(r.str("status"), "success") << e.where << ": " << expr << "\n" << r;
    for (const auto& name : metric_names(expr)) {
      if (name.starts_with("node_")) {
        node_exporter_only.insert(e.where);
        continue;
      }
      if (name.starts_with("parley_redis_") && !with_redis) continue;
      EXPECT_TRUE(scraped.count(name)) << e.where << ": " << name << " is not a scraped series";
    }
  }
  for (const auto& w : node_exporter_only)
    std::cout << "[ note ] node_exporter series, checked for evaluation only: " << w << "\n";
}

}  // namespace
}  // namespace parley::itest
