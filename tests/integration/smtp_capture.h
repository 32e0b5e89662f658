// A real SMTP server on loopback for tests: scripts/smtp_capture.py (Debian's python3-aiosmtpd)
// in a child process with a throw-away folder. Every mail it accepts comes back parsed by
// Python's email package (an independent MIME parser) as JSON, and raw as the bytes received.
// Header-only: used by the adapter tests and the integration tests.
#pragma once

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/process.h"

namespace parley::testing {

class SmtpCapture {
 public:
  // Whether Debian's python3-aiosmtpd is there (tests skip with a line when it is not).
  static bool available() {
    return std::system("/usr/bin/python3 -c 'import aiosmtpd' >/dev/null 2>&1") == 0;
  }

  // extra: "--tls", "--auth", "USER:PASSWORD". Throws when the server does not start in 10 s.
  explicit SmtpCapture(std::vector<std::string> extra = {}) {
    static int n = 0;
    dir_ = (std::filesystem::temp_directory_path() /
            ("parley-smtp-" + std::to_string(::getpid()) + "-" + std::to_string(++n)))
               .string();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    std::vector<std::string> args = {"/usr/bin/python3",
                                     PARLEY_SOURCE_DIR "/scripts/smtp_capture.py", "--dir", dir_};
    args.insert(args.end(), extra.begin(), extra.end());
    support::LaunchOptions o;
    o.argv = std::move(args);
    o.drop_test_env = false;
    o.death_signal = SIGTERM;
    o.out = o.err = support::Stream::inherit;
    if (auto err = process_.start(std::move(o)); !err.empty())
      throw std::runtime_error("smtp_capture.py: " + err);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      std::ifstream in(dir_ + "/port");
      int port = 0;
      if (in >> port && port > 0) {
        port_ = port;
        return;
      }
      if (process_.wait(std::chrono::milliseconds(0)))
        throw std::runtime_error("smtp_capture.py exited at start");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    throw std::runtime_error("smtp_capture.py did not start");
  }

  ~SmtpCapture() {
    process_.signal(SIGTERM);
    process_.wait();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  SmtpCapture(const SmtpCapture&) = delete;
  SmtpCapture& operator=(const SmtpCapture&) = delete;

  int port() const { return port_; }
  std::string url() const { return "smtp://127.0.0.1:" + std::to_string(port_); }
  const std::string& dir() const { return dir_; }
  std::string cert_file() const { return dir_ + "/cert.pem"; }

  // Every mail so far, parsed, in arrival order: {"mail_from", "rcpt_tos", "headers", "subject",
  // "content_type", "text", "html", "starttls", "auth_user", "defects"}.
  std::vector<boost::json::object> mails() const {
    std::vector<boost::json::object> out;
    for (int i = 1;; ++i) {
      std::ifstream in(path(i, ".json"));
      if (!in) break;
      std::stringstream ss;
      ss << in.rdbuf();
      out.push_back(boost::json::parse(ss.str()).as_object());
    }
    return out;
  }
  // The bytes of the i-th mail (from 0) as the server received them.
  std::string raw(std::size_t i) const {
    std::ifstream in(path(static_cast<int>(i) + 1, ".eml"), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  // Waits for a mail that matches; nullopt at the deadline.
  std::optional<boost::json::object> wait_for(
      const std::function<bool(const boost::json::object&)>& match,
      std::chrono::milliseconds timeout = std::chrono::seconds(10)) const {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    do {
      for (auto& m : mails())
        if (match(m)) return m;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } while (std::chrono::steady_clock::now() < deadline);
    return std::nullopt;
  }
  // The first mail to this recipient.
  std::optional<boost::json::object> wait_for_to(
      const std::string& to, std::chrono::milliseconds timeout = std::chrono::seconds(10)) const {
    return wait_for(
        [&](const boost::json::object& m) {
          for (auto& r : m.at("rcpt_tos").as_array())
            if (r.as_string() == to) return true;
          return false;
        },
        timeout);
  }

  static std::string header(const boost::json::object& m, std::string_view name) {
    for (auto& h : m.at("headers").as_array()) {
      auto& pair = h.as_array();
      std::string n(pair[0].as_string());
      if (n.size() == name.size() &&
          std::equal(n.begin(), n.end(), name.begin(), [](char a, char b) {
            return std::tolower(static_cast<unsigned char>(a)) ==
                   std::tolower(static_cast<unsigned char>(b));
          }))
        return std::string(pair[1].as_string());
    }
    return "";
  }

 private:
  std::string path(int i, const char* ext) const {
    char name[32];
    std::snprintf(name, sizeof name, "/mail-%04d", i);
    return dir_ + name + ext;
  }

  std::string dir_;
  support::Process process_;
  int port_ = 0;
};

}  // namespace parley::testing
