// FileService on real adapters (SQLite, local disk) with an injected clock: what the HTTP tests
// cannot reach in reasonable time (expiry, a request still writing), and the pure helpers.
#include "modules/files/files.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "adapters/inprocess/in_process_bus.h"
#include "adapters/local/local_blob_store.h"
#include "adapters/sqlite/stores.h"

namespace parley::files {
namespace {

class FileServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("parley-files-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    db_ = std::move(*sqlite::Database::open((dir_ / "p.db").string()));
    user_store_ = std::move(*sqlite::make_user_store(*db_));
    messaging_store_ = std::move(*sqlite::make_messaging_store(*db_));
    file_store_ = std::move(*sqlite::make_file_store(*db_));
    blobs_ = std::move(*local::LocalBlobStore::open((dir_ / "files").string()));
    users_ = std::make_unique<users::UserService>(*user_store_, clock_);
    bus_ = adapters::make_in_process_bus();
    messaging_ =
        std::make_unique<messaging::MessagingService>(*messaging_store_, *users_, *bus_, clock_);
    FilesOptions o;
    o.sweep_interval_ms = 0;  // the test sweeps
    o.upload_ttl_ms = 60'000;
    o.max_file_bytes = 20 * 1024 * 1024;
    o.user_quota_bytes = 30 * 1024 * 1024;
    svc_ = std::make_unique<FileService>(*file_store_, *blobs_, *messaging_, clock_, o);
    alice_ = users_->create({"alice", {}, {}})->id;
  }
  void TearDown() override {
    svc_.reset();
    messaging_.reset();
    file_store_.reset();
    messaging_store_.reset();
    user_store_.reset();
    db_->stop();
    db_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::size_t staged_files() const {
    std::size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir_ / "files" / "staging"))
      n += e.is_regular_file();
    return n;
  }

  std::filesystem::path dir_;
  FakeClock clock_;
  std::unique_ptr<sqlite::Database> db_;
  std::unique_ptr<users::UserStore> user_store_;
  std::unique_ptr<messaging::MessagingStore> messaging_store_;
  std::unique_ptr<FileStore> file_store_;
  std::unique_ptr<local::LocalBlobStore> blobs_;
  std::unique_ptr<users::UserService> users_;
  std::unique_ptr<Bus> bus_;
  std::unique_ptr<messaging::MessagingService> messaging_;
  std::unique_ptr<FileService> svc_;
  std::string alice_;
};

TEST_F(FileServiceTest, UnfinishedUploadsExpireAndTheirBytesGo) {
  auto u = svc_->create_upload(alice_, {10 * 1024 * 1024, "a.bin", ""});
  ASSERT_TRUE(u) << u.error().message;
  auto w = svc_->write_upload(alice_, u->id, 0);
  ASSERT_TRUE(w);
  ASSERT_TRUE((*w)->write(std::string(9 * 1024 * 1024, 'x')));  // one part stored, a tail left
  auto state = (*w)->finish();
  ASSERT_TRUE(state);
  EXPECT_EQ(state->offset, 9u * 1024 * 1024);
  w->reset();
  EXPECT_EQ(staged_files(), 1u);

  // Each request moves the expiry on; an idle upload goes once it has passed.
  clock_.advance_ms(59'000);
  EXPECT_EQ(svc_->sweep(), 0);
  clock_.advance_ms(2'000);
  EXPECT_EQ(svc_->sweep(), 1);
  EXPECT_EQ(svc_->upload(alice_, u->id).error().code, Errc::not_found);
  EXPECT_EQ(staged_files(), 0u) << "the staged part is freed";
  // And the quota it held is free again.
  EXPECT_TRUE(svc_->create_upload(alice_, {20 * 1024 * 1024, "b.bin", ""}));
}

TEST_F(FileServiceTest, OneRequestWritesAnUploadAtATime) {
  auto u = svc_->create_upload(alice_, {100, "a.bin", ""});
  ASSERT_TRUE(u);
  auto first = svc_->write_upload(alice_, u->id, 0);
  ASSERT_TRUE(first);
  auto second = svc_->write_upload(alice_, u->id, 0);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, Errc::failed_precondition);
  EXPECT_EQ(svc_->terminate(alice_, u->id).error().code, Errc::failed_precondition);
  // The sweep leaves it alone even when it has expired meanwhile.
  clock_.advance_ms(120'000);
  EXPECT_EQ(svc_->sweep(), 0);
  ASSERT_TRUE((*first)->write("0123456789"));
  ASSERT_TRUE((*first)->finish());
  first->reset();
  auto third = svc_->write_upload(alice_, u->id, 10);
  EXPECT_TRUE(third);
}

TEST_F(FileServiceTest, AFinishedUploadsFileOutlivesTheUpload) {
  auto u = svc_->create_upload(alice_, {5, "hi.txt", "text/plain"});
  ASSERT_TRUE(u);
  auto w = svc_->write_upload(alice_, u->id, 0);
  ASSERT_TRUE((*w)->write("hello"));
  auto done = (*w)->finish();
  ASSERT_TRUE(done && done->file) << (done ? "no file" : done.error().message);
  w->reset();
  clock_.advance_ms(120'000);
  EXPECT_EQ(svc_->sweep(), 1);
  auto f = svc_->file(alice_, done->file->id);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->content_type, "text/plain");
  auto bytes = svc_->content(alice_, done->file->id, false);
  ASSERT_TRUE(bytes);
  EXPECT_EQ(*svc_->read(bytes->blob_key, 0, 100), "hello");
}

TEST_F(FileServiceTest, NamesAreMadeSafe) {
  struct Case {
    std::string in, out;
  };
  for (const auto& c : std::vector<Case>{{"../../etc/passwd", ".._.._etc_passwd"},
                                         {"a\nb\tc.txt", "a_b_c.txt"},
                                         {"  ", "file"},
                                         {"\xff\xfe.bin", "file"},
                                         {std::string(300, 'a'), std::string(255, 'a')},
                                         {"caf\xC3\xA9.txt", "caf\xC3\xA9.txt"}}) {
    auto u = svc_->create_upload(alice_, {0, c.in, ""});
    ASSERT_TRUE(u);
    ASSERT_TRUE(u->file) << "an empty file is finished at once";
    EXPECT_EQ(u->file->name, c.out) << c.in;
  }
}

TEST(ContentTypes, ComeFromTheBytes) {
  using namespace std::string_literals;
  EXPECT_EQ(detect_content_type("\x89PNG\r\n\x1a\n\0\0\0\rIHDR"s, "x.txt"), "image/png");
  EXPECT_EQ(detect_content_type("%PDF-1.4\n", "x.png"), "application/pdf");
  EXPECT_EQ(detect_content_type("<html><body>x</body></html>", "x.png"), "text/html");
  EXPECT_EQ(detect_content_type("plain words\n", "notes.md"), "text/markdown");
  EXPECT_EQ(detect_content_type(std::string("\0\1\2\3", 4), "x.exe"), "application/octet-stream");
  EXPECT_TRUE(is_inline_safe("image/png"));
  EXPECT_TRUE(is_inline_safe("video/mp4"));
  EXPECT_FALSE(is_inline_safe("image/svg+xml"));
  EXPECT_FALSE(is_inline_safe("text/html"));
  EXPECT_FALSE(is_inline_safe("application/pdf"));
}

}  // namespace
}  // namespace parley::files
