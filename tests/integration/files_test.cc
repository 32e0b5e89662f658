// Files over HTTP, as a tus client and a browser would use them: resumable uploads (an upload
// broken off mid-body resumes byte-identical), limits and quotas, who may read a file (404 for
// everyone else), headers that keep uploaded HTML and SVG from running script, image metadata
// stripped, attachments on messages, signed links, Range and ETag. The suite runs once on local
// disk and once on S3 (s3rver at PARLEY_TEST_S3_URL; skipped without it). Scanning with a real
// clamd, link previews and a 2 GiB upload with flat server memory have suites of their own.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/sha.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vips/vips.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "file_support.h"
#include "test_server.h"

namespace parley::itest {
namespace {

using namespace chat;
using namespace files;

// The start of a request written on a raw socket and then abandoned: a client whose network
// dropped mid-upload.
void send_then_drop(std::uint16_t port, const std::string& head, std::string_view body) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  auto write_all = [fd](std::string_view s) {
    while (!s.empty()) {
      ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      s.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  };
  ASSERT_TRUE(write_all(head));
  ASSERT_TRUE(write_all(body));
  ::close(fd);
}

std::string raw_patch_head(std::uint16_t port, const Account& who, const std::string& location,
                           std::uint64_t offset, std::uint64_t content_length) {
  return "PATCH " + location + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
         "\r\nAuthorization: Bearer " + who.access +
         "\r\nTus-Resumable: 1.0.0\r\nContent-Type: application/offset+octet-stream\r\n"
         "Upload-Offset: " +
         std::to_string(offset) + "\r\nContent-Length: " + std::to_string(content_length) +
         "\r\n\r\n";
}

// Where an upload stands (tus HEAD), polled until it stops moving: the server finishes a
// broken-off request after the client has gone.
std::uint64_t settled_offset(Api& api, const Account& who, const std::string& location,
                             std::uint64_t expect) {
  std::uint64_t offset = 0;
  for (int i = 0; i < 100; ++i) {
    auto h = api.call("HEAD", location, {}, who.access, tus());
    if (h.status == 200) offset = std::stoull(h.header("Upload-Offset"));
    if (offset == expect) break;
    std::this_thread::sleep_for(50ms);
  }
  return offset;
}

// ---- the suite on each storage ----

struct LocalStorage {
  static const char* name() { return "local"; }
  static std::vector<std::string> args() { return {}; }
};

struct S3Storage {
  static const char* name() { return "s3"; }
  static std::vector<std::string> args() {
    const char* url = std::getenv("PARLEY_TEST_S3_URL");
    if (!url) return {};
    const char* key = std::getenv("PARLEY_TEST_S3_ACCESS_KEY");
    const char* secret = std::getenv("PARLEY_TEST_S3_SECRET_KEY");
    return {"--storage", url, "--s3-access-key", key ? key : "",
            "--s3-secret-key", secret ? secret : ""};
  }
};

template <class Storage>
class FilesTest : public SharedServerTest {
 public:
  static void SetUpTestSuite() {
    if (std::string(Storage::name()) == "s3" && !std::getenv("PARLEY_TEST_S3_URL")) return;
    auto args = Storage::args();
    for (const char* a : {"--max-file-bytes", "67108864", "--user-quota-bytes", "104857600"})
      args.push_back(a);
    start_shared(args);
  }

