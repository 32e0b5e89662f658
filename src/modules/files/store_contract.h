// The contract every FileStore implementation must pass. An adapter's test instantiates it:
//   using files::FileStoreContract;  // the macro wants the suite's bare name
//   INSTANTIATE_TEST_SUITE_P(Sqlite, FileStoreContract,
//                            testing::Values(files::FileStoreFactory(&make_store)));
// Each test gets a fresh, empty store. A factory whose backend is not there may GTEST_SKIP()
// and return nullptr: SetUp only keeps the pointer.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "modules/files/store.h"

namespace parley::files {

using FileStoreFactory = std::function<std::shared_ptr<FileStore>()>;
// ctest names each parameterised case after its printed parameter: name it, not its bytes.
inline void PrintTo(const FileStoreFactory&, std::ostream* os) { *os << "store"; }

class FileStoreContract : public ::testing::TestWithParam<FileStoreFactory> {
 protected:
  void SetUp() override { store = GetParam()(); }

  static UploadRecord upload(const std::string& id, const std::string& owner, std::int64_t length,
                             Millis expires_at = 10'000) {
    UploadRecord u;
    u.id = id;
    u.owner_id = owner;
    u.name = id + ".bin";
    u.claimed_type = "application/octet-stream";
    u.length = length;
    u.blob_key = "uploads/" + id;
    u.blob_handle = "handle-" + id;
    u.hash_state = "h0";
    u.created_at = 1000;
    u.expires_at = expires_at;
    return u;
  }
  static FileRecord file(const std::string& id, const std::string& owner, std::int64_t size,
                         const std::string& upload_sha256 = "",
                         FileStatus status = FileStatus::ready, Millis created_at = 2000) {
    FileRecord f;
    f.id = id;
    f.owner_id = owner;
    f.name = id + ".png";
    f.size = size;
    f.content_type = "image/png";
    f.sha256 = "stored-" + (upload_sha256.empty() ? id : upload_sha256);
    f.upload_sha256 = upload_sha256.empty() ? "sha-" + id : upload_sha256;
    f.blob_key = "files/" + id;
    f.status = status;
    f.created_at = created_at;
    return f;
  }
  // Creates an upload and finishes it with f at once.
  void stored(const FileRecord& f) {
    ASSERT_TRUE(store->create_upload(upload("U-" + f.id, f.owner_id, f.size)));
    auto done = store->finish_upload("U-" + f.id, f);
    ASSERT_TRUE(done) << done.error().message;
  }
  static std::vector<std::string> ids(const std::vector<FileRecord>& v) {
    std::vector<std::string> out;
    for (const auto& f : v) out.push_back(f.id);
    return out;
  }

  // The error's code by name, or "success": comparing r.error().code when r holds a value
  // would read what is not there (and could pass).
  template <class T>
  static std::string failure(const Result<T>& r) {
    return r ? "success" : errc_name(r.error().code);
  }

