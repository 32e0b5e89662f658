// TURN: a throw-away coturn (scripts/coturn.sh) sharing its secret with Parley, credentials from
// GET /api/v1/calls/ice-servers, and a small TURN client (RFC 5766 over UDP, long-term
// credentials, written here) showing that coturn takes Parley's credentials, refuses made-up
// ones, and refuses to relay to private and loopback peers (denied-peer-ip) other than the one
// address the tests allow. Skipped, with a line saying so, where coturn is not installed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/md5.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "chat_support.h"

namespace parley::itest {
namespace {

using namespace chat;

constexpr std::uint32_t kMagic = 0x2112A442;
enum : std::uint16_t {
  kAllocate = 0x0003,
  kCreatePermission = 0x0008,
  kAttrUsername = 0x0006,
  kAttrIntegrity = 0x0008,
  kAttrErrorCode = 0x0009,
  kAttrPeer = 0x0012,
  kAttrRealm = 0x0014,
  kAttrNonce = 0x0015,
  kAttrRelayed = 0x0016,
  kAttrTransport = 0x0019,
};

struct StunReply {
  std::uint16_t type = 0;
  int error = 0;  // ERROR-CODE class*100+number, 0 when none
  std::map<std::uint16_t, std::string> attrs;
  bool success() const { return (type & 0x0110) == 0x0100; }
};

// One STUN/TURN message being written: header, attributes, then MESSAGE-INTEGRITY.
class StunMessage {
 public:
  explicit StunMessage(std::uint16_t method) {
    put16(method);
    put16(0);
    put32(kMagic);
    std::random_device rd;
    for (int i = 0; i < 12; ++i) bytes_.push_back(static_cast<char>(rd() & 0xff));
  }
  StunMessage& attr(std::uint16_t type, std::string_view value) {
    put16(type);
    put16(static_cast<std::uint16_t>(value.size()));
    bytes_.append(value);
    while (bytes_.size() % 4) bytes_.push_back('\0');
    return *this;
  }
  StunMessage& peer(const char* ipv4, std::uint16_t port) {
    in_addr a{};
    inet_pton(AF_INET, ipv4, &a);
    std::uint32_t x = ntohl(a.s_addr) ^ kMagic;
    std::string v;
    v += '\0';
    v += '\x01';
    std::uint16_t xp = port ^ static_cast<std::uint16_t>(kMagic >> 16);
    v += static_cast<char>(xp >> 8);
    v += static_cast<char>(xp & 0xff);
    for (int s = 24; s >= 0; s -= 8) v += static_cast<char>((x >> s) & 0xff);
    return attr(kAttrPeer, v);
  }
  // Long-term credentials (RFC 5389 15.4): key = MD5(username:realm:password).
  std::string signed_with(const std::string& user, const std::string& realm,
                          const std::string& nonce, const std::string& password) {
    attr(kAttrUsername, user).attr(kAttrRealm, realm).attr(kAttrNonce, nonce);
    std::string key_text = user + ":" + realm + ":" + password;
    unsigned char key[MD5_DIGEST_LENGTH];
    EVP_Digest(key_text.data(), key_text.size(), key, nullptr, EVP_md5(), nullptr);
    set_length(bytes_.size() - 20 + 24);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha1(), key, MD5_DIGEST_LENGTH, reinterpret_cast<const unsigned char*>(bytes_.data()),
         bytes_.size(), mac, &len);
    attr(kAttrIntegrity, std::string(reinterpret_cast<char*>(mac), len));
    return bytes_;
  }
  std::string plain() {
    set_length(bytes_.size() - 20);
    return bytes_;
  }