 protected:
  void SetUp() override {
    if (std::string(Storage::name()) == "s3" && !std::getenv("PARLEY_TEST_S3_URL"))
      GTEST_SKIP() << "PARLEY_TEST_S3_URL is not set (make test starts s3rver)";
    SharedServerTest::SetUp();
  }
  bool local() const { return std::string(Storage::name()) == "local"; }
};

using Storages = ::testing::Types<LocalStorage, S3Storage>;
class StorageNames {
 public:
  template <class T>
  static std::string GetName(int) {
    return T::name();
  }
};
TYPED_TEST_SUITE(FilesTest, Storages, StorageNames);

TYPED_TEST(FilesTest, OptionsListsTheTusExtensions) {
  auto api = this->api();
  auto r = api.call("OPTIONS", kUploads);
  EXPECT_EQ(r.status, 204) << r;
  EXPECT_EQ(r.header("Tus-Version"), "1.0.0");
  EXPECT_EQ(r.header("Tus-Extension"), "creation,creation-with-upload,termination,expiration");
  EXPECT_EQ(r.header("Tus-Max-Size"), "67108864");
}

TYPED_TEST(FilesTest, AnUploadBrokenOffResumesByteIdentical) {
  auto api = this->api();
  auto a = register_account(api, "res");
  const std::string bytes = random_bytes_of(20 * kMiB + 12345, 7);
  auto c = create_upload(api, a, bytes.size(), "big.bin");
  ASSERT_EQ(c.status, 201) << c;
  const std::string location = c.header("Location");
  ASSERT_TRUE(location.starts_with(kUploads + "/")) << location;
  EXPECT_FALSE(c.header("Upload-Expires").empty());

  // 11 MiB + 7 of the body arrive (past one 8 MiB part, into the next), then the network drops.
  const std::size_t sent = 11 * kMiB + 7;
  send_then_drop(this->port(), raw_patch_head(this->port(), a, location, 0, bytes.size()),
                 std::string_view(bytes).substr(0, sent));
  ASSERT_EQ(settled_offset(api, a, location, sent), sent);

  // A PATCH from anywhere else is refused, and changes nothing.
  auto wrong = patch_upload(api, a, location, 0, "xx");
  EXPECT_EQ(wrong.status, 409) << wrong;
  EXPECT_EQ(settled_offset(api, a, location, sent), sent);

  auto rest = patch_upload(api, a, location, sent, std::string_view(bytes).substr(sent));
  ASSERT_EQ(rest.status, 204) << rest;
  EXPECT_EQ(rest.header("Upload-Offset"), std::to_string(bytes.size()));
  const std::string file_id = rest.header("Parley-File-Id");
  ASSERT_EQ(file_id.size(), 26u) << rest;

  auto done = api.get(location, a.access);
  ASSERT_EQ(done.status, 200) << done;
  const auto& file = field(done.json, "file")->as_object();
  EXPECT_EQ(str(file, "id"), file_id);
  EXPECT_EQ(num(file, "size"), static_cast<std::int64_t>(bytes.size()));
  EXPECT_EQ(str(file, "sha256"), sha256_hex(bytes));
  EXPECT_EQ(str(file, "name"), "big.bin");
  EXPECT_EQ(str(file, "url"), "/api/v1/files/" + file_id);

  auto got = download(api, a, file_id);
  ASSERT_EQ(got.status, 200) << got.status;
  EXPECT_EQ(got.body.size(), bytes.size());
  EXPECT_TRUE(got.body == bytes) << "downloaded bytes differ";
  EXPECT_EQ(sha256_hex(got.body), sha256_hex(bytes));
  // A finished upload takes no more bytes.
  EXPECT_EQ(patch_upload(api, a, location, bytes.size(), "x").status, 409);
}

TYPED_TEST(FilesTest, CreationWithUploadAndTermination) {
  auto api = this->api();
  auto a = register_account(api, "cwu");
  const std::string first = "hello, ";
  auto c = api.call("POST", kUploads, first, a.access,
                    tus({{"Upload-Length", "12"},
                         {"Upload-Metadata", "filename " + b64("hi.txt")},
                         {"Content-Type", "application/offset+octet-stream"}}));
  ASSERT_EQ(c.status, 201) << c;
  EXPECT_EQ(c.header("Upload-Offset"), "7");
  auto location = c.header("Location");
  auto head = api.call("HEAD", location, {}, a.access, tus());
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.header("Upload-Offset"), "7");
  EXPECT_EQ(head.header("Upload-Length"), "12");
  EXPECT_EQ(head.header("Cache-Control"), "no-store");

  EXPECT_EQ(api.call("DELETE", location, {}, a.access, tus()).status, 204);
  EXPECT_EQ(api.call("HEAD", location, {}, a.access, tus()).status, 404);
  EXPECT_EQ(patch_upload(api, a, location, 7, "world").status, 404);