  std::shared_ptr<FileStore> store;
};

TEST_P(FileStoreContract, CreateAndGetUpload) {
  auto u = upload("UP1", "alice", 12345);
  ASSERT_TRUE(store->create_upload(u));
  auto got = store->get_upload("UP1");
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->id, "UP1");
  EXPECT_EQ(got->owner_id, "alice");
  EXPECT_EQ(got->name, "UP1.bin");
  EXPECT_EQ(got->claimed_type, "application/octet-stream");
  EXPECT_EQ(got->length, 12345);
  EXPECT_EQ(got->offset, 0);
  EXPECT_EQ(got->parts, 0);
  EXPECT_EQ(got->blob_key, "uploads/UP1");
  EXPECT_EQ(got->blob_handle, "handle-UP1");
  EXPECT_EQ(got->hash_state, "h0");
  EXPECT_EQ(got->created_at, 1000);
  EXPECT_EQ(got->expires_at, 10'000);
  EXPECT_FALSE(got->file_id);
  EXPECT_EQ(failure(store->get_upload("nope")), "not_found");
}

TEST_P(FileStoreContract, CreateUploadTwiceIsAlreadyExists) {
  ASSERT_TRUE(store->create_upload(upload("UP1", "alice", 10)));
  auto again = store->create_upload(upload("UP1", "bob", 20));
  ASSERT_FALSE(again);
  EXPECT_EQ(failure(again), "already_exists");
  EXPECT_EQ(store->get_upload("UP1")->owner_id, "alice");
}

TEST_P(FileStoreContract, AdvanceMovesTheUploadOn) {
  ASSERT_TRUE(store->create_upload(upload("UP1", "alice", 100)));
  auto now = upload("UP1", "alice", 100);
  now.offset = 40;
  now.parts = 2;
  now.hash_state = "h40";
  now.expires_at = 20'000;
  auto a = store->advance_upload("UP1", 0, now);
  ASSERT_TRUE(a) << a.error().message;
  auto got = store->get_upload("UP1");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->offset, 40);
  EXPECT_EQ(got->parts, 2);
  EXPECT_EQ(got->hash_state, "h40");
  EXPECT_EQ(got->expires_at, 20'000);
  EXPECT_EQ(got->length, 100) << "the rest stays";
  EXPECT_EQ(got->created_at, 1000);

  now.offset = 70;
  now.hash_state = "h70";
  ASSERT_TRUE(store->advance_upload("UP1", 40, now));
  EXPECT_EQ(store->get_upload("UP1")->offset, 70);
}

TEST_P(FileStoreContract, AdvanceFromAStaleOffsetIsRefused) {
  ASSERT_TRUE(store->create_upload(upload("UP1", "alice", 100)));
  auto first = upload("UP1", "alice", 100);
  first.offset = 40;
  first.hash_state = "first";
  ASSERT_TRUE(store->advance_upload("UP1", 0, first));
  auto second = upload("UP1", "alice", 100);
  second.offset = 60;
  second.hash_state = "second";
  auto r = store->advance_upload("UP1", 0, second);
  ASSERT_FALSE(r) << "another request moved it from 0 first";
  EXPECT_EQ(failure(r), "failed_precondition");
  auto got = store->get_upload("UP1");
  EXPECT_EQ(got->offset, 40);
  EXPECT_EQ(got->hash_state, "first");
  EXPECT_EQ(failure(store->advance_upload("nope", 0, second)), "not_found");
}

TEST_P(FileStoreContract, ConcurrentAdvancesFromOneOffsetLetOneThrough) {
  ASSERT_TRUE(store->create_upload(upload("UP1", "alice", 1000)));
  constexpr int kThreads = 4;
  std::atomic<int> won{0}, refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      auto now = upload("UP1", "alice", 1000);
      now.offset = 100 + t;
      auto r = store->advance_upload("UP1", 0, now);
      if (r)
        ++won;
      else if (r.error().code == Errc::failed_precondition)
        ++refused;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(won.load(), 1);
  EXPECT_EQ(refused.load(), kThreads - 1);
}

TEST_P(FileStoreContract, FinishedUploadCannotAdvanceOrFinishAgain) {
  ASSERT_TRUE(store->create_upload(upload("UP1", "alice", 100)));
  ASSERT_TRUE(store->finish_upload("UP1", file("F1", "alice", 100)));
  auto now = upload("UP1", "alice", 100);
  now.offset = 100;
  auto got = store->get_upload("UP1");
  ASSERT_TRUE(got);
  auto r = store->advance_upload("UP1", got->offset, now);
  ASSERT_FALSE(r);
  EXPECT_EQ(failure(r), "failed_precondition");
  auto again = store->finish_upload("UP1", file("F2", "alice", 100));
  ASSERT_FALSE(again);
  EXPECT_EQ(failure(again), "failed_precondition");
  EXPECT_EQ(failure(store->get_file("F2")), "not_found") << "nothing half-done";
  EXPECT_EQ(store->get_upload("UP1")->file_id, "F1");
}

TEST_P(FileStoreContract, FinishInsertsTheFileAndMarksTheUpload) {
  ASSERT_TRUE(store->create_upload(upload("UP1", "alice", 300)));
  auto f = file("F1", "alice", 300, "abc");
  f.thumbnail_key = "thumbs/F1";
  f.width = 640;
  f.height = 480;
  auto done = store->finish_upload("UP1", f);
  ASSERT_TRUE(done) << done.error().message;
  auto u = store->get_upload("UP1");
  ASSERT_TRUE(u);
  ASSERT_TRUE(u->file_id);
  EXPECT_EQ(*u->file_id, "F1");
  EXPECT_EQ(u->offset, u->length) << "a finished upload holds every byte";
  auto got = store->get_file("F1");
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->id, "F1");
  EXPECT_EQ(got->owner_id, "alice");
  EXPECT_EQ(got->name, "F1.png");
  EXPECT_EQ(got->size, 300);
  EXPECT_EQ(got->content_type, "image/png");
  EXPECT_EQ(got->sha256, "stored-abc");
  EXPECT_EQ(got->upload_sha256, "abc");
  EXPECT_EQ(got->blob_key, "files/F1");
  EXPECT_EQ(got->thumbnail_key, "thumbs/F1");
  EXPECT_EQ(got->width, 640);
  EXPECT_EQ(got->height, 480);
  EXPECT_EQ(got->status, FileStatus::ready);
  EXPECT_EQ(got->created_at, 2000);
  EXPECT_EQ(failure(store->get_file("nope")), "not_found");
}

