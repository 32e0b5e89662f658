// `parley storage copy`: a node's files move from local disk to S3 (s3rver at PARLEY_TEST_S3_URL;
// skipped without it), a second run finds everything there, and the node restarted with
// --storage s3://... serves every file from S3. Bad targets and keys stop it with a clear line.
#include <filesystem>
#include <fstream>
#include <optional>

#include "file_support.h"

namespace parley::itest {
namespace {
using namespace files;
namespace fs = std::filesystem;
constexpr auto npos = std::string::npos;

struct S3Env {
  std::string url, key, secret;
};

std::optional<S3Env> s3_env() {
  const char* url = std::getenv("PARLEY_TEST_S3_URL");
  const char* key = std::getenv("PARLEY_TEST_S3_ACCESS_KEY");
  const char* secret = std::getenv("PARLEY_TEST_S3_SECRET_KEY");
  if (!url || !key || !secret) return std::nullopt;
  return S3Env{url, key, secret};
}

// One shell word (the S3 URL has '&' and '?').
std::string word(const std::string& s) { return "'" + s + "'"; }

std::size_t regular_files_under(const fs::path& dir) {
  std::size_t n = 0;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (it->is_regular_file()) ++n;
  return n;
}

TEST(StorageCopy, LocalFilesMoveToS3AndAreServedFromThere) {
  auto s3 = s3_env();
  if (!s3) GTEST_SKIP() << "PARLEY_TEST_S3_URL is not set (make test starts s3rver)";

  ServerProcess local;
  ASSERT_EQ(local.start(), "");
  Api api(local.port());
  auto a = register_account(api, "mig");
  const std::string small = random_bytes_of(300 * 1024 + 7, 11);
  // Over the test's 1 MiB threshold: a staged upload of three parts (8 + 8 + 1 MiB and a bit).
  const std::string big = random_bytes_of(17 * kMiB + 5, 12);
  const std::string small_id = str(upload(api, a, small, "small.bin"), "id");
  const std::string big_id = str(upload(api, a, big, "big.bin"), "id");
  ASSERT_EQ(create_upload(api, a, 1000, "unfinished.bin").status, 201);
  local.stop();

  const std::string dir = local.data_dir();
  const fs::path objects = fs::path(dir) / "files" / "objects";
  ASSERT_EQ(regular_files_under(objects), 2u);
  const std::string target = " --data-dir " + word(dir) + " --to " + word(s3->url);
  auto first =
      run_parley("storage copy" + target + " --s3-access-key " + word(s3->key) +
                 " --s3-secret-key " + word(s3->secret) + " --part-threshold-bytes 1048576");
  ASSERT_EQ(first.exit_code, 0) << first.output;
  EXPECT_NE(first.output.find("copying 2 objects"), npos) << first.output;
  EXPECT_NE(first.output.find("(17.0 MiB) in 3 parts"), npos) << first.output;
  EXPECT_NE(first.output.find("copied 2 of 2 objects"), npos) << first.output;
  EXPECT_NE(first.output.find("done: all 2 objects are in S3 bucket"), npos) << first.output;
  EXPECT_NE(first.output.find("(2 copied, 17.3 MiB; 0 were there already)"), npos) << first.output;
  EXPECT_NE(first.output.find("unfinished uploads are not copied"), npos) << first.output;
  EXPECT_EQ(first.output.find(s3->secret), npos) << "the secret is never printed";
  EXPECT_EQ(regular_files_under(objects), 2u) << "local files are kept";

  // Run again, the keys from a config file this time: everything is there already.
  const std::string conf = dir + "-s3.conf";
  {
    std::ofstream out(conf);
    out << "s3_access_key = " << s3->key << "\ns3_secret_key = " << s3->secret << "\n";
  }
  auto again = run_parley("storage copy --config " + word(conf) + target);
  fs::remove(conf);
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("(0 copied, 0.0 MiB; 2 were there already)"), npos) << again.output;

  // The node restarts on S3; with the local copies gone, every byte comes from S3.
  fs::remove_all(objects);
  ServerProcess on_s3({"--data-dir", dir, "--storage", s3->url, "--s3-access-key", s3->key,
                       "--s3-secret-key", s3->secret});
  ASSERT_EQ(on_s3.start(), "");
  Api api2(on_s3.port());
  auto me = login_account(api2, a);
  auto got_small = download(api2, me, small_id);
  ASSERT_EQ(got_small.status, 200) << got_small;
  EXPECT_TRUE(got_small.body == small) << "small file differs";
  auto got_big = download(api2, me, big_id);
  ASSERT_EQ(got_big.status, 200) << got_big.status;
  EXPECT_EQ(got_big.body.size(), big.size());
  EXPECT_TRUE(got_big.body == big) << "big file differs";
}

TEST(StorageCopy, BadTargetOrKeysStopWithAClearLine) {
  ServerProcess scratch;  // not started: only its data folder
  const std::string dir = " --data-dir " + word(scratch.data_dir());
  const std::string keys = " --s3-access-key k --s3-secret-key s";
  struct Case {
    std::string args;
    int exit_code;
    std::string says;
  };
  std::vector<Case> cases = {
      {"storage copy" + dir + keys + " --to 's3://x'", 2, "parley: --to: "},
      {"storage copy" + dir + keys + " --to 'http://127.0.0.1:1/bucket'", 2,
       "parley: --to: expected s3://"},
      {"storage copy" + dir + keys, 2, "parley: storage copy: where to?"},
      {"storage copy" + dir + " --to 's3://parley-test?endpoint=http://127.0.0.1:1'", 2,
       "parley: storage copy: no S3 keys"},
      {"storage copy --data-dir /nonexistent/parley --to "
       "'s3://parley-test?endpoint=http://127.0.0.1:1'" +
           keys,
       2, "parley: storage copy: no data directory"},
      {"storage copy" + dir + keys + " --to 's3://parley-test?endpoint=http://127.0.0.1:1'", 1,
       "parley: cannot use S3 bucket 'parley-test' at http://127.0.0.1:1: "},
      {"storage copy" + dir + keys + " --to 's3://parley-test?endpoint=http://127.0.0.1:1'" +
           " --part-threshold-bytes 0",
       2, "parley: --part-threshold-bytes: "},
      {"storage move", 2, "parley: unknown storage command \"move\""},
  };
  if (auto s3 = s3_env())
    cases.push_back({"storage copy" + dir + " --to " + word(s3->url) + " --s3-access-key " +
                         word(s3->key) + " --s3-secret-key wrong-secret-123",
                     1, "HTTP 403"});
  for (const auto& c : cases) {
    auto r = run_parley(c.args);
    EXPECT_EQ(r.exit_code, c.exit_code) << c.args << ": " << r.output;
    EXPECT_NE(r.output.find(c.says), npos) << c.args << ": " << r.output;
    EXPECT_EQ(r.output.find("wrong-secret-123"), npos) << r.output;
  }
}

}  // namespace
}  // namespace parley::itest
