// Data export: ZIP archives written with minizip, entry by entry and chunk by chunk, so no
// export is ever held whole in memory: messages are paged from the store and written as they
// come, file bytes are copied from the blob store 1 MiB at a time. The archive is built in a
// temporary file on the module's own thread, then moved into the blob store (every node can
// serve the download) and the temporary file removed.
#include <minizip/zip.h>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <algorithm>
#include <cctype>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "core/id.h"
#include "core/json.h"
#include "core/log.h"
#include "modules/governance/governance.h"
#include "ticker.h"

namespace parley::governance {

const char* to_string(ExportStatus s) {
  switch (s) {
    case ExportStatus::pending: return "pending";
    case ExportStatus::ready: return "ready";
    case ExportStatus::failed: return "failed";
  }
  return "pending";
}

namespace {

constexpr int kPage = 500;
constexpr std::size_t kChunk = 1024 * 1024;

// One ZIP archive being written; every failure becomes an internal error naming the entry.
class ZipWriter {
 public:
  explicit ZipWriter(const std::string& path) : zf_(zipOpen64(path.c_str(), APPEND_STATUS_CREATE)) {}
  ~ZipWriter() {
    if (zf_) zipClose(zf_, nullptr);
  }
  bool opened() const { return zf_ != nullptr; }

  Result<void> begin(const std::string& name, Millis at) {
    zip_fileinfo zi{};
    const std::time_t t = static_cast<std::time_t>(at / 1000);
    std::tm tm{};
    gmtime_r(&t, &tm);
    zi.tmz_date.tm_sec = static_cast<uInt>(tm.tm_sec);
    zi.tmz_date.tm_min = static_cast<uInt>(tm.tm_min);
    zi.tmz_date.tm_hour = static_cast<uInt>(tm.tm_hour);
    zi.tmz_date.tm_mday = static_cast<uInt>(tm.tm_mday);
    zi.tmz_date.tm_mon = static_cast<uInt>(tm.tm_mon);
    zi.tmz_date.tm_year = static_cast<uInt>(tm.tm_year + 1900);
    // zip64 on every entry: a file entry may pass 4 GiB.
    if (zipOpenNewFileInZip64(zf_, name.c_str(), &zi, nullptr, 0, nullptr, 0, nullptr, Z_DEFLATED,
                              Z_DEFAULT_COMPRESSION, 1) != ZIP_OK)
      return fail(Errc::internal, "zip: cannot start " + name);
    return ok();
  }
  Result<void> write(std::string_view bytes) {
    if (bytes.empty()) return ok();
    if (zipWriteInFileInZip(zf_, bytes.data(), static_cast<unsigned>(bytes.size())) != ZIP_OK)
      return fail(Errc::internal, "zip: write failed");
    return ok();
  }
  Result<void> end() {
    if (zipCloseFileInZip(zf_) != ZIP_OK) return fail(Errc::internal, "zip: cannot close entry");
    return ok();
  }
  Result<void> entry(const std::string& name, std::string_view bytes, Millis at) {
    if (auto r = begin(name, at); !r) return r;
    if (auto r = write(bytes); !r) return r;
    return end();
  }
  Result<void> close() {
    const int rc = zipClose(zf_, nullptr);
    zf_ = nullptr;
    if (rc != ZIP_OK) return fail(Errc::internal, "zip: cannot finish the archive");
    return ok();
  }

 private:
  zipFile zf_;
};

// A name safe inside an archive: no directories, no "..", no control characters.
std::string safe_name(const std::string& name) {
  std::string out;
  for (unsigned char c : name) out += (c < 0x20 || c == '/' || c == '\\' || c == 0x7f) ? '_' : c;
  if (out.empty() || out == "." || out == "..") out = "file";
  if (out.size() > 120) out.resize(120);
  return out;
}

boost::json::object message_json(const ExportMessage& m, bool with_sender) {
  boost::json::object o{{"id", m.id},
                        {"conversation_id", m.conversation_id},
                        {"conversation", m.conversation_name},
                        {"conversation_type", m.conversation_type},
                        {"seq", m.seq},
                        {"text", m.text},
                        {"created_at", m.created_at}};
  if (with_sender) {
    o["sender_id"] = m.sender_id;
    o["sender"] = m.sender_username;
  }
  if (m.thread_root_id) o["thread_root_id"] = *m.thread_root_id;
  if (m.edited_at) o["edited_at"] = *m.edited_at;
  boost::json::array files;
  for (const auto& id : m.attachment_ids) files.push_back(boost::json::value(id));
  o["attachments"] = std::move(files);
  return o;
}

const char* kReadme =
    "This archive was exported from Parley.\n\n"
    "profile.json       your profile (user exports)\n"
    "conversation.json  the conversation (conversation exports)\n"
    "messages.json      the messages, oldest first, with the name of their conversation\n"
    "files/             the files, as files/<file id>-<name>\n";

}  // namespace

struct ExportService::Impl {
  Impl(GovernanceStore& s, files::BlobStore& b, users::UserService& u,
       messaging::MessagingService& m, const Clock& c, ExportOptions o)
      : store(s), blobs(b), users(u), messaging(m), clock(c), opt(std::move(o)) {}

