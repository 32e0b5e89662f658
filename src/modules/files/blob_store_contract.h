// The contract every BlobStore implementation must pass. An adapter's test instantiates it with
// a factory that hands out a store ready for use:
//   using files::BlobStoreContract;  // the macro wants the suite's bare name
//   INSTANTIATE_TEST_SUITE_P(Local, BlobStoreContract,
//                            testing::Values(files::BlobStoreFactory(&make_store)));
// A factory whose backend is not there may GTEST_SKIP() and return nullptr: the test is skipped.
//
// Every key a test writes starts with a prefix of its own (random per test), so that stores
// shared by tests running in parallel (one bucket on one server) cannot mix up their objects.
// Each test removes what it wrote. Parts are files::kUploadPartBytes (8 MiB) long, so the whole
// suite moves about 90 MiB through the store.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/crypto.h"
#include "modules/files/blob_store.h"

namespace parley::files {

using BlobStoreFactory = std::function<std::shared_ptr<BlobStore>()>;
// ctest names each parameterised case after its printed parameter: name it, not its bytes.
inline void PrintTo(const BlobStoreFactory&, std::ostream* os) { *os << "store"; }

class BlobStoreContract : public ::testing::TestWithParam<BlobStoreFactory> {
 protected:
  void SetUp() override {
    init_crypto();
    prefix_ = "contract-" + hex_encode(random_bytes(8)) + "/";
    store = GetParam()();
  }
  void TearDown() override {
    if (!store) return;
    for (const auto& k : written_) (void)store->remove(k);
  }

  // A key of this test's own, removed at its end.
  std::string key(const std::string& name) {
    written_.push_back(prefix_ + name);
    return written_.back();
  }

  // n bytes that differ from those of any other seed, every byte value included.
  static std::string bytes(std::size_t n, std::uint64_t seed) {
    std::string out(n, '\0');
    std::uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (std::size_t i = 0; i < n; ++i) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      out[i] = static_cast<char>(x);
    }
    return out;
  }

  // The whole object, read in pieces of a part's size (as the files service serves downloads).
  std::string read_all(const std::string& k) {
    std::string out;
    for (;;) {
      auto piece = store->read(k, out.size(), kUploadPartBytes);
      EXPECT_TRUE(piece) << piece.error().message;
      if (!piece || piece->empty()) return out;
      out += *piece;
    }
  }

  // A staged upload of parts, put in order, completed; the handle is aborted if anything fails.
  void upload(const std::string& k, const std::vector<std::string>& parts) {
    auto h = store->begin_upload(k);
    ASSERT_TRUE(h) << h.error().message;
    for (std::size_t i = 0; i < parts.size(); ++i) {
      auto r = store->put_part(k, *h, static_cast<int>(i + 1), parts[i]);
      if (!r) (void)store->abort_upload(k, *h);
      ASSERT_TRUE(r) << r.error().message;
    }
    auto done = store->complete_upload(k, *h, static_cast<int>(parts.size()));
    if (!done) (void)store->abort_upload(k, *h);
    ASSERT_TRUE(done) << done.error().message;
  }

  // The error's code by name, or "success": comparing r.error().code when r holds a value
  // would read what is not there (and could pass).
  template <class T>
  static std::string failure(const Result<T>& r) {
    return r ? "success" : errc_name(r.error().code);
  }

  std::shared_ptr<BlobStore> store;

 private:
  std::string prefix_;
  std::vector<std::string> written_;
};

TEST_P(BlobStoreContract, PutReadSizeRemove) {
  auto k = key("a/b/hello.txt");
  ASSERT_TRUE(store->put(k, "hello world", "text/plain"));
  auto s = store->size(k);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(*s, 11u);
  auto r = store->read(k, 0, 100);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, "hello world");
  ASSERT_TRUE(store->remove(k));
  EXPECT_EQ(failure(store->read(k, 0, 100)), "not_found");
  EXPECT_EQ(failure(store->size(k)), "not_found");
  EXPECT_TRUE(store->remove(k)) << "removing an absent key succeeds";
}

TEST_P(BlobStoreContract, AbsentKeyIsNotFound) {
  auto k = key("never-written");
  EXPECT_EQ(failure(store->read(k, 0, 10)), "not_found");
  EXPECT_EQ(failure(store->read(k, 0, 0)), "not_found");
  EXPECT_EQ(failure(store->size(k)), "not_found");
  EXPECT_TRUE(store->remove(k));
}

TEST_P(BlobStoreContract, RangedReads) {
  auto k = key("ranged.bin");
  std::string data = bytes(1000, 1);
  ASSERT_TRUE(store->put(k, data, "application/octet-stream"));
  EXPECT_EQ(store->read(k, 10, 20).value(), data.substr(10, 20));
  EXPECT_EQ(store->read(k, 0, 1).value(), data.substr(0, 1));
  EXPECT_EQ(store->read(k, 999, 1).value(), data.substr(999));
  EXPECT_EQ(store->read(k, 990, 100).value(), data.substr(990)) << "fewer bytes at the end";
  EXPECT_EQ(store->read(k, 0, 1000).value(), data);
  EXPECT_EQ(store->read(k, 10, 0).value(), "");
  EXPECT_EQ(store->read(k, 1000, 10).value(), "") << "none at the end";
  EXPECT_EQ(store->read(k, 5000, 10).value(), "") << "none past it";
}