  // Without Tus-Resumable the server says which version it speaks.
  auto old = api.call("POST", kUploads, {}, a.access, {{"Upload-Length", "1"}});
  EXPECT_EQ(old.status, 412) << old;
  EXPECT_EQ(old.header("Tus-Version"), "1.0.0");
  // Bad headers are clear 400s.
  auto no_length = api.call("POST", kUploads, {}, a.access, tus());
  EXPECT_EQ(no_length.status, 400) << no_length;
  auto bad_meta =
      api.call("POST", kUploads, {}, a.access,
               tus({{"Upload-Length", "1"}, {"Upload-Metadata", "filename not*base64"}}));
  EXPECT_EQ(bad_meta.status, 400) << bad_meta;
  auto c2 = create_upload(api, a, 3);
  auto wrong_type = api.call("PATCH", c2.header("Location"), "abc", a.access,
                             tus({{"Upload-Offset", "0"}, {"Content-Type", "text/plain"}}));
  EXPECT_EQ(wrong_type.status, 415) << wrong_type;
  auto past_end = patch_upload(api, a, c2.header("Location"), 0, "abcd");
  EXPECT_EQ(past_end.status, 413) << past_end;
  auto no_token = api.call("POST", kUploads, {}, {}, tus({{"Upload-Length", "1"}}));
  EXPECT_EQ(no_token.status, 401);
}

// The tus headers are the upload routes' input: each bad spelling gets a clear 4xx, nothing is
// created, and the server keeps serving.
TYPED_TEST(FilesTest, MalformedTusHeadersAreRefused) {
  auto api = this->api();
  auto a = register_account(api, "tushdr");
  // (Spaces around a value are HTTP's optional whitespace, not part of it.)
  const std::vector<std::string> lengths = {"",     "-1",  "abc", "1e3", "0x10", "+5", "5 5",
                                            "18446744073709551616", "99999999999999999999"};
  for (const auto& l : lengths) {
    auto r = api.call("POST", kUploads, {}, a.access, tus({{"Upload-Length", l}}));
    EXPECT_GE(r.status, 400) << "Upload-Length \"" << l << "\": " << r;
    EXPECT_LT(r.status, 500) << "Upload-Length \"" << l << "\": " << r;
    EXPECT_FALSE(r.has_header("Location")) << l;
  }
  for (const auto& m : std::vector<std::string>{"filename", "filename ====", "filename a b",
                                                "filename \xff\xfe", ",,,", "filename %%%"}) {
    auto r = api.call("POST", kUploads, {}, a.access,
                      tus({{"Upload-Length", "3"}, {"Upload-Metadata", m}}));
    EXPECT_TRUE(r.status == 201 || r.status == 400) << "Upload-Metadata \"" << m << "\": " << r;
  }
  auto c = create_upload(api, a, 10);
  ASSERT_EQ(c.status, 201);
  for (const auto& o : std::vector<std::string>{"", "-1", "x", "1.5", "99999999999999999999"}) {
    auto r = api.call("PATCH", c.header("Location"), "abc", a.access,
                      tus({{"Upload-Offset", o}, {"Content-Type", "application/offset+octet-stream"}}));
    EXPECT_TRUE(r.status == 400 || r.status == 409) << "Upload-Offset \"" << o << "\": " << r;
  }
  EXPECT_EQ(api.call("HEAD", c.header("Location"), {}, a.access, tus()).header("Upload-Offset"),
            "0");
  EXPECT_EQ(api.get("/api/v1/health").status, 200);
}

TYPED_TEST(FilesTest, SizeLimitAndQuota) {
  auto api = this->api();
  auto a = register_account(api, "quota");
  auto big = create_upload(api, a, 64 * kMiB + 1);
  EXPECT_EQ(big.status, 413) << big;
  EXPECT_EQ(big.error_code(), "payload_too_large");
  EXPECT_TRUE(mentions(big.json, "67108864")) << big;

  // Unfinished uploads count against the quota (100 MiB here) as much as files do.
  ASSERT_EQ(create_upload(api, a, 60 * kMiB).status, 201);
  ASSERT_EQ(create_upload(api, a, 30 * kMiB).status, 201);
  auto over = create_upload(api, a, 20 * kMiB);
  EXPECT_EQ(over.status, 413) << over;
  EXPECT_EQ(over.error_code(), "quota_exceeded");
  // Another user's quota is their own.
  auto b = register_account(api, "quotab");
  EXPECT_EQ(create_upload(api, b, 20 * kMiB).status, 201);
  // A PATCH body over Tus-Max-Size is refused before it is read.
  auto c = create_upload(api, b, 10);
  auto huge = api.call("PATCH", c.header("Location"), std::string(100, 'x'), b.access,
                       tus({{"Upload-Offset", "0"},
                            {"Content-Type", "application/offset+octet-stream"}}));
  EXPECT_EQ(huge.status, 413) << huge;
}

TYPED_TEST(FilesTest, OnlyTheUploaderAndMembersWhereItWasPostedMayReadAFile) {
  auto api = this->api();
  auto a = register_account(api, "own");
  auto b = register_account(api, "mem");
  auto stranger = register_account(api, "str");
  const std::string photo = jpeg_with_gps();
  auto file = upload(api, a, photo, "photo.jpg", "image/jpeg");
  const std::string id = str(file, "id");
  ASSERT_FALSE(str(file, "thumbnail_url").empty()) << dump(file);

  // Before it is posted, only its uploader sees it.
  EXPECT_EQ(download(api, a, id).status, 200);
  EXPECT_EQ(download(api, b, id).status, 404);

  auto conv = make_group(api, a, {b.id});
  auto sent = api.post(conv_path(conv) + "/messages",
                       object{{"text", ""}, {"client_msg_id", fresh_cmid()},
                              {"attachments", array{value(id)}}},
                       a.access);
  ASSERT_EQ(sent.status, 201) << sent;

  for (const auto& suffix : {std::string(), std::string("/thumbnail"), std::string("/link"),
                             std::string("/info")}) {
    EXPECT_EQ(download(api, b, id, {}, suffix).status, 200) << "member " << suffix;
    auto s = download(api, stranger, id, {}, suffix);
    EXPECT_EQ(s.status, 404) << "stranger " << suffix << ": " << s;
    EXPECT_EQ(s.error_code(), "not_found");
  }
  // Upload ids are the uploader's alone, whatever the method.
  auto c = create_upload(api, a, 10);
  auto location = c.header("Location");
  EXPECT_EQ(api.get(location, stranger.access).status, 404);
  EXPECT_EQ(api.call("HEAD", location, {}, stranger.access, tus()).status, 404);
  EXPECT_EQ(patch_upload(api, stranger, location, 0, "0123456789").status, 404);
  EXPECT_EQ(api.call("DELETE", location, {}, stranger.access, tus()).status, 404);
  EXPECT_EQ(api.call("HEAD", location, {}, a.access, tus()).header("Upload-Offset"), "0");
  // Unknown and malformed ids look the same.
  EXPECT_EQ(download(api, a, kUnknownId).status, 404);
  EXPECT_EQ(download(api, a, "..%2F..%2Fetc%2Fpasswd").status, 404);
  // Nobody can attach a file they cannot see.
  auto theirs = api.post(conv_path(make_group(api, stranger, {a.id})) + "/messages",
                         object{{"text", "mine now"}, {"client_msg_id", fresh_cmid()},
                                {"attachments", array{value(id)}}},
                         stranger.access);
  EXPECT_EQ(theirs.status, 422) << theirs;
  EXPECT_EQ(theirs.error_field(), "attachments");
}

TYPED_TEST(FilesTest, UploadedHtmlAndSvgCannotRunScript) {
  auto api = this->api();
  auto a = register_account(api, "xss");
  struct Case {
    std::string bytes, name, claimed, detected;
  };
  std::vector<Case> cases = {
      {"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>",
       "cute.png", "image/png", "text/html"},
      {"<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\">"
       "<script>alert(2)</script><rect width=\"10\" height=\"10\"/></svg>",
       "logo.svg", "image/svg+xml", "image/svg+xml"}};
  for (const auto& c : cases) {
    auto file = upload(api, a, c.bytes, c.name, c.claimed);
    EXPECT_EQ(str(file, "content_type"), c.detected) << "the type comes from the bytes";
    auto got = download(api, a, str(file, "id"));
    ASSERT_EQ(got.status, 200);
    EXPECT_EQ(got.body, c.bytes);
    EXPECT_EQ(got.header("Content-Type"), c.detected);
    EXPECT_EQ(got.header("X-Content-Type-Options"), "nosniff");
    EXPECT_TRUE(got.header("Content-Security-Policy").starts_with("sandbox"))
        << got.header("Content-Security-Policy");
    EXPECT_TRUE(got.header("Content-Disposition").starts_with("attachment;"))
        << got.header("Content-Disposition");
  }
  // A real image is shown inline.
  auto img = upload(api, a, jpeg_with_gps(), "p.jpg");
  auto got = download(api, a, str(img, "id"));
  EXPECT_TRUE(got.header("Content-Disposition").starts_with("inline;"));
  EXPECT_TRUE(got.header("Content-Security-Policy").starts_with("sandbox"));
}

TYPED_TEST(FilesTest, ExifGpsIsGoneFromAStoredJpeg) {
  auto api = this->api();
  auto a = register_account(api, "exif");
  const std::string photo = jpeg_with_gps();
  ASSERT_NE(photo.find("WGS-84"), std::string::npos) << "the fixture carries GPS";
  ASSERT_NE(photo.find("Secretowner"), std::string::npos);
  auto file = upload(api, a, photo, "holiday.jpg", "image/jpeg");
  EXPECT_EQ(str(file, "content_type"), "image/jpeg");
  EXPECT_EQ(num(file, "width"), 1200);
  EXPECT_EQ(num(file, "height"), 900);
  auto got = download(api, a, str(file, "id"));
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(got.body.find("WGS-84"), std::string::npos);
  EXPECT_EQ(got.body.find("Secretowner"), std::string::npos);
  EXPECT_EQ(got.body.find("Exif"), std::string::npos);
  EXPECT_EQ(str(file, "sha256"), sha256_hex(got.body)) << "sha256 is of the stored bytes";
  EXPECT_EQ(num(file, "size"), static_cast<std::int64_t>(got.body.size()));
  auto thumb = download(api, a, str(file, "id"), {}, "/thumbnail");
  EXPECT_EQ(thumb.status, 200);
  EXPECT_TRUE(thumb.header("Content-Type").starts_with("image/")) << thumb.header("Content-Type");
}

TYPED_TEST(FilesTest, ATransparentPngGetsAWebpThumbnailThatKeepsItsAlpha) {
  auto api = this->api();
  auto a = register_account(api, "alpha");
  auto file = upload(api, a, png_with_alpha(), "logo.png");
  EXPECT_EQ(str(file, "content_type"), "image/png");
  auto thumb = download(api, a, str(file, "id"), {}, "/thumbnail");
  ASSERT_EQ(thumb.status, 200);
  EXPECT_EQ(thumb.header("Content-Type"), "image/webp");
  EXPECT_EQ(thumb.body.substr(0, 4), "RIFF");
  EXPECT_EQ(thumb.body.substr(8, 4), "WEBP");
}

TYPED_TEST(FilesTest, AttachmentsTravelWithTheMessageAndItsEvent) {
  auto api = this->api();
  auto a = register_account(api, "att");
  auto b = register_account(api, "attb");
  auto conv = make_group(api, a, {b.id});
  Live bob(this->port(), b);
  auto pdf = upload(api, a, "%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n", "plan.pdf");
  EXPECT_EQ(str(pdf, "content_type"), "application/pdf");
  auto img = upload(api, a, jpeg_with_gps(), "pic.jpg");

  Live alice(this->port(), a);
  alice.send(object{{"type", "send"},
                    {"req", "s1"},
                    {"conversation_id", conv},
                    {"client_msg_id", fresh_cmid()},
                    {"attachments", array{value(str(pdf, "id")), value(str(img, "id"))}}});
  auto ack = alice.reply("ack", "s1");
  const auto& message = ack.at("message").as_object();
  EXPECT_EQ(str(message, "text"), "");
  auto files = arr(message, "attachments");
  ASSERT_EQ(files.size(), 2u) << dump(message);
  EXPECT_EQ(str(files[0], "name"), "plan.pdf");
  EXPECT_EQ(num(files[1], "width"), 1200);
  EXPECT_FALSE(str(files[1], "thumbnail_url").empty());

  auto created = bob.event("message.created", with_id(str(message, "id")));
  ASSERT_EQ(arr(created, "attachments").size(), 2u) << dump(created);
  EXPECT_EQ(str(arr(created, "attachments")[0], "sha256"), str(pdf, "sha256"));
  // Bob reads the PDF as a member, and the history carries the files too.
  EXPECT_EQ(download(api, b, str(pdf, "id")).body.substr(0, 5), "%PDF-");
  auto msgs = all_messages(api, b, conv);
  ASSERT_FALSE(msgs.empty());
  EXPECT_EQ(arr(msgs.back(), "attachments").size(), 2u);

  // Limits: eleven files, a file twice, an unknown id; nothing is stored for any.
  array eleven;
  for (int i = 0; i < 11; ++i) eleven.push_back(value(str(pdf, "id")));
  for (const auto& bad : {eleven, array{value(str(pdf, "id")), value(str(pdf, "id"))},
                          array{value(kUnknownId)}}) {
    auto r = api.post(conv_path(conv) + "/messages",
                      object{{"text", "x"}, {"client_msg_id", fresh_cmid()}, {"attachments", bad}},
                      a.access);
    EXPECT_EQ(r.status, 422) << r;
    EXPECT_EQ(r.error_field(), "attachments");
  }
  auto wrong_type = api.post(conv_path(conv) + "/messages",
                             object{{"text", "x"}, {"client_msg_id", fresh_cmid()},
                                    {"attachments", "not a list"}},
                             a.access);
  EXPECT_EQ(wrong_type.status, 400) << wrong_type;
  auto no_text_no_files = api.post(conv_path(conv) + "/messages",
                                   object{{"client_msg_id", fresh_cmid()}}, a.access);
  EXPECT_EQ(no_text_no_files.status, 400) << no_text_no_files;
  EXPECT_EQ(all_messages(api, b, conv).size(), msgs.size());
}

TYPED_TEST(FilesTest, IdenticalContentIsStoredOnce) {
  auto api = this->api();
  auto a = register_account(api, "dup");
  auto b = register_account(api, "dupb");
  const std::string bytes = random_bytes_of(3 * kMiB, 99);
  auto f1 = upload(api, a, bytes, "one.bin");
  auto f2 = upload(api, b, bytes, "two.bin");
  EXPECT_NE(str(f1, "id"), str(f2, "id"));
  EXPECT_EQ(str(f1, "sha256"), str(f2, "sha256"));
  EXPECT_EQ(str(f2, "name"), "two.bin");
  EXPECT_EQ(download(api, b, str(f2, "id")).body, bytes);
  if (this->local()) {
    int same = 0;
    for (const auto& e : std::filesystem::recursive_directory_iterator(
             this->server().data_dir() + "/files/objects"))
      if (e.is_regular_file() && e.file_size() == bytes.size()) ++same;
    EXPECT_EQ(same, 1) << "identical bytes are one object on disk";
  }
}

TYPED_TEST(FilesTest, SignedLinksRangesAndEtags) {
  auto api = this->api();
  auto a = register_account(api, "link");
  const std::string bytes = random_bytes_of(100'000, 3);
  auto file = upload(api, a, bytes);
  const std::string id = str(file, "id");

  auto link = download(api, a, id, {}, "/link");
  ASSERT_EQ(link.status, 200) << link;
  const std::string url = str(link.json, "url");
  EXPECT_GT(num(link.json, "expires_at"), 0);
  EXPECT_EQ(url.find(a.access), std::string::npos) << "no token in the URL";
  Api anon(this->port());
  auto by_link = anon.get(url);
  EXPECT_EQ(by_link.status, 200);
  EXPECT_TRUE(by_link.body == bytes);
  std::string tampered = url;
  tampered[tampered.size() - 1] = tampered.back() == '0' ? '1' : '0';
  EXPECT_EQ(anon.get(tampered).status, 404);
  auto exp_at = url.find("expires=");
  std::string later = url;
  later.replace(exp_at + 8, 1, std::to_string((url[exp_at + 8] - '0' + 1) % 10));
  EXPECT_EQ(anon.get(later).status, 404) << "the signature covers expires";
  EXPECT_EQ(anon.get("/api/v1/files/" + id).status, 401);

  auto part = download(api, a, id, {{"Range", "bytes=1000-1999"}});
  EXPECT_EQ(part.status, 206);
  EXPECT_EQ(part.header("Content-Range"), "bytes 1000-1999/100000");
  EXPECT_TRUE(part.body == bytes.substr(1000, 1000));
  auto tail = download(api, a, id, {{"Range", "bytes=-10"}});
  EXPECT_EQ(tail.status, 206);
  EXPECT_TRUE(tail.body == bytes.substr(bytes.size() - 10));
  auto open_end = download(api, a, id, {{"Range", "bytes=99990-"}});
  EXPECT_EQ(open_end.body.size(), 10u);
  auto beyond = download(api, a, id, {{"Range", "bytes=100000-"}});
  EXPECT_EQ(beyond.status, 416);
  EXPECT_EQ(beyond.header("Content-Range"), "bytes */100000");

  auto whole = download(api, a, id);
  const std::string etag = whole.header("ETag");
  EXPECT_EQ(etag, "\"" + str(file, "sha256") + "\"");
  auto again = download(api, a, id, {{"If-None-Match", etag}});
  EXPECT_EQ(again.status, 304);
  EXPECT_TRUE(again.body.empty());
}

// ---- scanning with a real clamd ----

// Runs a shell command; its exit code and output.
CommandRun shell(const std::string& command) {
  CommandRun run;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (!p) return run;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) run.output.append(buf, n);
  int status = ::pclose(p);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

class ScannedFilesTest : public SharedServerTest {
 public:
  static void SetUpTestSuite() {
    dir_ = (std::filesystem::temp_directory_path() /
            ("parley-clamd-" + std::to_string(::getpid())))
               .string();
    auto run = shell("bash " PARLEY_SOURCE_DIR "/scripts/clamd.sh start " + dir_);
    if (run.exit_code == 3) {
      skip_ = "clamd is not installed";
      return;
    }
    socket_ = run.output.substr(0, run.output.find_last_not_of("\n") + 1);
    if (run.exit_code != 0 || socket_.empty()) {
      skip_.clear();
      start_error_text_ = "clamd did not start: " + run.output;
      return;
    }
    start_shared({"--clamd", socket_});
  }
  static void TearDownTestSuite() {
    SharedServerTest::TearDownTestSuite();
    shell("bash " PARLEY_SOURCE_DIR "/scripts/clamd.sh stop " + dir_);
  }

 protected:
  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    ASSERT_TRUE(start_error_text_.empty()) << start_error_text_;
    SharedServerTest::SetUp();
  }
  static inline std::string dir_, socket_, skip_, start_error_text_;
};

TEST_F(ScannedFilesTest, EicarIsQuarantinedAndNeverServed) {
  auto api = this->api();
  auto a = register_account(api, "av");
  const std::string eicar =
      "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
  auto c = create_upload(api, a, eicar.size(), "innocent.txt");
  ASSERT_EQ(c.status, 201);
  auto p = patch_upload(api, a, c.header("Location"), 0, eicar);
  ASSERT_EQ(p.status, 204) << p;
  const std::string id = p.header("Parley-File-Id");
  auto got = download(api, a, id);
  EXPECT_EQ(got.status, 403) << got;
  EXPECT_EQ(got.body.find("EICAR"), std::string::npos);
  EXPECT_EQ(download(api, a, id, {}, "/link").status, 403);
  auto b = register_account(api, "avb");
  auto conv = make_group(api, a, {b.id});
  auto sent = api.post(conv_path(conv) + "/messages",
                       object{{"text", "see"}, {"client_msg_id", fresh_cmid()},
                              {"attachments", array{value(id)}}},
                       a.access);
  EXPECT_EQ(sent.status, 422) << sent;
  EXPECT_TRUE(this->server().wait_for_log("file quarantined", 2s));

  // A clean file next to it is served.
  auto clean = upload(api, a, "just text\n", "clean.txt");
  EXPECT_EQ(download(api, a, str(clean, "id")).status, 200);
}

// ---- a 2 GiB upload: the server's memory stays flat ----

std::int64_t status_kib(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + ":", 0) == 0) return std::stoll(line.substr(key.size() + 1));
  return -1;
}