  GovernanceStore& store;
  files::BlobStore& blobs;
  users::UserService& users;
  messaging::MessagingService& messaging;
  const Clock& clock;
  ExportOptions opt;
  std::mutex mu;
  std::deque<std::string> queue;  // export ids waiting to be built, on this node
  std::mutex build_mu;            // one build at a time
  Ticker ticker;

  Result<ExportRecord> enqueue(const std::string& caller, const std::string& kind,
                               const std::string& target) {
    {
      std::lock_guard lock(mu);
      if (static_cast<int>(queue.size()) >= opt.max_queued)
        return fail(Errc::resource_exhausted, "too many exports are being built; try later");
    }
    ExportRecord r;
    const Millis now = clock.now_ms();
    r.id = new_id(now);
    r.requested_by = caller;
    r.kind = kind;
    r.target = target;
    r.created_at = now;
    if (auto c = store.create_export(r); !c) return fail(c.error());
    {
      std::lock_guard lock(mu);
      queue.push_back(r.id);
    }
    ticker.poke();
    return r;
  }

  Result<void> write_messages(ZipWriter& zip, bool with_sender,
                              const std::function<Result<std::vector<ExportMessage>>(
                                  std::int64_t)>& page,
                              Millis at) {
    if (auto r = zip.begin("messages.json", at); !r) return r;
    if (auto r = zip.write("[\n"); !r) return r;
    std::int64_t after = 0;
    bool first = true;
    for (;;) {
      auto rows = page(after);
      if (!rows) return fail(rows.error());
      for (const auto& m : *rows) {
        std::string line = (first ? "" : ",\n") + json::serialize(message_json(m, with_sender));
        first = false;
        if (auto r = zip.write(line); !r) return r;
        after = m.cursor;
      }
      if (static_cast<int>(rows->size()) < kPage) break;
    }
    if (auto r = zip.write("\n]\n"); !r) return r;
    return zip.end();
  }

  Result<void> write_files(ZipWriter& zip,
                           const std::function<Result<std::vector<ExportFile>>(
                               const std::string&)>& page) {
    std::string after;
    for (;;) {
      auto rows = page(after);
      if (!rows) return fail(rows.error());
      for (const auto& f : *rows) {
        after = f.id;
        if (auto r = zip.begin("files/" + f.id + "-" + safe_name(f.name), f.created_at); !r)
          return r;
        for (std::uint64_t off = 0;;) {
          auto piece = blobs.read(f.blob_key, off, kChunk);
          if (!piece) {
            // A file whose bytes are gone (removed meanwhile) is left empty rather than
            // failing the whole export.
            if (piece.error().code == Errc::not_found) break;
            return fail(piece.error());
          }
          if (piece->empty()) break;
          if (auto r = zip.write(*piece); !r) return r;
          off += piece->size();
          if (piece->size() < kChunk) break;
        }
        if (auto r = zip.end(); !r) return r;
      }
      if (static_cast<int>(rows->size()) < kPage) break;
    }
    return ok();
  }

  Result<void> write_user(ZipWriter& zip, const ExportRecord& r, Millis at) {
    auto u = users.get(r.target);
    if (!u) return fail(u.error());
    boost::json::object profile{{"id", u->id},
                                {"username", u->username},
                                {"display_name", u->display_name},
                                {"status_text", u->status_text},
                                {"timezone", u->timezone},
                                {"created_at", u->created_at}};
    if (u->email) profile["email"] = *u->email;
    if (!u->avatar_file_id.empty()) profile["avatar_file_id"] = u->avatar_file_id;
    if (auto w = zip.entry("profile.json", json::serialize(profile) + "\n", at); !w) return w;
    auto w = write_messages(
        zip, false,
        [&](std::int64_t after) { return store.messages_sent_by(r.target, after, kPage); }, at);
    if (!w) return w;
    return write_files(
        zip, [&](const std::string& after) { return store.files_owned_by(r.target, after, kPage); });
  }

  Result<void> write_conversation(ZipWriter& zip, const ExportRecord& r, Millis at) {
    auto c = store.conversation_label(r.target);
    if (!c) return fail(c.error());
    boost::json::object conv{{"id", c->id}, {"name", c->name}, {"type", c->type}};
    if (auto w = zip.entry("conversation.json", json::serialize(conv) + "\n", at); !w) return w;
    auto w = write_messages(
        zip, true, [&](std::int64_t after) { return store.messages_in(r.target, after, kPage); },
        at);
    if (!w) return w;
    return write_files(zip, [&](const std::string& after) {
      return store.files_posted_in(r.target, after, kPage);
    });
  }