TEST_P(BlobStoreContract, EmptyObject) {
  auto k = key("empty");
  ASSERT_TRUE(store->put(k, "", "application/octet-stream"));
  EXPECT_EQ(store->size(k).value(), 0u);
  EXPECT_EQ(store->read(k, 0, 10).value(), "");
}

TEST_P(BlobStoreContract, PutKeepsEveryByteValue) {
  auto k = key("binary");
  std::string data;
  for (int i = 0; i < 256; ++i) data += static_cast<char>(i);
  data += data;
  ASSERT_TRUE(store->put(k, data, "application/octet-stream"));
  EXPECT_EQ(store->read(k, 0, data.size()).value(), data);
}

TEST_P(BlobStoreContract, PutReplacesWholly) {
  auto k = key("replaced");
  ASSERT_TRUE(store->put(k, bytes(5000, 2), "application/octet-stream"));
  ASSERT_TRUE(store->put(k, "short", "text/plain"));
  EXPECT_EQ(store->size(k).value(), 5u);
  EXPECT_EQ(store->read(k, 0, 10000).value(), "short");
}

TEST_P(BlobStoreContract, InvalidKeysAreRefused) {
  const std::string bad[] = {"",
                             "/abs",
                             "a/../b",
                             "..",
                             "Upper",
                             "a b",
                             "a//b",
                             "dir/",
                             "a\\b",
                             std::string("a\0b", 3),
                             std::string(201, 'a')};
  // A real handle, so that only the key is wrong.
  auto good = key("good");
  auto begun = store->begin_upload(good);
  ASSERT_TRUE(begun) << begun.error().message;
  const std::string handle = *begun;
  for (const auto& k : bad) {
    SCOPED_TRACE("key '" + k + "'");
    EXPECT_EQ(failure(store->put(k, "x", "text/plain")), "invalid_argument");
    EXPECT_EQ(failure(store->read(k, 0, 1)), "invalid_argument");
    EXPECT_EQ(failure(store->size(k)), "invalid_argument");
    EXPECT_EQ(failure(store->remove(k)), "invalid_argument");
    EXPECT_EQ(failure(store->begin_upload(k)), "invalid_argument");
    EXPECT_EQ(failure(store->put_part(k, handle, 1, "x")), "invalid_argument");
    EXPECT_EQ(failure(store->complete_upload(k, handle, 1)), "invalid_argument");
    EXPECT_EQ(failure(store->abort_upload(k, handle)), "invalid_argument");
  }
  EXPECT_TRUE(store->abort_upload(good, handle));
  EXPECT_TRUE(store->put(key(std::string(200 - 26, 'a')), "x", "text/plain"))
      << "200 bytes is the longest key (the prefix above is 26)";
}

TEST_P(BlobStoreContract, StagedUploadIsReadableOnlyWhenComplete) {
  auto k = key("up/staged.bin");
  std::string p1 = bytes(kUploadPartBytes, 3), p2 = bytes(1234, 4);
  auto h = store->begin_upload(k);
  ASSERT_TRUE(h) << h.error().message;
  ASSERT_TRUE(store->put_part(k, *h, 1, p1));
  ASSERT_TRUE(store->put_part(k, *h, 2, p2));
  EXPECT_EQ(failure(store->read(k, 0, 10)), "not_found");
  EXPECT_EQ(failure(store->size(k)), "not_found");
  auto done = store->complete_upload(k, *h, 2);
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_EQ(store->size(k).value(), p1.size() + p2.size());
  EXPECT_TRUE(read_all(k) == p1 + p2);
  EXPECT_EQ(store->read(k, kUploadPartBytes - 2, 4).value(),
            p1.substr(kUploadPartBytes - 2) + p2.substr(0, 2))
      << "a range across the parts' seam";
}

TEST_P(BlobStoreContract, OnePartUpload) {
  auto k = key("single");
  upload(k, {"just a little"});
  EXPECT_EQ(store->read(k, 0, 100).value(), "just a little");
}

TEST_P(BlobStoreContract, PartPutAgainReplacesIt) {
  auto k = key("retried");
  std::string p1 = bytes(kUploadPartBytes, 5);
  auto h = store->begin_upload(k);
  ASSERT_TRUE(h) << h.error().message;
  ASSERT_TRUE(store->put_part(k, *h, 1, p1));
  ASSERT_TRUE(store->put_part(k, *h, 2, "the first try of the tail"));
  ASSERT_TRUE(store->put_part(k, *h, 2, "the retry"));
  ASSERT_TRUE(store->complete_upload(k, *h, 2));
  EXPECT_TRUE(read_all(k) == p1 + "the retry");
}

TEST_P(BlobStoreContract, UploadCompletedOverAnObjectReplacesIt) {
  auto k = key("over");
  ASSERT_TRUE(store->put(k, bytes(100, 6), "application/octet-stream"));
  upload(k, {"new bytes"});
  EXPECT_EQ(store->read(k, 0, 1000).value(), "new bytes");
}

