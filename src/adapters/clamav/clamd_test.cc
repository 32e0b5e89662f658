// ClamdScanner against a real clamd, started per suite through scripts/clamd.sh in a temporary
// folder with the one signature that script writes (the EICAR test string as a body signature).
// Skips when clamd is not installed. The tests that stop clamd or lower its limits start their
// own server, so they disturb no other test.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "adapters/clamav/clamd_scanner.h"

namespace parley::clamav {
namespace {

const std::string kEicar =
    R"(X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*)";
const std::string kSignature = "Parley.Test.EICAR.UNOFFICIAL";

// A BlobStore holding whole objects in memory; it counts reads, so a test can see the chunking.
class InMemoryBlobStore final : public files::BlobStore {
 public:
  Result<std::string> begin_upload(const std::string&) override {
    return fail(Errc::internal, "not used by the scanner");
  }
  Result<void> put_part(const std::string&, const std::string&, int, std::string_view) override {
    return fail(Errc::internal, "not used by the scanner");
  }
  Result<void> complete_upload(const std::string&, const std::string&, int) override {
    return fail(Errc::internal, "not used by the scanner");
  }
  Result<void> abort_upload(const std::string&, const std::string&) override { return ok(); }
  Result<void> put(const std::string& key, std::string_view bytes, std::string_view) override {
    std::lock_guard lock(mu_);
    objects_[key] = std::string(bytes);
    return ok();
  }
  Result<std::string> read(const std::string& key, std::uint64_t offset,
                           std::size_t length) override {
    std::lock_guard lock(mu_);
    ++reads_;
    auto it = objects_.find(key);
    if (it == objects_.end()) return fail(Errc::not_found, "no such blob");
    if (offset >= it->second.size()) return std::string();
    return it->second.substr(offset, length);
  }
  Result<std::uint64_t> size(const std::string& key) override {
    std::lock_guard lock(mu_);
    auto it = objects_.find(key);
    if (it == objects_.end()) return fail(Errc::not_found, "no such blob");
    return it->second.size();
  }
  Result<void> remove(const std::string& key) override {
    std::lock_guard lock(mu_);
    objects_.erase(key);
    return ok();
  }
  const char* kind() const override { return "memory"; }

