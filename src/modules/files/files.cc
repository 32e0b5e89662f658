#include "modules/files/files.h"

// SHA256_CTX is deprecated in OpenSSL 3 in favour of EVP, whose state cannot be saved.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <set>
#include <thread>

#include "core/crypto.h"
#include "core/id.h"
#include "core/log.h"
#include "core/text.h"

namespace parley::files {
namespace {

constexpr int kMaxNameBytes = 255;
constexpr int kMaxPostsChecked = 100;
constexpr std::size_t kSniffBytes = 8192;

// "100 MiB", "1.5 GiB": limits as people read them.
std::string human_bytes(std::uint64_t n) {
  static constexpr const char* kUnits[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int unit = 0;
  while (v >= 1024 && unit < 4) {
    v /= 1024;
    ++unit;
  }
  char buf[32];
  if (unit == 0 || v >= 100 || v == static_cast<double>(static_cast<std::uint64_t>(v)))
    std::snprintf(buf, sizeof buf, "%.0f %s", v, kUnits[unit]);
  else
    std::snprintf(buf, sizeof buf, "%.1f %s", v, kUnits[unit]);
  return buf;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Keys are lower case (blob_store.h); ids are Crockford base32, so lowering is lossless.
std::string object_key(const std::string& id) { return "o/" + lower(id); }
std::string tail_key(const std::string& upload_id) { return "u/" + lower(upload_id) + ".tail"; }
// The thumbnail's type is in its key's suffix (JPEG, or WebP for images with transparency).
std::string thumbnail_key(const std::string& file_id, std::string_view type) {
  return "t/" + lower(file_id) + (type == "image/webp" ? ".webp" : ".jpg");
}
std::string_view thumbnail_type(std::string_view key) {
  return key.ends_with(".webp") ? "image/webp" : "image/jpeg";
}
std::string cleaned_key(const std::string& file_id) { return "c/" + lower(file_id); }

// A name a browser will save safely and a timeline can show: valid UTF-8, no control
// characters or path separators, at most kMaxNameBytes (cut at a character boundary).
std::string clean_name(std::string_view raw) {
  std::string name;
  if (text::is_valid_utf8(raw)) {
    for (char c : raw) {
      auto u = static_cast<unsigned char>(c);
      name += (u < 0x20 || u == 0x7f || c == '/' || c == '\\') ? '_' : c;
    }
  }
  name = std::string(text::trim(name));
  while (name.size() > kMaxNameBytes) {
    name.pop_back();
    while (!name.empty() && (static_cast<unsigned char>(name.back()) & 0xC0) == 0x80)
      name.pop_back();
    if (!name.empty() && static_cast<unsigned char>(name.back()) >= 0xC0) name.pop_back();
  }
  return name.empty() ? "file" : name;
}

messaging::Attachment to_attachment(const FileRecord& f) {
  messaging::Attachment a;
  a.id = f.id;
  a.name = f.name;
  a.size = f.size;
  a.content_type = f.content_type;
  a.sha256 = f.sha256;
  a.width = f.width;
  a.height = f.height;
  a.has_thumbnail = !f.thumbnail_key.empty();
  a.created_by = f.owner_id;
  a.created_at = f.created_at;
  return a;
}

// The running SHA-256 of an upload, kept between requests as the state's bytes in hex. OpenSSL's
// (SHA-NI/AVX2 assembly: several times libsodium's portable code, which bound uploads) through
// its low-level API, the one whose state is a plain struct that can be saved; its layout is
// fixed for a build, and nodes of a cluster run the same build.
struct Hasher {
  SHA256_CTX state{};

  Hasher() { SHA256_Init(&state); }
  static std::optional<Hasher> restore(const std::string& hex) {
    Hasher h;
    if (hex.empty()) return h;
    auto raw = hex_decode(hex);
    if (!raw || raw->size() != sizeof(state)) return std::nullopt;
    std::memcpy(&h.state, raw->data(), sizeof(state));
    return h;
  }
  void update(std::string_view bytes) { SHA256_Update(&state, bytes.data(), bytes.size()); }
  std::string save() const {
    return hex_encode(std::string_view(reinterpret_cast<const char*>(&state), sizeof(state)));
  }
  std::string digest_hex() const {
    auto copy = state;
    unsigned char out[SHA256_DIGEST_LENGTH];
    SHA256_Final(out, &copy);
    return hex_encode(std::string_view(reinterpret_cast<const char*>(out), sizeof(out)));
  }
};

std::string link_signature(const std::string& key, const std::string& file_id, bool thumbnail,
                           std::int64_t expires_s) {
  std::string data = file_id + (thumbnail ? "\nthumbnail\n" : "\nfile\n") +
                     std::to_string(expires_s);
  return hex_encode(hmac_sha256(key, data));
}

}  // namespace

struct FileService::Impl {
  Impl(FileStore& s, BlobStore& b, messaging::MessagingService& m, const Clock& c,
       FilesOptions o, ImageProcessor* i, Scanner* sc)
      : store(s), blobs(b), messaging(m), clock(c), opt(std::move(o)), images(i), scanner(sc) {}

  FileStore& store;
  BlobStore& blobs;
  messaging::MessagingService& messaging;
  const Clock& clock;
  const FilesOptions opt;
  ImageProcessor* images;
  Scanner* scanner;

  // Uploads with a request in progress on this node: a second one is refused rather than
  // interleaved (the store's offset check catches one on another node).
  std::mutex busy_mu;
  std::set<std::string> busy;

  std::mutex link_mu;
  std::string link_key_cache;

  std::mutex sweep_mu;
  std::condition_variable sweep_cv;
  bool stopping = false;
  std::thread sweeper;

  Result<UploadRecord> own_upload(const std::string& caller, const std::string& id) {
    if (!looks_like_id(id)) return fail(Errc::not_found, "upload not found");
    auto u = store.get_upload(id);
    if (!u) return fail(u.error());
    if (u->owner_id != caller) return fail(Errc::not_found, "upload not found");
    return u;
  }

  Result<UploadState> state_of(const UploadRecord& u) {
    UploadState s{u.id, static_cast<std::uint64_t>(u.length),
                  static_cast<std::uint64_t>(u.offset), u.expires_at, std::nullopt};
    if (u.file_id) {
      auto f = store.get_file(*u.file_id);
      if (!f) return fail(f.error());
      s.file = to_attachment(*f);
    }
    return s;
  }

  // Whether caller may read f: its uploader, or a member of a conversation it was posted in.
  Result<bool> may_read(const std::string& caller, const FileRecord& f) {
    if (f.owner_id == caller) return true;
    auto posted = store.posted_in(f.id, kMaxPostsChecked);
    if (!posted) return fail(posted.error());
    for (const auto& cid : *posted) {
      auto member = messaging.is_member(cid, caller);
      if (!member) return fail(member.error());
      if (*member) return true;
    }
    return false;
  }

  Result<FileRecord> readable_file(const std::string& caller, const std::string& id) {
    if (!looks_like_id(id)) return fail(Errc::not_found, "file not found");
    auto f = store.get_file(id);
    if (!f) return fail(f.error());
    auto allowed = may_read(caller, *f);
    if (!allowed) return fail(allowed.error());
    if (!*allowed) return fail(Errc::not_found, "file not found");
    return f;
  }

  Result<Content> content_of(const FileRecord& f, bool thumbnail) {
    if (f.status == FileStatus::quarantined)
      return fail(Errc::permission_denied, "the file was flagged by the malware scanner");
    if (f.status == FileStatus::pending_scan)
      return fail(Errc::failed_precondition, "the file has not been scanned yet");
    Content c;
    c.file = to_attachment(f);
    if (thumbnail) {
      if (f.thumbnail_key.empty()) return fail(Errc::not_found, "the file has no thumbnail");
      c.blob_key = f.thumbnail_key;
      auto size = blobs.size(c.blob_key);
      if (!size) return fail(size.error());
      c.size = *size;
      c.content_type = std::string(thumbnail_type(c.blob_key));
    } else {
      c.blob_key = f.blob_key;
      c.size = static_cast<std::uint64_t>(f.size);
      c.content_type = f.content_type;
    }
    return c;
  }

  Result<std::string> signing_key() {
    std::lock_guard lock(link_mu);
    if (link_key_cache.empty()) {
      auto k = store.link_key(hex_encode(random_bytes(32)));
      if (!k) return fail(k.error());
      link_key_cache = *k;
    }
    return link_key_cache;
  }

  // Image metadata stripped, thumbnail made, dimensions known. A file the processor cannot
  // read stays as it came (a PNG that is not one is just bytes).
  void process_image(FileRecord& f) {
    if (!images || !images->reads(f.content_type) ||
        static_cast<std::uint64_t>(f.size) > opt.max_image_bytes)
      return;
    auto bytes = blobs.read(f.blob_key, 0, static_cast<std::size_t>(f.size));
    if (!bytes) {
      log::warn("image read failed", {{"file_id", f.id}, {"error", bytes.error().message}});
      return;
    }
    auto img = images->process(*bytes, f.content_type, opt.thumbnail_px);
    if (!img) {
      log::info("image not processed", {{"file_id", f.id}, {"error", img.error().message}});
      return;
    }
    if (!img->cleaned.empty()) {
      const std::string key = cleaned_key(f.id);
      if (auto put = blobs.put(key, img->cleaned, img->cleaned_type); !put) {
        log::warn("cleaned image not stored", {{"file_id", f.id}, {"error", put.error().message}});
        return;  // never serve the original with its metadata: keep it unprocessed is worse
      }
      (void)blobs.remove(f.blob_key);
      f.blob_key = key;
      f.size = static_cast<std::int64_t>(img->cleaned.size());
      f.sha256 = hex_encode(sha256(img->cleaned));
      f.content_type = img->cleaned_type;
    }
    f.width = img->width;
    f.height = img->height;
    if (!img->thumbnail.empty()) {
      const std::string key = thumbnail_key(f.id, img->thumbnail_type);
      if (blobs.put(key, img->thumbnail, img->thumbnail_type)) f.thumbnail_key = key;
    }
  }

  FileStatus scan(const FileRecord& f) {
    if (!scanner) return FileStatus::ready;
    auto verdict = scanner->scan(blobs, f.blob_key, static_cast<std::uint64_t>(f.size));
    if (!verdict) {
      log::warn("scan failed; the file waits for the next sweep",
                {{"file_id", f.id}, {"error", verdict.error().message}});
      return FileStatus::pending_scan;
    }
    if (verdict->infected) {
      log::warn("file quarantined", {{"file_id", f.id}, {"signature", verdict->signature}});
      return FileStatus::quarantined;
    }
    return FileStatus::ready;
  }

  // The last byte is in and the object complete under u.blob_key: make the file object.
  Result<FileRecord> make_file(const UploadRecord& u, const std::string& upload_sha256) {
    const Millis now = clock.now_ms();
    auto same = store.find_by_upload_sha256(upload_sha256);
    if (!same) return fail(same.error());
    FileRecord f;
    f.id = new_id(now);
    f.owner_id = u.owner_id;
    f.name = u.name;
    f.created_at = now;
    f.upload_sha256 = upload_sha256;
    if (*same) {
      // Identical bytes are stored once: the new file shares the blobs of the first.
      const FileRecord& first = **same;
      f.size = first.size;
      f.content_type = first.content_type;
      f.sha256 = first.sha256;
      f.blob_key = first.blob_key;
      f.thumbnail_key = first.thumbnail_key;
      f.width = first.width;
      f.height = first.height;
      f.status = first.status;
      (void)blobs.remove(u.blob_key);
      return f;
    }
    f.size = u.length;
    f.sha256 = upload_sha256;
    f.blob_key = u.blob_key;
    auto head = blobs.read(u.blob_key, 0, kSniffBytes);
    if (!head) return fail(head.error());
    f.content_type = detect_content_type(*head, u.name);
    process_image(f);
    f.status = scan(f);
    return f;
  }
};

// One request's writer (files.h's UploadWriter).
class UploadRequestWriter final : public UploadWriter {
 public:
  UploadRequestWriter(FileService::Impl& impl, UploadRecord u, Hasher hasher, std::string buffered)
      : I_(impl),
        u_(std::move(u)),
        start_(u_),
        hasher_(hasher),
        buffer_(std::move(buffered)) {
    buffer_.reserve(kUploadPartBytes);
  }
  ~UploadRequestWriter() override {
    std::lock_guard lock(I_.busy_mu);
    I_.busy.erase(u_.id);
  }

  Result<void> write(std::string_view bytes) override {
    if (broken_) return fail(Errc::unavailable, "storage failed");
    if (static_cast<std::uint64_t>(u_.offset) + bytes.size() >
        static_cast<std::uint64_t>(u_.length))
      return fail(Errc::too_large, "the body goes past Upload-Length");
    hasher_.update(bytes);
    while (!bytes.empty()) {
      std::size_t take = std::min(bytes.size(), kUploadPartBytes - buffer_.size());
      buffer_.append(bytes.substr(0, take));
      bytes.remove_prefix(take);
      u_.offset += static_cast<std::int64_t>(take);
      if (buffer_.size() == kUploadPartBytes && u_.offset < u_.length) {
        // A full part that is not the last goes to storage now; the last waits for finish,
        // which may store a small file in one put.
        auto put = I_.blobs.put_part(u_.blob_key, u_.blob_handle, u_.parts + 1, buffer_);
        if (!put) {
          broken_ = true;
          return put;
        }
        ++u_.parts;
        buffer_.clear();
      }
    }
    return ok();
  }

  Result<UploadState> finish() override {
    // The client resumes from the stored offset; parts put again replace what this wrote.
    if (broken_) return I_.state_of(start_);
    u_.expires_at = I_.clock.now_ms() + I_.opt.upload_ttl_ms;
    if (u_.offset == u_.length) return complete();
    // Broken off or paused: what arrived is kept (tus resumes from it).
    if (u_.offset != start_.offset) {
      auto kept = buffer_.empty() ? I_.blobs.remove(tail_key(u_.id))
                                  : I_.blobs.put(tail_key(u_.id), buffer_, "");
      if (!kept) return fail(kept.error());
      u_.hash_state = hasher_.save();
      if (auto a = I_.store.advance_upload(u_.id, start_.offset, u_); !a) return fail(a.error());
    }
    return I_.state_of(u_);
  }

 private:
  Result<UploadState> complete() {
    Result<void> stored = ok();
    if (u_.parts == 0) {
      // The whole file fits in one part: one put, no multipart round trips.
      stored = I_.blobs.put(u_.blob_key, buffer_, "");
      if (stored) (void)I_.blobs.abort_upload(u_.blob_key, u_.blob_handle);
    } else {
      int parts = u_.parts;
      if (!buffer_.empty()) {
        stored = I_.blobs.put_part(u_.blob_key, u_.blob_handle, parts + 1, buffer_);
        ++parts;
      }
      if (stored) stored = I_.blobs.complete_upload(u_.blob_key, u_.blob_handle, parts);
    }
    if (!stored) return fail(stored.error());
    (void)I_.blobs.remove(tail_key(u_.id));
    auto f = I_.make_file(u_, hasher_.digest_hex());
    if (!f) return fail(f.error());
    if (auto done = I_.store.finish_upload(u_.id, *f); !done) return fail(done.error());
    u_.file_id = f->id;
    UploadState s{u_.id, static_cast<std::uint64_t>(u_.length),
                  static_cast<std::uint64_t>(u_.offset), u_.expires_at, to_attachment(*f)};
    log::info("file stored", {{"file_id", f->id},
                              {"bytes", f->size},
                              {"content_type", f->content_type},
                              {"status", f->status == FileStatus::ready ? "ready" : "held"}});
    return s;
  }

  FileService::Impl& I_;
  UploadRecord u_;
  const UploadRecord start_;  // as stored before this request
  bool broken_ = false;       // a part failed to store: this request keeps nothing
  Hasher hasher_;
  std::string buffer_;  // bytes after the last stored part: at most one part
};

FileService::FileService(FileStore& store, BlobStore& blobs,
                         messaging::MessagingService& messaging, const Clock& clock,
                         FilesOptions options, ImageProcessor* images, Scanner* scanner)
    : impl_(std::make_unique<Impl>(store, blobs, messaging, clock, std::move(options), images,
                                   scanner)) {
  if (impl_->opt.sweep_interval_ms > 0) {
    impl_->sweeper = std::thread([this] {
      auto& I = *impl_;
      std::unique_lock lock(I.sweep_mu);
      while (!I.stopping) {
        I.sweep_cv.wait_for(lock, std::chrono::milliseconds(I.opt.sweep_interval_ms));
        if (I.stopping) break;
        lock.unlock();
        sweep();
        lock.lock();
      }
    });
  }
}

FileService::~FileService() { stop(); }

void FileService::stop() {
  {
    std::lock_guard lock(impl_->sweep_mu);
    impl_->stopping = true;
  }
  impl_->sweep_cv.notify_all();
  if (impl_->sweeper.joinable()) impl_->sweeper.join();
}

const FilesOptions& FileService::options() const { return impl_->opt; }

Result<UploadState> FileService::create_upload(const std::string& caller, const NewUpload& in) {
  auto& I = *impl_;
  if (in.length > I.opt.max_file_bytes)
    return fail(Errc::too_large, "files may have at most " + human_bytes(I.opt.max_file_bytes) +
                                     " (" + std::to_string(I.opt.max_file_bytes) + " bytes)");
  auto used = I.store.used_bytes(caller);
  if (!used) return fail(used.error());
  if (static_cast<std::uint64_t>(*used) + in.length > I.opt.user_quota_bytes)
    return fail(Errc::resource_exhausted,
                "storage quota exceeded: " + human_bytes(static_cast<std::uint64_t>(*used)) +
                    " of " + human_bytes(I.opt.user_quota_bytes) + " used; this file needs " +
                    human_bytes(in.length),
                "quota");
  const Millis now = I.clock.now_ms();
  UploadRecord u;
  u.id = new_id(now);
  u.owner_id = caller;
  u.name = clean_name(in.name);
  u.claimed_type = in.claimed_type.substr(0, 255);
  u.length = static_cast<std::int64_t>(in.length);
  u.blob_key = object_key(u.id);
  u.created_at = now;
  u.expires_at = now + I.opt.upload_ttl_ms;
  auto handle = I.blobs.begin_upload(u.blob_key);
  if (!handle) return fail(handle.error());
  u.blob_handle = *handle;
  if (auto c = I.store.create_upload(u); !c) {
    (void)I.blobs.abort_upload(u.blob_key, u.blob_handle);
    return fail(c.error());
  }
  if (in.length == 0) {
    // Nothing to wait for: an empty file is finished when created.
    auto w = write_upload(caller, u.id, 0);
    if (!w) return fail(w.error());
    return (*w)->finish();
  }
  return I.state_of(u);
}

Result<UploadState> FileService::upload(const std::string& caller, const std::string& upload_id) {
  auto u = impl_->own_upload(caller, upload_id);
  if (!u) return fail(u.error());
  return impl_->state_of(*u);
}

Result<std::unique_ptr<UploadWriter>> FileService::write_upload(const std::string& caller,
                                                                const std::string& upload_id,
                                                                std::uint64_t offset) {
  auto& I = *impl_;
  auto u = I.own_upload(caller, upload_id);
  if (!u) return fail(u.error());
  if (u->file_id) return fail(Errc::failed_precondition, "the upload is finished");
  if (static_cast<std::int64_t>(offset) != u->offset)
    return fail(Errc::failed_precondition,
                "Upload-Offset is " + std::to_string(offset) + ", the upload is at " +
                    std::to_string(u->offset));
  auto hasher = Hasher::restore(u->hash_state);
  if (!hasher) return fail(Errc::internal, "the upload's hash state is damaged");
  {
    std::lock_guard lock(I.busy_mu);
    if (!I.busy.insert(u->id).second)
      return fail(Errc::failed_precondition, "another request is writing this upload");
  }
  std::string buffered;
  const auto stored = static_cast<std::int64_t>(u->parts) *
                      static_cast<std::int64_t>(kUploadPartBytes);
  if (u->offset > stored) {
    auto tail = I.blobs.read(tail_key(u->id), 0, static_cast<std::size_t>(u->offset - stored));
    if (!tail || static_cast<std::int64_t>(tail->size()) != u->offset - stored) {
      std::lock_guard lock(I.busy_mu);
      I.busy.erase(u->id);
      return fail(tail ? Error{Errc::internal, "the upload's stored tail is short", {}, 0}
                       : tail.error());
    }
    buffered = std::move(*tail);
  }
  return std::unique_ptr<UploadWriter>(new UploadRequestWriter(I, std::move(*u), *hasher, std::move(buffered)));
}

Result<void> FileService::terminate(const std::string& caller, const std::string& upload_id) {
  auto& I = *impl_;
  auto u = I.own_upload(caller, upload_id);
  if (!u) return fail(u.error());
  {
    std::lock_guard lock(I.busy_mu);
    if (I.busy.count(u->id))
      return fail(Errc::failed_precondition, "a request is writing this upload");
  }
  if (!u->file_id) {
    (void)I.blobs.abort_upload(u->blob_key, u->blob_handle);
    (void)I.blobs.remove(tail_key(u->id));
  }
  return I.store.remove_upload(u->id);
}

Result<messaging::Attachment> FileService::file(const std::string& caller,
                                                const std::string& file_id) {
  auto f = impl_->readable_file(caller, file_id);
  if (!f) return fail(f.error());
  return to_attachment(*f);
}

Result<Content> FileService::content(const std::string& caller, const std::string& file_id,
                                     bool thumbnail) {
  auto f = impl_->readable_file(caller, file_id);
  if (!f) return fail(f.error());
  return impl_->content_of(*f, thumbnail);
}

Result<Content> FileService::content_by_link(const std::string& file_id, bool thumbnail,
                                             std::int64_t expires_s,
                                             const std::string& signature) {
  auto& I = *impl_;
  if (!looks_like_id(file_id) || expires_s * 1000 < I.clock.now_ms())
    return fail(Errc::not_found, "file not found");
  auto key = I.signing_key();
  if (!key) return fail(key.error());
  if (!constant_time_equal(signature, link_signature(*key, file_id, thumbnail, expires_s)))
    return fail(Errc::not_found, "file not found");
  auto f = I.store.get_file(file_id);
  if (!f) return fail(f.error());
  return I.content_of(*f, thumbnail);
}

Result<Content> FileService::public_content(const std::string& file_id, bool thumbnail) {
  if (!looks_like_id(file_id)) return fail(Errc::not_found, "file not found");
  auto f = impl_->store.get_file(file_id);
  if (!f) return fail(f.error());
  return impl_->content_of(*f, thumbnail);
}

Result<std::string> FileService::read(const std::string& blob_key, std::uint64_t offset,
                                      std::size_t length) {
  return impl_->blobs.read(blob_key, offset, length);
}

Result<SignedLink> FileService::link(const std::string& caller, const std::string& file_id) {
  auto& I = *impl_;
  auto f = I.readable_file(caller, file_id);
  if (!f) return fail(f.error());
  if (auto c = I.content_of(*f, false); !c) return fail(c.error());
  auto key = I.signing_key();
  if (!key) return fail(key.error());
  const std::int64_t expires_s = (I.clock.now_ms() + I.opt.link_ttl_ms) / 1000;
  auto url = [&](bool thumb) {
    return "/api/v1/files/" + f->id + (thumb ? "/thumbnail" : "") +
           "?expires=" + std::to_string(expires_s) +
           "&sig=" + link_signature(*key, f->id, thumb, expires_s);
  };
  SignedLink link{url(false), f->thumbnail_key.empty() ? "" : url(true), expires_s * 1000};
  return link;
}

Result<std::vector<messaging::Attachment>> FileService::attach(
    const std::string& caller, const std::string& conversation_id,
    const std::vector<std::string>& file_ids) {
  auto& I = *impl_;
  std::vector<messaging::Attachment> out;
  if (file_ids.empty()) return out;
  auto member = I.messaging.is_member(conversation_id, caller);
  if (!member) return fail(member.error());
  if (!*member) return fail(Errc::not_found, "conversation not found");
  std::set<std::string> seen;
  for (const auto& id : file_ids) {
    if (!seen.insert(id).second)
      return fail(Errc::invalid_argument, "a file is attached twice", "attachments");
    auto f = I.readable_file(caller, id);
    if (!f) {
      if (f.error().code == Errc::not_found)
        return fail(Errc::invalid_argument, "no such file: " + id, "attachments");
      return fail(f.error());
    }
    if (f->status == FileStatus::quarantined)
      return fail(Errc::invalid_argument, "file " + id + " was flagged by the malware scanner",
                  "attachments");
    if (f->status == FileStatus::pending_scan)
      return fail(Errc::failed_precondition, "file " + id + " has not been scanned yet");
    out.push_back(to_attachment(*f));
  }
  // Recorded before the message is sent: a member who sees the message can read its files at
  // once. A send that then fails leaves the files shared with a conversation their owner chose.
  if (auto p = I.store.add_posts(conversation_id, file_ids); !p) return fail(p.error());
  return out;
}

Result<messaging::Attachment> FileService::import(const std::string& owner,
                                                  const std::string& conversation_id,
                                                  const std::string& name,
                                                  std::string_view bytes) {
  auto& I = *impl_;
  if (bytes.size() > I.opt.max_file_bytes) return fail(Errc::too_large, "the file is too large");
  const Millis now = I.clock.now_ms();
  // An upload that arrives whole: the same path to a file object as any other.
  UploadRecord u;
  u.id = new_id(now);
  u.owner_id = owner;
  u.name = clean_name(name);
  u.length = static_cast<std::int64_t>(bytes.size());
  u.blob_key = object_key(u.id);
  u.created_at = now;
  u.expires_at = now + I.opt.upload_ttl_ms;
  if (auto put = I.blobs.put(u.blob_key, bytes, ""); !put) return fail(put.error());
  if (auto c = I.store.create_upload(u); !c) return fail(c.error());
  Hasher hasher;
  hasher.update(bytes);
  auto f = I.make_file(u, hasher.digest_hex());
  if (!f) return fail(f.error());
  if (auto done = I.store.finish_upload(u.id, *f); !done) return fail(done.error());
  if (auto p = I.store.add_posts(conversation_id, {f->id}); !p) return fail(p.error());
  return to_attachment(*f);
}

int FileService::sweep() {
  auto& I = *impl_;
  int removed = 0;
  auto expired = I.store.expired_uploads(I.clock.now_ms(), 100);
  if (expired) {
    for (const auto& u : *expired) {
      {
        std::lock_guard lock(I.busy_mu);
        if (I.busy.count(u.id)) continue;
      }
      if (!u.file_id) {
        (void)I.blobs.abort_upload(u.blob_key, u.blob_handle);
        (void)I.blobs.remove(tail_key(u.id));
      }
      if (I.store.remove_upload(u.id)) ++removed;
    }
  }
  if (I.scanner) {
    auto pending = I.store.with_status(FileStatus::pending_scan, 20);
    if (pending)
      for (const auto& f : *pending) {
        auto status = I.scan(f);
        if (status != FileStatus::pending_scan) (void)I.store.set_status(f.id, status);
      }
  }
  return removed;
}

bool is_inline_safe(std::string_view t) {
  static constexpr std::string_view kImages[] = {"image/png", "image/jpeg", "image/gif",
                                                 "image/webp", "image/avif"};
  for (auto s : kImages)
    if (t == s) return true;
  return t.starts_with("audio/") || t.starts_with("video/");
}

}  // namespace parley::files