  // Copies the finished archive into the blob store in parts.
  Result<std::int64_t> store_archive(const std::string& path, const std::string& key) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return fail(Errc::internal, "export: cannot reopen the archive");
    auto handle = blobs.begin_upload(key);
    if (!handle) return fail(handle.error());
    std::string part(files::kUploadPartBytes, '\0');
    int parts = 0;
    std::int64_t total = 0;
    for (;;) {
      in.read(part.data(), static_cast<std::streamsize>(part.size()));
      const auto n = static_cast<std::size_t>(in.gcount());
      if (n == 0 && parts > 0) break;
      if (auto p = blobs.put_part(key, *handle, ++parts, std::string_view(part.data(), n)); !p) {
        (void)blobs.abort_upload(key, *handle);
        return fail(p.error());
      }
      total += static_cast<std::int64_t>(n);
      if (n < part.size()) break;
    }
    if (auto c = blobs.complete_upload(key, *handle, parts); !c) return fail(c.error());
    return total;
  }

  void build(const std::string& id) {
    auto rec = store.get_export(id);
    if (!rec) return;
    ExportRecord r = *rec;
    const Millis at = clock.now_ms();
    std::error_code ec;
    std::filesystem::create_directories(opt.temp_dir, ec);
    const std::string path = (std::filesystem::path(opt.temp_dir) / (id + ".zip.part")).string();
    std::string key = "exports/" + id + ".zip";
    std::transform(key.begin(), key.end(), key.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    Result<std::int64_t> stored = fail(Errc::internal, "export: not built");
    {
      ZipWriter zip(path);
      Result<void> w = zip.opened() ? zip.entry("README.txt", kReadme, at)
                                    : fail(Errc::internal, "export: cannot create the archive");
      if (w) w = r.kind == "user" ? write_user(zip, r, at) : write_conversation(zip, r, at);
      if (w) w = zip.close();
      stored = w ? store_archive(path, key) : Result<std::int64_t>(fail(w.error()));
    }
    std::filesystem::remove(path, ec);
    r.finished_at = clock.now_ms();
    if (stored) {
      r.status = ExportStatus::ready;
      r.blob_key = key;
      r.size = *stored;
      r.expires_at = r.finished_at + opt.keep_ms;
    } else {
      r.status = ExportStatus::failed;
      r.error = "the export could not be built";
      r.expires_at = r.finished_at + opt.keep_ms;
      log::warn("export failed", {{"export_id", id}, {"error", stored.error().message}});
    }
    if (auto u = store.update_export(r); !u)
      log::warn("export: record not updated", {{"export_id", id}, {"error", u.error().message}});
  }
};

ExportService::ExportService(GovernanceStore& store, files::BlobStore& blobs,
                             users::UserService& users, messaging::MessagingService& messaging,
                             const Clock& clock, ExportOptions options)
    : impl_(std::make_unique<Impl>(store, blobs, users, messaging, clock, std::move(options))) {}

ExportService::~ExportService() { stop(); }

Result<ExportRecord> ExportService::request_user_export(const std::string& caller) {
  return impl_->enqueue(caller, "user", caller);
}

Result<ExportRecord> ExportService::request_conversation_export(
    const std::string& caller, bool admin, const std::string& conversation_id) {
  if (!admin) return fail(Errc::permission_denied, "only system admins may export a conversation");
  auto c = impl_->store.conversation_label(conversation_id);
  if (!c) return fail(c.error());
  return impl_->enqueue(caller, "conversation", conversation_id);
}

Result<ExportRecord> ExportService::get(const std::string& caller, const std::string& id) {
  if (!looks_like_id(id)) return fail(Errc::not_found, "export not found");
  auto r = impl_->store.get_export(id);
  if (!r) return fail(r.error());
  if (r->requested_by != caller) return fail(Errc::not_found, "export not found");
  return r;
}

Result<std::string> ExportService::read(const ExportRecord& r, std::uint64_t offset,
                                        std::size_t length) {
  if (r.status != ExportStatus::ready) return fail(Errc::failed_precondition, "the export is not ready");
  return impl_->blobs.read(r.blob_key, offset, length);
}

void ExportService::drain() {
  auto& I = *impl_;
  std::lock_guard build(I.build_mu);
  for (;;) {
    std::string id;
    {
      std::lock_guard lock(I.mu);
      if (I.queue.empty()) return;
      id = I.queue.front();
      I.queue.pop_front();
    }
    I.build(id);
  }
}

int ExportService::sweep() {
  auto& I = *impl_;
  const Millis now = I.clock.now_ms();
  // A pending export older than a day was lost with the node that was building it.
  auto old = I.store.expired_exports(now, now - kDayMs, 100);
  if (!old) return 0;
  int n = 0;
  for (const auto& r : *old) {
    if (!r.blob_key.empty())
      if (auto b = I.blobs.remove(r.blob_key); !b) continue;
    if (I.store.remove_export(r.id)) ++n;
  }
  return n;
}

void ExportService::start() {
  const Millis every = impl_->opt.sweep_interval_ms > 0 ? impl_->opt.sweep_interval_ms : 60'000;
  impl_->ticker.start(every, [this] {
    drain();
    if (impl_->opt.sweep_interval_ms > 0) sweep();
  });
}

void ExportService::stop() { impl_->ticker.stop(); }

}  // namespace parley::governance