class BigUploadTest : public SharedServerTest {
 public:
  static void SetUpTestSuite() {
    start_shared({"--max-file-bytes", "4294967296", "--user-quota-bytes", "8589934592"});
  }
};

TEST_F(BigUploadTest, TwoGibibytesWithTheServersMemoryFlat) {
  const std::uint64_t size = [] {
    const char* env = std::getenv("PARLEY_TEST_BIG_UPLOAD_BYTES");
    return env ? std::stoull(env) : 2ULL * 1024 * 1024 * 1024;
  }();
  auto api = this->api();
  auto a = register_account(api, "big");
  auto c = create_upload(api, a, size, "huge.bin");
  ASSERT_EQ(c.status, 201) << c;
  const pid_t pid = this->server().pid();
  const std::int64_t before = status_kib(pid, "VmHWM");

  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(this->port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  std::string head = raw_patch_head(this->port(), a, c.header("Location"), 0, size);
  ASSERT_EQ(::send(fd, head.data(), head.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(head.size()));
  // The body comes from a generator a MiB at a time, hashed as it goes.
  SHA256_CTX sha;
  SHA256_Init(&sha);
  std::string chunk = random_bytes_of(kMiB, 5);
  for (std::uint64_t sent = 0; sent < size;) {
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(kMiB, size - sent));
    chunk[0] = static_cast<char>(sent >> 20);  // every MiB differs
    SHA256_Update(&sha, chunk.data(), n);
    std::string_view left(chunk.data(), n);
    while (!left.empty()) {
      ssize_t w = ::send(fd, left.data(), left.size(), MSG_NOSIGNAL);
      ASSERT_GT(w, 0) << "the server stopped reading at " << sent;
      left.remove_prefix(static_cast<std::size_t>(w));
    }
    sent += n;
  }
  std::string answer(4096, '\0');
  ssize_t got = ::recv(fd, answer.data(), answer.size(), 0);
  ::close(fd);
  ASSERT_GT(got, 0);
  answer.resize(static_cast<std::size_t>(got));
  ASSERT_TRUE(answer.starts_with("HTTP/1.1 204")) << answer;
  auto id_at = answer.find("Parley-File-Id: ");
  ASSERT_NE(id_at, std::string::npos) << answer;
  const std::string id = answer.substr(id_at + 16, 26);

  const std::int64_t after = status_kib(pid, "VmHWM");
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256_Final(d, &sha);
  std::string expected;
  for (unsigned char b : d) {
    static constexpr char kHex[] = "0123456789abcdef";
    expected += kHex[b >> 4];
    expected += kHex[b & 15];
  }
  auto info = download(api, a, id, {}, "/info");
  EXPECT_EQ(str(field(info.json, "file") ? *field(info.json, "file") : value(), "sha256"),
            expected);
  std::printf("[ figures  ] %llu-byte upload: server peak RSS %lld KiB before, %lld KiB after\n",
              static_cast<unsigned long long>(size), static_cast<long long>(before),
              static_cast<long long>(after));
  ::testing::Test::RecordProperty("peak_rss_kib_before", std::to_string(before));
  ::testing::Test::RecordProperty("peak_rss_kib_after", std::to_string(after));
  // One 8 MiB part buffered, 256 KiB pieces in flight: far below the file's size.
  EXPECT_LT(after - before, 64 * 1024) << "peak RSS grew by " << (after - before) << " KiB";
}

}  // namespace
}  // namespace parley::itest