  int reads() const {
    std::lock_guard lock(mu_);
    return reads_;
  }
  // Puts bytes and returns their size, for scan()'s third argument.
  std::uint64_t add(const std::string& key, const std::string& bytes) {
    (void)put(key, bytes, "application/octet-stream");
    return bytes.size();
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::string> objects_;
  int reads_ = 0;
};

// The script's output and exit status.
std::pair<std::string, int> sh(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return {out, -1};
  std::array<char, 256> buf;
  while (fgets(buf.data(), buf.size(), p)) out += buf.data();
  const int status = pclose(p);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return {out, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

// One private clamd. A Unix socket path must be short, so the folder is under /tmp.
class Clamd {
 public:
  explicit Clamd(const std::string& env = "") : env_(env) {
    char tmpl[] = "/tmp/parley-clamd-XXXXXX";
    if (mkdtemp(tmpl)) dir_ = tmpl;
  }
  ~Clamd() { stop(); }
  // 0 when it answers PING; 3 when clamd is not installed.
  int start() {
    auto [out, status] = sh(env_ + " '" PARLEY_CLAMD_SCRIPT "' start '" + dir_ + "' 2>&1");
    if (status == 0)
      socket_ = out;
    else
      std::fprintf(stderr, "clamd.sh: %s\n", out.c_str());
    return status;
  }
  void stop() {
    if (!dir_.empty()) sh("'" PARLEY_CLAMD_SCRIPT "' stop '" + dir_ + "' >/dev/null 2>&1");
  }
  const std::string& socket() const { return socket_; }

 private:
  std::string env_;
  std::string dir_;
  std::string socket_;
};

ClamdScanner scanner_for(const std::string& address, std::size_t chunk_bytes = 1 << 20) {
  ClamdOptions o;
  o.address = address;
  o.chunk_bytes = chunk_bytes;
  o.connect_timeout = std::chrono::milliseconds(1'000);
  o.io_timeout = std::chrono::milliseconds(10'000);
  auto s = ClamdScanner::create(o);
  EXPECT_TRUE(s) << s.error().message;
  return std::move(*s);
}

// ~5 MiB of text that is no virus.
std::string clean_text(std::size_t bytes) {
  std::string s;
  s.reserve(bytes);
  for (int i = 0; s.size() < bytes; ++i) s += "line " + std::to_string(i) + " of harmless text\n";
  s.resize(bytes);
  return s;
}

class ClamdScannerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    clamd_ = new Clamd();
    status_ = clamd_->start();
  }
  static void TearDownTestSuite() {
    delete clamd_;
    clamd_ = nullptr;
  }
  void SetUp() override {
    if (status_ == 3) GTEST_SKIP() << "clamd is not installed (scripts/install-deps.sh)";
    ASSERT_EQ(status_, 0) << "scripts/clamd.sh start failed";
  }
  ClamdScanner scanner(std::size_t chunk_bytes = 1 << 20) {
    return scanner_for(clamd_->socket(), chunk_bytes);
  }

  static Clamd* clamd_;
  static int status_;
  InMemoryBlobStore blobs_;
};
Clamd* ClamdScannerTest::clamd_ = nullptr;
int ClamdScannerTest::status_ = -1;

TEST_F(ClamdScannerTest, PingAnswersPong) { EXPECT_TRUE(scanner().ping()); }

TEST_F(ClamdScannerTest, EicarIsInfectedWithItsSignatureName) {
  const auto size = blobs_.add("u/eicar", kEicar);
  auto v = scanner().scan(blobs_, "u/eicar", size);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_TRUE(v->infected);
  EXPECT_EQ(v->signature, kSignature);
}

TEST_F(ClamdScannerTest, CleanBytesAreClean) {
  const auto size = blobs_.add("u/hello", "hello, world\n");
  auto v = scanner().scan(blobs_, "u/hello", size);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_FALSE(v->infected);
  EXPECT_EQ(v->signature, "");
}

TEST_F(ClamdScannerTest, EmptyObjectIsClean) {
  blobs_.add("u/empty", "");
  auto v = scanner().scan(blobs_, "u/empty", 0);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_FALSE(v->infected);
}

TEST_F(ClamdScannerTest, FiveMiBCleanObjectIsStreamedInChunks) {
  const auto size = blobs_.add("u/big", clean_text(5 << 20));
  auto v = scanner().scan(blobs_, "u/big", size);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_FALSE(v->infected);
  EXPECT_EQ(blobs_.reads(), 5);  // 1 MiB at a time, never the whole object
}

// The whole stream reaches clamd: a signature at the very end, split across two chunks, is found.
TEST_F(ClamdScannerTest, EicarAcrossAChunkBoundaryAtTheEndIsFound) {
  const std::size_t chunk = 1 << 20;
  std::string bytes = clean_text(3 * chunk - kEicar.size() / 2) + kEicar;
  const auto size = blobs_.add("u/tail", bytes);
  auto v = scanner(chunk).scan(blobs_, "u/tail", size);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_TRUE(v->infected);
  EXPECT_EQ(v->signature, kSignature);
}

TEST_F(ClamdScannerTest, ParallelScansFromManyThreads) {
  const auto eicar = blobs_.add("u/eicar", kEicar);
  const auto clean = blobs_.add("u/clean", clean_text(300'000));
  auto s = scanner(64 << 10);
  std::atomic<int> right{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      const bool bad = t % 2 == 0;
      auto v = s.scan(blobs_, bad ? "u/eicar" : "u/clean", bad ? eicar : clean);
      if (v && v->infected == bad) ++right;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(right.load(), 8);
}

TEST_F(ClamdScannerTest, MissingBlobPassesTheStoresError) {
  auto v = scanner().scan(blobs_, "u/absent", 10);
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, Errc::not_found);
}

TEST_F(ClamdScannerTest, ObjectShorterThanRecordedSizeIsInternal) {
  blobs_.add("u/short", "abc");
  auto v = scanner().scan(blobs_, "u/short", 10);
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, Errc::internal);
}

// clamd cuts a stream over StreamMaxLength: that file was not scanned, so it is not clean.
TEST_F(ClamdScannerTest, StreamOverClamdsLimitIsUnavailable) {
  Clamd small("PARLEY_CLAMD_STREAM_MAX=1M");
  ASSERT_EQ(small.start(), 0);
  const auto size = blobs_.add("u/over", clean_text(3 << 20));
  auto v = scanner_for(small.socket(), 256 << 10).scan(blobs_, "u/over", size);
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, Errc::unavailable);
  EXPECT_NE(v.error().message.find("size limit"), std::string::npos) << v.error().message;
}

TEST_F(ClamdScannerTest, StoppedClamdIsUnavailable) {
  Clamd own;
  ASSERT_EQ(own.start(), 0);
  auto s = scanner_for(own.socket());
  const auto size = blobs_.add("u/hello", "hello");
  ASSERT_TRUE(s.scan(blobs_, "u/hello", size));
  own.stop();
  auto v = s.scan(blobs_, "u/hello", size);
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, Errc::unavailable);
  auto p = s.ping();
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, Errc::unavailable);
}

TEST(ClamdScannerCreate, RefusesBadAddressesAndChunkSizes) {
  for (const char* bad : {"", "clamd.sock", "localhost:3310", "127.0.0.1:", "127.0.0.1:99999",
                          "[::1:3310", "127.0.0.1:33a"}) {
    ClamdOptions o;
    o.address = bad;
    auto s = ClamdScanner::create(o);
    ASSERT_FALSE(s) << bad;
    EXPECT_EQ(s.error().code, Errc::invalid_argument) << bad;
  }
  for (const char* good : {"/run/clamav/clamd.ctl", "127.0.0.1:3310", "[::1]:3310"}) {
    ClamdOptions o;
    o.address = good;
    EXPECT_TRUE(ClamdScanner::create(o)) << good;
  }
  ClamdOptions o;
  o.address = "/run/clamav/clamd.ctl";
  o.chunk_bytes = 0;
  EXPECT_FALSE(ClamdScanner::create(o));
}

// Nothing listens on this loopback port: connection refused is unavailable, not an error of ours.
TEST(ClamdScannerWithoutClamd, NothingListeningIsUnavailable) {
  auto s = scanner_for("127.0.0.1:1");
  InMemoryBlobStore blobs;
  auto v = s.scan(blobs, "k", 0);
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, Errc::unavailable);
}

// A peer that takes the connection and never answers: the scan ends at io_timeout.
TEST(ClamdScannerWithoutClamd, SilentPeerTimesOutAsUnavailable) {
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ASSERT_EQ(::listen(listener, 4), 0);  // the kernel completes connections nobody accepts
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len), 0);

  ClamdOptions o;
  o.address = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  o.io_timeout = std::chrono::milliseconds(200);
  auto s = ClamdScanner::create(o);
  ASSERT_TRUE(s);
  InMemoryBlobStore blobs;
  const auto size = blobs.add("k", "hello");
  const auto start = std::chrono::steady_clock::now();
  auto v = s->scan(blobs, "k", size);
  const auto took = std::chrono::steady_clock::now() - start;
  ::close(listener);
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, Errc::unavailable);
  EXPECT_GE(took, std::chrono::milliseconds(150));
  EXPECT_LT(took, std::chrono::milliseconds(2'000));
}

}  // namespace
}  // namespace parley::clamav