TEST_P(FileStoreContract, FinishingAnUnknownUploadInsertsNothing) {
  auto r = store->finish_upload("nope", file("F1", "alice", 10));
  ASSERT_FALSE(r);
  EXPECT_EQ(failure(r), "not_found");
  EXPECT_EQ(failure(store->get_file("F1")), "not_found");
}

TEST_P(FileStoreContract, FinishWithATakenFileIdLeavesTheUploadUnfinished) {
  stored(file("F1", "alice", 10));
  ASSERT_TRUE(store->create_upload(upload("UP2", "alice", 20)));
  auto r = store->finish_upload("UP2", file("F1", "alice", 20));
  ASSERT_FALSE(r);
  EXPECT_EQ(failure(r), "already_exists");
  EXPECT_FALSE(store->get_upload("UP2")->file_id) << "one transaction: all or nothing";
  EXPECT_EQ(store->get_file("F1")->size, 10);
}

TEST_P(FileStoreContract, RemoveUpload) {
  ASSERT_TRUE(store->create_upload(upload("UP1", "alice", 10)));
  ASSERT_TRUE(store->remove_upload("UP1"));
  EXPECT_EQ(failure(store->get_upload("UP1")), "not_found");
  EXPECT_EQ(failure(store->remove_upload("UP1")), "not_found");
  stored(file("F1", "alice", 10));
  ASSERT_TRUE(store->remove_upload("U-F1"));
  EXPECT_TRUE(store->get_file("F1")) << "the file outlives its upload";
}