namespace parley::itest {
namespace {

using namespace chat;
using curl::testing::TestHttpServer;

const char* kPage =
    "<!doctype html><html><head><title>Fallback</title>"
    "<meta property=\"og:title\" content=\"The Plan &amp; Its Parts\">"
    "<meta property=\"og:description\" content=\"Everything about the plan.\">"
    "<meta property=\"og:site_name\" content=\"Plans Weekly\">"
    "<meta property=\"og:image\" content=\"/cover.png\"></head><body>hi</body></html>";

// Link previews: loopback pages are fetched only where --outbound-allow lets them.
class PreviewsTest : public SharedServerTest {
 public:
  static void SetUpTestSuite() { start_shared({"--outbound-allow", "127.0.0.0/8"}); }
};

TEST_F(PreviewsTest, ALinkInAMessageGetsAPreviewCard) {
  const std::string cover = jpeg_with_gps(800, 600);
  TestHttpServer site([&cover](const curl::testing::TestRequest& r) {
    if (r.target == "/cover.png") return curl::testing::http_response(200, "image/jpeg", cover);
    return curl::testing::http_response(200, "text/html; charset=utf-8", kPage);
  });
  auto api = this->api();
  auto a = register_account(api, "pv");
  auto b = register_account(api, "pvb");
  auto conv = make_group(api, a, {b.id});
  Live bob(this->port(), b);
  const std::string url = "http://127.0.0.1:" + std::to_string(site.port()) + "/plan";
  auto sent = send_ok(api, a, conv, "read this: " + url + " today");
  auto updated = bob.event("message.updated", with_id(str(sent, "id")), 10s);
  auto previews = arr(updated, "previews");
  ASSERT_EQ(previews.size(), 1u) << dump(updated);
  EXPECT_EQ(str(previews[0], "url"), url);
  EXPECT_EQ(str(previews[0], "title"), "The Plan & Its Parts");
  EXPECT_EQ(str(previews[0], "description"), "Everything about the plan.");
  EXPECT_EQ(str(previews[0], "site_name"), "Plans Weekly");
  // The image is Parley's own copy, served from its origin to the conversation's members.
  const std::string image = str(previews[0], "image_url");
  ASSERT_TRUE(image.starts_with("/api/v1/files/")) << image;
  auto img = api.get(image, b.access);
  EXPECT_EQ(img.status, 200);
  EXPECT_TRUE(img.header("Content-Type").starts_with("image/"));
  EXPECT_EQ(img.body.find("WGS-84"), std::string::npos);
  auto c = register_account(api, "pvc");
  EXPECT_EQ(api.get(image, c.access).status, 404);
  EXPECT_EQ(arr(get_message(api, b, str(sent, "id")), "previews").size(), 1u);
  // The request carried nothing of the sender's.
  ASSERT_FALSE(site.requests().empty());
  for (const auto& r : site.requests()) {
    EXPECT_FALSE(r.has_header("cookie"));
    EXPECT_FALSE(r.has_header("authorization"));
  }
}

// The same server without the allow list: the loopback page is never fetched.
class PreviewsRefusedTest : public SharedServerTest {};

TEST_F(PreviewsRefusedTest, ALoopbackLinkIsNeverFetchedWithoutTheAllowList) {
  TestHttpServer site([](const curl::testing::TestRequest&) {
    return curl::testing::http_response(200, "text/html", kPage);
  });
  auto api = this->api();
  auto a = register_account(api, "pvr");
  auto b = register_account(api, "pvrb");
  auto conv = make_group(api, a, {b.id});
  Live bob(this->port(), b);
  const std::string url = "http://127.0.0.1:" + std::to_string(site.port()) + "/plan";
  auto sent = send_ok(api, a, conv, url);
  EXPECT_FALSE(bob.event_within("message.updated", with_id(str(sent, "id")), 1500ms));
  EXPECT_TRUE(site.requests().empty()) << "the server fetched a loopback URL";
  EXPECT_TRUE(arr(get_message(api, b, str(sent, "id")), "previews").empty());
}

}  // namespace
}  // namespace parley::itest