 private:
  void put16(std::uint16_t v) {
    bytes_ += static_cast<char>(v >> 8);
    bytes_ += static_cast<char>(v & 0xff);
  }
  void put32(std::uint32_t v) {
    put16(static_cast<std::uint16_t>(v >> 16));
    put16(static_cast<std::uint16_t>(v & 0xffff));
  }
  void set_length(std::size_t n) {
    bytes_[2] = static_cast<char>(n >> 8);
    bytes_[3] = static_cast<char>(n & 0xff);
  }
  std::string bytes_;
};

StunReply parse(const std::string& b) {
  StunReply r;
  if (b.size() < 20) return r;
  auto u16 = [&](std::size_t at) {
    return static_cast<std::uint16_t>((static_cast<unsigned char>(b[at]) << 8) |
                                      static_cast<unsigned char>(b[at + 1]));
  };
  r.type = u16(0);
  std::size_t at = 20;
  while (at + 4 <= b.size()) {
    auto type = u16(at), len = u16(at + 2);
    if (at + 4 + len > b.size()) break;
    r.attrs[type] = b.substr(at + 4, len);
    at += 4 + ((len + 3u) & ~3u);
  }
  if (auto e = r.attrs.find(kAttrErrorCode); e != r.attrs.end() && e->second.size() >= 4)
    r.error = (e->second[2] & 7) * 100 + static_cast<unsigned char>(e->second[3]);
  return r;
}

// A UDP socket connected to coturn; one request at a time, retried on loss.
class TurnClient {
 public:
  explicit TurnClient(std::uint16_t port) : fd_(socket(AF_INET, SOCK_DGRAM, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (fd_ < 0 || connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      throw std::runtime_error("udp socket");
    timeval tv{1, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~TurnClient() { ::close(fd_); }
  StunReply ask(const std::string& msg) {
    for (int attempt = 0; attempt < 5; ++attempt) {
      if (::send(fd_, msg.data(), msg.size(), 0) < 0) throw std::runtime_error("udp send");
      char buf[2048];
      auto n = ::recv(fd_, buf, sizeof buf, 0);
      // The answer to this request: same transaction id.
      if (n >= 20 && std::string_view(buf + 8, 12) == std::string_view(msg).substr(8, 12))
        return parse(std::string(buf, static_cast<std::size_t>(n)));
    }
    throw std::runtime_error("no answer from coturn");
  }

  // Allocates a relay with these credentials; the reply (an error reply when refused).
  StunReply allocate(const std::string& user, const std::string& password) {
    std::string transport("\x11\0\0\0", 4);  // UDP
    auto challenge = ask(StunMessage(kAllocate).attr(kAttrTransport, transport).plain());
    if (challenge.error != 401) return challenge;
    realm_ = challenge.attrs[kAttrRealm];
    nonce_ = challenge.attrs[kAttrNonce];
    user_ = user;
    password_ = password;
    return ask(StunMessage(kAllocate)
                   .attr(kAttrTransport, transport)
                   .signed_with(user_, realm_, nonce_, password_));
  }
  StunReply permit(const char* peer_ip) {
    return ask(StunMessage(kCreatePermission).peer(peer_ip, 9).signed_with(user_, realm_, nonce_,
                                                                          password_));
  }

 private:
  int fd_;
  std::string realm_, nonce_, user_, password_;
};

class TurnTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("parley-coturn-" + std::to_string(getpid()) + "-" + unique_name("t"));
    std::string script = std::string(PARLEY_SOURCE_DIR) + "/scripts/coturn.sh";
    std::string out = dir_.string() + ".out";
    int rc = std::system(("COTURN_SECRET=turn-test-secret '" + script + "' start '" +
                          dir_.string() + "' >'" + out + "' 2>&1")
                             .c_str());
    // Its address is the last line (a failed first try says why before it).
    std::ifstream f(out);
    std::string line, all;
    for (std::string l; std::getline(f, l);) {
      if (!l.empty()) line = l;
      all += l + "\n";
    }
    std::filesystem::remove(out);
    if (WEXITSTATUS(rc) == 3) GTEST_SKIP() << line;
    ASSERT_EQ(rc, 0) << all;
    started_ = true;
    turn_port_ = static_cast<std::uint16_t>(std::stoi(line.substr(line.rfind(':') + 1)));
    server_ = std::make_unique<ServerProcess>(std::vector<std::string>{
        "--turn-secret", "turn-test-secret", "--turn-urls",
        "turn:127.0.0.1:" + std::to_string(turn_port_), "--rate-limits", kGenerousLimits});
    auto err = server_->start();
    ASSERT_TRUE(err.empty()) << err;
  }
  void TearDown() override {
    server_.reset();
    if (started_)
      std::system(("'" + std::string(PARLEY_SOURCE_DIR) + "/scripts/coturn.sh' stop '" +
                   dir_.string() + "'")
                      .c_str());
  }

  std::filesystem::path dir_;
  bool started_ = false;
  std::uint16_t turn_port_ = 0;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(TurnTest, ParleyCredentialsAllocateAndDeniedPeersAreRefused) {
  Api api(server_->port());
  auto alice = register_account(api, "turn");
  auto r = api.get("/api/v1/calls/ice-servers", alice.access);
  ASSERT_EQ(r.status, 200) << r;
  auto servers = arr(r.json, "ice_servers");
  ASSERT_EQ(servers.size(), 1u) << r;
  auto user = str(servers[0], "username");
  auto password = str(servers[0], "credential");

  TurnClient turn(turn_port_);
  auto allocated = turn.allocate(user, password);
  ASSERT_TRUE(allocated.success()) << "allocate refused: " << allocated.error;
  EXPECT_TRUE(allocated.attrs.count(kAttrRelayed));

  // Private, link-local and loopback peers other than the one allowed: 403 Forbidden.
  for (const char* denied : {"10.0.0.1", "192.168.1.1", "172.16.0.1", "169.254.169.254",
                             "127.0.0.2"}) {
    auto p = turn.permit(denied);
    EXPECT_FALSE(p.success()) << denied;
    EXPECT_EQ(p.error, 403) << denied;
  }
  // The address the tests allow (their browsers' relays) is permitted: the refusals above are
  // about the peer, not the request.
  EXPECT_TRUE(turn.permit("127.0.0.1").success());

  // Credentials Parley did not sign are refused.
  TurnClient forger(turn_port_);
  auto forged = forger.allocate(user, "bm90IHRoZSBjcmVkZW50aWFs");
  EXPECT_FALSE(forged.success());
  EXPECT_EQ(forged.error, 401);
}

}  // namespace
}  // namespace parley::itest