// Parts are put in order, all but the last of kUploadPartBytes: a store refuses a breach with
// invalid_argument, when the part is put or at the latest when the upload is completed.
TEST_P(BlobStoreContract, PartsOutOfOrderOrOfTheWrongSizeAreRefused) {
  struct Case {
    const char* name;
    std::vector<std::pair<int, std::string>> parts;
    int count;
  };
  const Case cases[] = {
      {"a gap", {{1, bytes(kUploadPartBytes, 7)}, {3, "tail"}}, 3},
      {"a short part before the last", {{1, "short"}, {2, "tail"}}, 2},
      {"a long part", {{1, bytes(kUploadPartBytes + 1, 8)}}, 1},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto k = key(std::string("refused-") + std::to_string(&c - cases));
    auto h = store->begin_upload(k);
    ASSERT_TRUE(h) << h.error().message;
    Result<void> r = ok();
    for (const auto& [n, b] : c.parts) {
      r = store->put_part(k, *h, n, b);
      if (!r) break;
    }
    if (r) r = store->complete_upload(k, *h, c.count);
    ASSERT_FALSE(r);
    EXPECT_EQ(failure(r), "invalid_argument") << r.error().message;
    EXPECT_EQ(failure(store->size(k)), "not_found");
    EXPECT_TRUE(store->abort_upload(k, *h));
  }
}

TEST_P(BlobStoreContract, AbortFreesTheUploadAndIsIdempotent) {
  auto k = key("aborted");
  auto h = store->begin_upload(k);
  ASSERT_TRUE(h) << h.error().message;
  ASSERT_TRUE(store->put_part(k, *h, 1, "some bytes"));
  ASSERT_TRUE(store->abort_upload(k, *h));
  EXPECT_TRUE(store->abort_upload(k, *h)) << "aborting twice succeeds";
  EXPECT_EQ(failure(store->complete_upload(k, *h, 1)), "not_found");
  EXPECT_EQ(failure(store->size(k)), "not_found");
}

TEST_P(BlobStoreContract, AbortAfterCompleteLeavesTheObject) {
  auto k = key("once");
  auto h = store->begin_upload(k);
  ASSERT_TRUE(h) << h.error().message;
  ASSERT_TRUE(store->put_part(k, *h, 1, "bytes"));
  ASSERT_TRUE(store->complete_upload(k, *h, 1));
  EXPECT_TRUE(store->abort_upload(k, *h)) << "the staging area is already free";
  EXPECT_EQ(store->read(k, 0, 10).value(), "bytes");
}

TEST_P(BlobStoreContract, TwoUploadsOfOneKeyStayApart) {
  auto k = key("twice");
  auto a = store->begin_upload(k), b = store->begin_upload(k);
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, *b);
  ASSERT_TRUE(store->put_part(k, *a, 1, "from a"));
  ASSERT_TRUE(store->put_part(k, *b, 1, "from b"));
  ASSERT_TRUE(store->complete_upload(k, *b, 1));
  EXPECT_EQ(store->read(k, 0, 10).value(), "from b");
  EXPECT_TRUE(store->abort_upload(k, *a));
  EXPECT_EQ(store->read(k, 0, 10).value(), "from b") << "aborting the other leaves the object";
}

TEST_P(BlobStoreContract, TwentyMebibyteUploadIsByteIdentical) {
  auto k = key("big/20mib.bin");
  std::vector<std::string> parts = {bytes(kUploadPartBytes, 9), bytes(kUploadPartBytes, 10),
                                    bytes(4 * 1024 * 1024, 11)};
  std::string whole = parts[0] + parts[1] + parts[2];
  upload(k, parts);
  EXPECT_EQ(store->size(k).value(), 20u * 1024 * 1024);
  EXPECT_EQ(hex_encode(sha256(read_all(k))), hex_encode(sha256(whole)));
}

TEST_P(BlobStoreContract, ConcurrentPuts) {
  constexpr int kThreads = 4, kEach = 8;
  std::vector<std::string> own;
  for (int t = 0; t < kThreads; ++t)
    for (int i = 0; i < kEach; ++i) own.push_back(key("own/" + std::to_string(t * kEach + i)));
  auto shared = key("shared");
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        int n = t * kEach + i;
        EXPECT_TRUE(store->put(own[n], bytes(1000 + n, 100 + n), "application/octet-stream"));
        EXPECT_TRUE(store->put(shared, bytes(64 * 1024, t), "application/octet-stream"));
      }
    });
  for (auto& t : threads) t.join();
  for (int n = 0; n < kThreads * kEach; ++n)
    EXPECT_TRUE(store->read(own[n], 0, 1 << 20).value() == bytes(1000 + n, 100 + n)) << n;
  auto last = store->read(shared, 0, 1 << 20);
  ASSERT_TRUE(last);
  bool whole_one = false;
  for (int t = 0; t < kThreads; ++t) whole_one = whole_one || *last == bytes(64 * 1024, t);
  EXPECT_TRUE(whole_one) << "the shared key holds one writer's bytes, whole";
}

}  // namespace parley::files
