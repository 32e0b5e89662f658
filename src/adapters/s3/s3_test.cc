// The S3 blob store: Signature Version 4 against AWS's published examples, the URL parser, the
// deadlines (against sockets of this test's own), and the BlobStore contract plus S3's own
// failures (a wrong secret, a missing bucket) against a real S3-compatible server.
//
// The server tests run when PARLEY_TEST_S3_URL, PARLEY_TEST_S3_ACCESS_KEY and
// PARLEY_TEST_S3_SECRET_KEY name one (`scripts/s3.sh start` starts a throw-away s3rver that
// checks signatures, and `scripts/s3.sh env` prints the three; `make test` does both). Without
// them those tests are skipped with a line naming the variables.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>

#include "adapters/s3/s3_blob_store.h"
#include "modules/files/blob_store_contract.h"
#include "sigv4.h"

namespace parley::s3 {
namespace {

// ---- Signature Version 4: the examples of AWS's "Signature Calculations for the Authorization
// Header: Transferring Payload in a Single Chunk" page (Amazon S3 API reference). ----

const sigv4::Credentials kExampleCredentials{
    "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1"};
constexpr const char* kExampleDate = "20130524T000000Z";
constexpr const char* kExampleHost = "examplebucket.s3.amazonaws.com";

std::string signature_of(const std::string& authorization) {
  return authorization.substr(authorization.rfind("Signature=") + 10);
}

TEST(SigV4, GetObjectExample) {
  sigv4::Request r{"GET",
                   "/test.txt",
                   {},
                   {{"Host", kExampleHost},
                    {"Range", "bytes=0-9"},
                    {"x-amz-content-sha256", std::string(sigv4::kEmptyPayloadSha256)},
                    {"x-amz-date", kExampleDate}},
                   std::string(sigv4::kEmptyPayloadSha256)};
  EXPECT_EQ(sigv4::canonical_request(r),
            "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
            "x-amz-content-sha256:"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
            "x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sigv4::string_to_sign(r, "us-east-1", kExampleDate),
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
            "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
  EXPECT_EQ(sigv4::authorization(r, kExampleCredentials, kExampleDate),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SigV4, PutObjectExampleSignsThePayloadHashAndEncodesThePath) {
  std::string body = "Welcome to Amazon S3.";
  std::string hash = sigv4::sha256_hex(body);
  EXPECT_EQ(hash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  sigv4::Request r{"PUT",
                   "/" + sigv4::uri_encode("test$file.text", true),
                   {},
                   {{"Host", kExampleHost},
                    {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
                    {"x-amz-date", kExampleDate},
                    {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
                    {"x-amz-content-sha256", hash}},
                   hash};
  EXPECT_EQ(r.path, "/test%24file.text");
  EXPECT_EQ(signature_of(sigv4::authorization(r, kExampleCredentials, kExampleDate)),
            "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

TEST(SigV4, GetBucketLifecycleExampleSignsABareQueryName) {
  sigv4::Request r{"GET",
                   "/",
                   {{"lifecycle", ""}},
                   {{"Host", kExampleHost},
                    {"x-amz-date", kExampleDate},
                    {"x-amz-content-sha256", std::string(sigv4::kEmptyPayloadSha256)}},
                   std::string(sigv4::kEmptyPayloadSha256)};
  EXPECT_EQ(signature_of(sigv4::authorization(r, kExampleCredentials, kExampleDate)),
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

TEST(SigV4, ListObjectsExampleSortsTheQuery) {
  sigv4::Request r{"GET",
                   "/",
                   {{"prefix", "J"}, {"max-keys", "2"}},
                   {{"Host", kExampleHost},
                    {"x-amz-date", kExampleDate},
                    {"x-amz-content-sha256", std::string(sigv4::kEmptyPayloadSha256)}},
                   std::string(sigv4::kEmptyPayloadSha256)};
  EXPECT_EQ(sigv4::canonical_query(r.query), "max-keys=2&prefix=J");
  EXPECT_EQ(signature_of(sigv4::authorization(r, kExampleCredentials, kExampleDate)),
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

TEST(SigV4, UriEncodeAndDate) {
  EXPECT_EQ(sigv4::uri_encode("a/b c+d~e_f.g-h%", true), "a/b%20c%2Bd~e_f.g-h%25");
  EXPECT_EQ(sigv4::uri_encode("a/b", false), "a%2Fb");
  EXPECT_EQ(sigv4::amz_date(std::chrono::system_clock::from_time_t(1369353600)), kExampleDate);
}

// ---- The URL the configuration passes ----

TEST(S3Url, ParsesBucketEndpointRegionAndTimeouts) {
  auto c = parse_s3_url(
      "s3://my-bucket?endpoint=http%3A%2F%2F127.0.0.1%3A9000/&region=eu-west-1&timeout_ms=2500",
      "AK", "SK");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->bucket, "my-bucket");
  EXPECT_EQ(c->endpoint, "http://127.0.0.1:9000");
  EXPECT_EQ(c->region, "eu-west-1");
  EXPECT_EQ(c->request_timeout, std::chrono::milliseconds(2500));
  EXPECT_EQ(c->access_key, "AK");
  auto d = parse_s3_url("s3://bucket?endpoint=https://s3.example.com", "AK", "SK");
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->region, "us-east-1");
}

TEST(S3Url, RefusesWhatItCannotUseWithAClearMessage) {
  struct Case {
    const char* url;
    const char* says;
  };
  const Case cases[] = {
      {"http://bucket?endpoint=http://h", "must start with s3://"},
      {"s3://?endpoint=http://h", "not a bucket name"},
      {"s3://Bad_Bucket?endpoint=http://h", "not a bucket name"},
      {"s3://bucket", "endpoint must be"},
      {"s3://bucket?endpoint=ftp://h", "endpoint must be"},
      {"s3://bucket?endpoint=http://h/path", "endpoint must be"},
      {"s3://bucket?endpoint=http://user@h", "endpoint must be"},
      {"s3://bucket?endpoint=http://h&region=", "region must be"},
      {"s3://bucket?endpoint=http://h&timeout_ms=0", "timeout_ms must be"},
      {"s3://bucket?endpoint=http://h&timeout_ms=soon", "timeout_ms must be"},
      {"s3://bucket?endpoint=http://h&regoin=x", "unknown parameter 'regoin'"},
  };
  for (const auto& c : cases) {
    auto r = parse_s3_url(c.url, "AK", "SK");
    ASSERT_FALSE(r) << c.url;
    EXPECT_EQ(r.error().code, Errc::invalid_argument) << c.url;
    EXPECT_NE(r.error().message.find(c.says), std::string::npos) << r.error().message;
  }
  auto no_secret = make_s3_blob_store("s3://bucket?endpoint=http://h", "AK", "");
  ASSERT_FALSE(no_secret);
  EXPECT_NE(no_secret.error().message.find("PARLEY_S3_SECRET_KEY"), std::string::npos);
}

// ---- Deadlines and transport failures, on sockets of this test's own ----

// A loopback TCP port: listening (connections complete, nothing is ever answered), or closed.
class LocalPort {
 public:
  explicit LocalPort(bool listen_on_it) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), len), 0);
    EXPECT_EQ(getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len), 0);
    port_ = ntohs(a.sin_port);
    if (listen_on_it) {
      EXPECT_EQ(listen(fd_, 16), 0);
    } else {
      close(fd_);
      fd_ = -1;
    }
  }
  ~LocalPort() {
    if (fd_ >= 0) close(fd_);
  }
  std::string url(const std::string& extra = "") const {
    return "s3://bucket?endpoint=http://127.0.0.1:" + std::to_string(port_) + extra;
  }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST(S3Transport, ClosedPortIsUnavailable) {
  LocalPort closed(false);
  auto store = make_s3_blob_store(closed.url(), "AK", "SK").value();
  auto r = store->size("a");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::unavailable);
  EXPECT_NE(r.error().message.find("127.0.0.1"), std::string::npos) << r.error().message;
  EXPECT_EQ(store->remove("a").error().code, Errc::unavailable);
}

TEST(S3Transport, SilentServerRunsIntoTheRequestDeadline) {
  LocalPort silent(true);
  auto store = make_s3_blob_store(silent.url("&timeout_ms=300"), "AK", "SK").value();
  auto start = std::chrono::steady_clock::now();
  auto r = store->read("a", 0, 10);
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::unavailable) << r.error().message;
  EXPECT_GE(took, std::chrono::milliseconds(250));
  EXPECT_LT(took, std::chrono::seconds(5));
}

// ---- Against the server ----

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

bool have_server() {
  return env("PARLEY_TEST_S3_URL") && env("PARLEY_TEST_S3_ACCESS_KEY") &&
         env("PARLEY_TEST_S3_SECRET_KEY");
}

constexpr const char* kSkipMessage =
    "PARLEY_TEST_S3_URL, PARLEY_TEST_S3_ACCESS_KEY and PARLEY_TEST_S3_SECRET_KEY are not set: "
    "S3 server tests skipped (`make test` starts a throw-away s3rver; or run `scripts/s3.sh "
    "start` and eval what `scripts/s3.sh env` prints)";

#define SKIP_WITHOUT_SERVER() \
  if (!have_server()) GTEST_SKIP() << kSkipMessage

void skip_contract() { GTEST_SKIP() << kSkipMessage; }

std::unique_ptr<S3BlobStore> server_store(const std::string& url, const std::string& secret) {
  auto s = make_s3_blob_store(url, env("PARLEY_TEST_S3_ACCESS_KEY"), secret);
  EXPECT_TRUE(s) << s.error().message;
  return s ? std::move(*s) : nullptr;
}

std::shared_ptr<files::BlobStore> make_store() {
  if (!have_server()) {
    skip_contract();  // SetUp ends here; the contract's test body does not run
    return nullptr;
  }
  return server_store(env("PARLEY_TEST_S3_URL"), env("PARLEY_TEST_S3_SECRET_KEY"));
}

using files::BlobStoreContract;
INSTANTIATE_TEST_SUITE_P(S3, BlobStoreContract,
                         testing::Values(files::BlobStoreFactory(&make_store)));

// The server must check signatures, or none of the tests above proves the signing right.
TEST(S3Server, WrongSecretIsPermissionDeniedAndTheMessageHoldsNoSecret) {
  SKIP_WITHOUT_SERVER();
  std::string wrong = std::string(env("PARLEY_TEST_S3_SECRET_KEY")) + "x";
  auto store = server_store(env("PARLEY_TEST_S3_URL"), wrong);
  ASSERT_TRUE(store);
  for (auto r : {store->put("wrong-secret", "x", "text/plain"), store->remove("wrong-secret")}) {
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::permission_denied);
    EXPECT_NE(r.error().message.find("SignatureDoesNotMatch"), std::string::npos)
        << r.error().message;
    EXPECT_NE(r.error().message.find(env("PARLEY_TEST_S3_ACCESS_KEY")), std::string::npos);
    EXPECT_EQ(r.error().message.find(wrong), std::string::npos) << "the secret leaked";
  }
  auto begin = store->begin_upload("wrong-secret");
  ASSERT_FALSE(begin);
  EXPECT_EQ(begin.error().code, Errc::permission_denied);
}

TEST(S3Server, UnknownAccessKeyIsPermissionDenied) {
  SKIP_WITHOUT_SERVER();
  auto store =
      make_s3_blob_store(env("PARLEY_TEST_S3_URL"), "no-such-key", env("PARLEY_TEST_S3_SECRET_KEY"))
          .value();
  auto r = store->read("x", 0, 1);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::permission_denied);
  EXPECT_NE(r.error().message.find("InvalidAccessKeyId"), std::string::npos) << r.error().message;
}

TEST(S3Server, MissingBucketIsFailedPreconditionNamingIt) {
  SKIP_WITHOUT_SERVER();
  std::string url = env("PARLEY_TEST_S3_URL");
  url = "s3://no-such-bucket" + url.substr(url.find('?'));
  auto store = server_store(url, env("PARLEY_TEST_S3_SECRET_KEY"));
  ASSERT_TRUE(store);
  for (auto r : {store->put("k", "x", "text/plain"), store->read("k", 0, 1).map([](auto&&) {}),
                 store->begin_upload("k").map([](auto&&) {})}) {
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::failed_precondition);
    EXPECT_NE(r.error().message.find("'no-such-bucket' does not exist"), std::string::npos)
        << r.error().message;
  }
}

TEST(S3Server, UnknownUploadIsNotFound) {
  SKIP_WITHOUT_SERVER();
  auto store = make_store();
  std::string never = "0123456789abcdef0123456789abcdef";
  EXPECT_EQ(store->put_part("no-upload", never, 1, "x").error().code, Errc::not_found);
  EXPECT_EQ(store->complete_upload("no-upload", never, 1).error().code, Errc::not_found);
  EXPECT_TRUE(store->abort_upload("no-upload", never));
}

}  // namespace
}  // namespace parley::s3
