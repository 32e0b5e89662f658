// The parley command line: version, help, configuration errors, and JSON-lines logs.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "harness.h"

namespace parley::itest {
namespace {

std::size_t line_count(const std::string& s) {
  return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n'));
}

TEST(Cli, VersionAndHelp) {
  auto v = run_parley("version");
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_EQ(v.output.rfind("parley ", 0), 0u) << v.output;
  auto h = run_parley("--help");
  EXPECT_EQ(h.exit_code, 0);
  EXPECT_NE(h.output.find("--listen HOST:PORT"), std::string::npos) << h.output;
  EXPECT_NE(h.output.find("--data-dir DIR"), std::string::npos);
}

TEST(Cli, BadConfigurationExitsAtOnceWithOneClearLine) {
  for (const char* args :
       {"serve --listen nocolon", "serve --listen 127.0.0.1:70000", "serve --no-such-flag 1",
        "serve --log-format xml", "serve --trusted-proxies 10.0.0.0/99",
        "serve --config /nonexistent/parley.conf", "frobnicate"}) {
    auto r = run_parley(args);
    EXPECT_EQ(r.exit_code, 2) << args << ": " << r.output;
    EXPECT_EQ(line_count(r.output), 1u) << args << ": " << r.output;
    EXPECT_EQ(r.output.rfind("parley: ", 0), 0u) << args << ": " << r.output;
  }
}

TEST(Cli, PortInUseIsOneClearLine) {
  ServerProcess first;
  ASSERT_EQ(first.start(), "");
  const std::string second_dir = first.data_dir() + "-second";
  auto r = run_parley("serve --listen 127.0.0.1:" + std::to_string(first.port()) + " --data-dir " +
                      second_dir);
  std::filesystem::remove_all(second_dir);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("parley: cannot listen on 127.0.0.1:"), std::string::npos) << r.output;
}

TEST(Cli, JsonLogsAreOneObjectPerLineWithAccessFields) {
  ServerProcess server({"--log-format", "json"});
  ASSERT_EQ(server.start(), "");
  Api api(server.port());
  ASSERT_EQ(api.get("/api/v1/health").status, 200);
  ASSERT_TRUE(server.wait_for_log("\"url.path\":\"/api/v1/health\"", 5s)) << server.logs();
  server.stop();
  std::istringstream lines(server.logs());
  std::string line;
  int access_lines = 0;
  while (std::getline(lines, line)) {
    boost::system::error_code ec;
    auto v = boost::json::parse(line, ec);
    ASSERT_FALSE(ec) << "not JSON: " << line;
    ASSERT_TRUE(v.is_object()) << line;
    const auto& o = v.as_object();
    EXPECT_TRUE(o.contains("@timestamp") && o.contains("log.level") && o.contains("message"))
        << line;
    if (o.at("message") == "http") {
      ++access_lines;
      EXPECT_EQ(o.at("http.response.status_code"), 200) << line;
      EXPECT_TRUE(o.contains("trace.id") && o.contains("http.request.method") &&
                  o.contains("event.duration") && o.contains("client.ip"))
          << line;
    }
  }
  EXPECT_EQ(access_lines, 1);
}

}  // namespace
}  // namespace parley::itest