TEST_P(FileStoreContract, ExpiredUploadsOldestFirstAndLimited) {
  ASSERT_TRUE(store->create_upload(upload("A", "alice", 10, 5000)));
  ASSERT_TRUE(store->create_upload(upload("B", "alice", 10, 3000)));
  ASSERT_TRUE(store->create_upload(upload("C", "bob", 10, 4000)));
  ASSERT_TRUE(store->create_upload(upload("D", "bob", 10, 6000)));
  ASSERT_TRUE(store->create_upload(upload("E", "bob", 10, 9000)));
  ASSERT_TRUE(store->finish_upload("C", file("FC", "bob", 10)));  // finished ones expire too
  auto names = [&](Millis now, int limit) {
    std::vector<std::string> out;
    auto r = store->expired_uploads(now, limit);
    EXPECT_TRUE(r) << r.error().message;
    if (r)
      for (const auto& u : *r) out.push_back(u.id);
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(names(6000, 10), (V{"B", "C", "A"})) << "expires_at == now has not expired";
  EXPECT_EQ(names(6001, 2), (V{"B", "C"}));
  EXPECT_EQ(names(1000, 10), V{});
  auto all = store->expired_uploads(100'000, 10);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 5u);
  EXPECT_EQ((*all)[1].file_id, "FC");
  EXPECT_EQ((*all)[1].owner_id, "bob");
}

TEST_P(FileStoreContract, UsedBytesCountsFilesAndUnfinishedUploads) {
  EXPECT_EQ(store->used_bytes("alice").value(), 0);
  stored(file("F1", "alice", 1000));
  stored(file("F2", "alice", 200));
  stored(file("F3", "bob", 50'000));
  ASSERT_TRUE(store->create_upload(upload("UP1", "alice", 30)));
  ASSERT_TRUE(store->create_upload(upload("UP2", "alice", 4)));
  ASSERT_TRUE(store->create_upload(upload("UP3", "bob", 7777)));
  EXPECT_EQ(store->used_bytes("alice").value(), 1000 + 200 + 30 + 4)
      << "finished uploads count once, through their file";
  EXPECT_EQ(store->used_bytes("bob").value(), 50'000 + 7777);
  ASSERT_TRUE(store->finish_upload("UP1", file("F4", "alice", 30)));
  EXPECT_EQ(store->used_bytes("alice").value(), 1000 + 200 + 30 + 4);
  ASSERT_TRUE(store->remove_upload("UP2"));
  EXPECT_EQ(store->used_bytes("alice").value(), 1000 + 200 + 30);
  EXPECT_EQ(store->used_bytes("nobody").value(), 0);
}

TEST_P(FileStoreContract, SizesPastFourGibibytes) {
  const std::int64_t big = (std::int64_t{1} << 32) + 17;
  const std::int64_t bigger = (std::int64_t{5} << 32) + 3;
  ASSERT_TRUE(store->create_upload(upload("UP1", "alice", bigger)));
  auto now = upload("UP1", "alice", bigger);
  now.offset = big;
  now.parts = 513;
  ASSERT_TRUE(store->advance_upload("UP1", 0, now));
  ASSERT_TRUE(store->advance_upload("UP1", big, now)) << "from_offset compared as 64 bits";
  auto u = store->get_upload("UP1");
  EXPECT_EQ(u->length, bigger);
  EXPECT_EQ(u->offset, big);
  stored(file("F1", "alice", big));
  EXPECT_EQ(store->get_file("F1")->size, big);
  EXPECT_EQ(store->used_bytes("alice").value(), big + bigger);
}

TEST_P(FileStoreContract, FindByUploadSha256ReturnsOnlyAReadyFile) {
  EXPECT_EQ(store->find_by_upload_sha256("same").value(), std::nullopt);
  stored(file("F1", "alice", 10, "held", FileStatus::pending_scan));
  stored(file("F2", "alice", 10, "bad", FileStatus::quarantined));
  EXPECT_EQ(store->find_by_upload_sha256("held").value(), std::nullopt);
  EXPECT_EQ(store->find_by_upload_sha256("bad").value(), std::nullopt);
  stored(file("F3", "bob", 10, "same"));
  auto found = store->find_by_upload_sha256("same");
  ASSERT_TRUE(found);
  ASSERT_TRUE(*found);
  EXPECT_EQ((*found)->id, "F3");
  EXPECT_EQ((*found)->blob_key, "files/F3");
  ASSERT_TRUE(store->set_status("F1", FileStatus::ready));
  auto now_ready = store->find_by_upload_sha256("held");
  ASSERT_TRUE(now_ready && *now_ready);
  EXPECT_EQ((*now_ready)->id, "F1");
  EXPECT_EQ(store->find_by_upload_sha256("stored-same").value(), std::nullopt)
      << "by the uploaded bytes' hash, not the stored one";
}

TEST_P(FileStoreContract, SetStatusAndWithStatus) {
  stored(file("F1", "alice", 10, "", FileStatus::pending_scan, 3000));
  stored(file("F2", "alice", 10, "", FileStatus::pending_scan, 1000));
  stored(file("F3", "alice", 10, "", FileStatus::pending_scan, 2000));
  stored(file("F4", "alice", 10, "", FileStatus::ready));
  EXPECT_EQ(ids(store->with_status(FileStatus::pending_scan, 10).value()),
            (std::vector<std::string>{"F2", "F3", "F1"}))
      << "oldest first";
  EXPECT_EQ(store->with_status(FileStatus::pending_scan, 2)->size(), 2u);
  EXPECT_TRUE(store->with_status(FileStatus::quarantined, 10)->empty());
  ASSERT_TRUE(store->set_status("F3", FileStatus::quarantined));
  ASSERT_TRUE(store->set_status("F1", FileStatus::ready));
  EXPECT_EQ(store->get_file("F3")->status, FileStatus::quarantined);
  EXPECT_EQ(store->get_file("F1")->status, FileStatus::ready);
  EXPECT_EQ(ids(store->with_status(FileStatus::pending_scan, 10).value()),
            std::vector<std::string>{"F2"});
  EXPECT_EQ(ids(store->with_status(FileStatus::quarantined, 10).value()),
            std::vector<std::string>{"F3"});
  EXPECT_EQ(store->with_status(FileStatus::ready, 10)->size(), 2u);
  EXPECT_EQ(failure(store->set_status("nope", FileStatus::ready)), "not_found");
}

TEST_P(FileStoreContract, PostsAreIdempotentAndListed) {
  stored(file("F1", "alice", 10));
  stored(file("F2", "alice", 10));
  EXPECT_TRUE(store->posted_in("F1", 10)->empty());
  ASSERT_TRUE(store->add_posts("C1", {"F1", "F2"}));
  ASSERT_TRUE(store->add_posts("C1", {"F1"})) << "posting again is fine";
  ASSERT_TRUE(store->add_posts("C2", {"F1", "F1"})) << "a repeated id in one call too";
  ASSERT_TRUE(store->add_posts("C3", {}));
  auto in = store->posted_in("F1", 10);
  ASSERT_TRUE(in) << in.error().message;
  std::vector<std::string> got = *in;
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::string>{"C1", "C2"}));
  EXPECT_EQ(store->posted_in("F2", 10).value(), std::vector<std::string>{"C1"});
  EXPECT_EQ(store->posted_in("F1", 1)->size(), 1u);
  EXPECT_TRUE(store->posted_in("nope", 10)->empty());
}

TEST_P(FileStoreContract, LinkKeyIsTheFirstCandidateForever) {
  auto first = store->link_key("candidate-one");
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(*first, "candidate-one");
  EXPECT_EQ(store->link_key("candidate-two").value(), "candidate-one");
  EXPECT_EQ(store->link_key("candidate-one").value(), "candidate-one");
}

TEST_P(FileStoreContract, ConcurrentLinkKeysAgree) {
  constexpr int kThreads = 4;
  std::vector<std::string> got(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      auto k = store->link_key("candidate-" + std::to_string(t));
      EXPECT_TRUE(k) << k.error().message;
      if (k) got[t] = *k;
    });
  for (auto& t : threads) t.join();
  for (int t = 1; t < kThreads; ++t) EXPECT_EQ(got[t], got[0]);
  EXPECT_EQ(store->link_key("late").value(), got[0]);
}

}  // namespace parley::files
