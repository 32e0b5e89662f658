// SQLite FileStore. Every mutation runs inside Database::write (the one writer thread), so
// "check the upload's offset, then move it" and "insert the file, then mark the upload" cannot
// interleave with another writer; a failed step rolls back alone (its savepoint).
#include <string>

#include "adapters/sqlite/stores.h"

namespace parley::sqlite {
namespace {

using namespace files;

const std::vector<Migration> kMigrations = {
    {1,
     "CREATE TABLE file_uploads ("
     "  id TEXT PRIMARY KEY,"
     "  owner_id TEXT NOT NULL,"
     "  name TEXT NOT NULL,"
     "  claimed_type TEXT NOT NULL,"
     "  length INTEGER NOT NULL,"
     "  received INTEGER NOT NULL,"  // UploadRecord::offset (OFFSET is SQL's)

     "  parts INTEGER NOT NULL,"
     "  blob_key TEXT NOT NULL,"
     "  blob_handle TEXT NOT NULL,"
     "  hash_state TEXT NOT NULL,"
     "  created_at INTEGER NOT NULL,"
     "  expires_at INTEGER NOT NULL,"
     "  file_id TEXT);"
     "CREATE INDEX file_uploads_expiry ON file_uploads(expires_at);"
     "CREATE INDEX file_uploads_owner ON file_uploads(owner_id) WHERE file_id IS NULL;"
     "CREATE TABLE files ("
     "  id TEXT PRIMARY KEY,"
     "  owner_id TEXT NOT NULL,"
     "  name TEXT NOT NULL,"
     "  size INTEGER NOT NULL,"
     "  content_type TEXT NOT NULL,"
     "  sha256 TEXT NOT NULL,"
     "  upload_sha256 TEXT NOT NULL,"
     "  blob_key TEXT NOT NULL,"
     "  thumbnail_key TEXT NOT NULL,"
     "  width INTEGER NOT NULL,"
     "  height INTEGER NOT NULL,"
     "  status INTEGER NOT NULL,"
     "  created_at INTEGER NOT NULL);"
     "CREATE INDEX files_upload_sha256 ON files(upload_sha256);"
     "CREATE INDEX files_owner ON files(owner_id);"
     "CREATE INDEX files_status ON files(status, created_at);"
     "CREATE TABLE file_posts ("
     "  file_id TEXT NOT NULL,"
     "  conversation_id TEXT NOT NULL,"
     "  PRIMARY KEY (file_id, conversation_id)) WITHOUT ROWID;"
     "CREATE TABLE file_settings ("
     "  key TEXT PRIMARY KEY,"
     "  value TEXT NOT NULL) WITHOUT ROWID;"},
};

constexpr const char* kUploadColumns =
    "id, owner_id, name, claimed_type, length, received, parts, blob_key, blob_handle, hash_state,"
    " created_at, expires_at, file_id";
constexpr const char* kFileColumns =
    "id, owner_id, name, size, content_type, sha256, upload_sha256, blob_key, thumbnail_key,"
    " width, height, status, created_at";

UploadRecord row_to_upload(const Stmt& s) {
  UploadRecord u;
  u.id = s.text(0);
  u.owner_id = s.text(1);
  u.name = s.text(2);
  u.claimed_type = s.text(3);
  u.length = s.integer(4);
  u.offset = s.integer(5);
  u.parts = static_cast<int>(s.integer(6));
  u.blob_key = s.text(7);
  u.blob_handle = s.text(8);
  u.hash_state = s.text(9);
  u.created_at = s.integer(10);
  u.expires_at = s.integer(11);
  if (!s.is_null(12)) u.file_id = s.text(12);
  return u;
}

FileRecord row_to_file(const Stmt& s) {
  FileRecord f;
  f.id = s.text(0);
  f.owner_id = s.text(1);
  f.name = s.text(2);
  f.size = s.integer(3);
  f.content_type = s.text(4);
  f.sha256 = s.text(5);
  f.upload_sha256 = s.text(6);
  f.blob_key = s.text(7);
  f.thumbnail_key = s.text(8);
  f.width = static_cast<int>(s.integer(9));
  f.height = static_cast<int>(s.integer(10));
  f.status = status_of(s.integer(11));
  f.created_at = s.integer(12);
  return f;
}

std::optional<UploadRecord> upload_by_id(Connection& c, const std::string& id) {
  auto q = c.prepare(std::string("SELECT ") + kUploadColumns + " FROM file_uploads WHERE id = ?");
  q.bind(1, id);
  if (!q.step()) return std::nullopt;
  return row_to_upload(q);
}

class SqliteFileStore final : public FileStore {
 public:
  explicit SqliteFileStore(Database& db) : db_(db) {}

  Result<void> create_upload(const UploadRecord& u) override {
    return db_.write([&](Connection& c) -> Result<void> {
      try {
        c.prepare(std::string("INSERT INTO file_uploads (") + kUploadColumns +
                  ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(1, u.id)
            .bind(2, u.owner_id)
            .bind(3, u.name)
            .bind(4, u.claimed_type)
            .bind(5, u.length)
            .bind(6, u.offset)
            .bind(7, u.parts)
            .bind(8, u.blob_key)
            .bind(9, u.blob_handle)
            .bind(10, u.hash_state)
            .bind(11, u.created_at)
            .bind(12, u.expires_at)
            .bind(13, u.file_id)
            .exec();
      } catch (const std::exception& e) {
        if (is_unique_violation(e)) return fail(Errc::already_exists, "upload exists");
        throw;
      }
      return ok();
    });
  }

  Result<UploadRecord> get_upload(const std::string& id) override {
    return db_.read_value([&](Connection& c) -> Result<UploadRecord> {
      auto u = upload_by_id(c, id);
      if (!u) return fail(Errc::not_found, "upload not found");
      return std::move(*u);
    });
  }

  Result<void> advance_upload(const std::string& id, std::int64_t from_offset,
                              const UploadRecord& now) override {
    return db_.write([&](Connection& c) -> Result<void> {
      auto n = c.prepare(
                    "UPDATE file_uploads SET received = ?, parts = ?, hash_state = ?,"
                    " expires_at = ? WHERE id = ? AND received = ? AND file_id IS NULL")
                   .bind(1, now.offset)
                   .bind(2, now.parts)
                   .bind(3, now.hash_state)
                   .bind(4, now.expires_at)
                   .bind(5, id)
                   .bind(6, from_offset)
                   .exec();
      if (n == 1) return ok();
      auto u = upload_by_id(c, id);
      if (!u) return fail(Errc::not_found, "upload not found");
      if (u->file_id) return fail(Errc::failed_precondition, "the upload is finished");
      return fail(Errc::failed_precondition, "the upload moved on");
    });
  }

  Result<void> finish_upload(const std::string& upload_id, const FileRecord& f) override {
    return db_.write([&](Connection& c) -> Result<void> {
      auto u = upload_by_id(c, upload_id);
      if (!u) return fail(Errc::not_found, "upload not found");
      if (u->file_id) return fail(Errc::failed_precondition, "the upload is finished");
      try {
        c.prepare(std::string("INSERT INTO files (") + kFileColumns +
                  ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(1, f.id)
            .bind(2, f.owner_id)
            .bind(3, f.name)
            .bind(4, f.size)
            .bind(5, f.content_type)
            .bind(6, f.sha256)
            .bind(7, f.upload_sha256)
            .bind(8, f.blob_key)
            .bind(9, f.thumbnail_key)
            .bind(10, f.width)
            .bind(11, f.height)
            .bind(12, status_code(f.status))
            .bind(13, f.created_at)
            .exec();
      } catch (const std::exception& e) {
        if (is_unique_violation(e)) return fail(Errc::already_exists, "file exists");
        throw;
      }
      // Every byte is in once the upload finishes (a HEAD reports offset == length).
      c.prepare("UPDATE file_uploads SET file_id = ?, received = length WHERE id = ?")
          .bind(1, f.id)
          .bind(2, upload_id)
          .exec();
      return ok();
    });
  }

  Result<void> remove_upload(const std::string& id) override {
    return db_.write([&](Connection& c) -> Result<void> {
      if (c.prepare("DELETE FROM file_uploads WHERE id = ?").bind(1, id).exec() == 0)
        return fail(Errc::not_found, "upload not found");
      return ok();
    });
  }

  Result<std::vector<UploadRecord>> expired_uploads(Millis now, int limit) override {
    return db_.read_value([&](Connection& c) -> Result<std::vector<UploadRecord>> {
      auto q = c.prepare(std::string("SELECT ") + kUploadColumns +
                         " FROM file_uploads WHERE expires_at < ? ORDER BY expires_at, id"
                         " LIMIT ?");
      q.bind(1, now).bind(2, limit);
      std::vector<UploadRecord> out;
      while (q.step()) out.push_back(row_to_upload(q));
      return out;
    });
  }

  Result<std::int64_t> used_bytes(const std::string& owner_id) override {
    return db_.read_value([&](Connection& c) -> Result<std::int64_t> {
      // A finished upload's bytes are its file's: counted there only.
      auto q = c.prepare(
          "SELECT (SELECT coalesce(sum(size), 0) FROM files WHERE owner_id = ?1) +"
          " (SELECT coalesce(sum(length), 0) FROM file_uploads"
          "  WHERE owner_id = ?1 AND file_id IS NULL)");
      q.bind(1, owner_id);
      q.step();
      return q.integer(0);
    });
  }

  Result<FileRecord> get_file(const std::string& id) override {
    return db_.read_value([&](Connection& c) -> Result<FileRecord> {
      auto q = c.prepare(std::string("SELECT ") + kFileColumns + " FROM files WHERE id = ?");
      q.bind(1, id);
      if (!q.step()) return fail(Errc::not_found, "file not found");
      return row_to_file(q);
    });
  }

  Result<std::optional<FileRecord>> find_by_upload_sha256(const std::string& hash) override {
    return db_.read_value([&](Connection& c) -> Result<std::optional<FileRecord>> {
      auto q = c.prepare(std::string("SELECT ") + kFileColumns +
                         " FROM files WHERE upload_sha256 = ? AND status = ?"
                         " ORDER BY created_at, id LIMIT 1");
      q.bind(1, hash).bind(2, status_code(FileStatus::ready));
      if (!q.step()) return std::optional<FileRecord>();
      return std::optional<FileRecord>(row_to_file(q));
    });
  }

  Result<void> set_status(const std::string& file_id, FileStatus status) override {
    return db_.write([&](Connection& c) -> Result<void> {
      if (c.prepare("UPDATE files SET status = ? WHERE id = ?")
              .bind(1, status_code(status))
              .bind(2, file_id)
              .exec() == 0)
        return fail(Errc::not_found, "file not found");
      return ok();
    });
  }

  Result<std::vector<FileRecord>> with_status(FileStatus status, int limit) override {
    return db_.read_value([&](Connection& c) -> Result<std::vector<FileRecord>> {
      auto q = c.prepare(std::string("SELECT ") + kFileColumns +
                         " FROM files WHERE status = ? ORDER BY created_at, id LIMIT ?");
      q.bind(1, status_code(status)).bind(2, limit);
      std::vector<FileRecord> out;
      while (q.step()) out.push_back(row_to_file(q));
      return out;
    });
  }

  Result<void> add_posts(const std::string& conversation_id,
                         const std::vector<std::string>& file_ids) override {
    if (file_ids.empty()) return ok();
    return db_.write([&](Connection& c) -> Result<void> {
      auto q =
          c.prepare("INSERT OR IGNORE INTO file_posts (file_id, conversation_id) VALUES (?, ?)");
      for (const auto& id : file_ids) q.bind(1, id).bind(2, conversation_id).exec();
      return ok();
    });
  }

  Result<std::vector<std::string>> posted_in(const std::string& file_id, int limit) override {
    return db_.read_value([&](Connection& c) -> Result<std::vector<std::string>> {
      auto q = c.prepare(
          "SELECT conversation_id FROM file_posts WHERE file_id = ?"
          " ORDER BY conversation_id LIMIT ?");
      q.bind(1, file_id).bind(2, limit);
      std::vector<std::string> out;
      while (q.step()) out.push_back(q.text(0));
      return out;
    });
  }

  Result<std::string> link_key(const std::string& candidate) override {
    return db_.write_value([&](Connection& c) -> Result<std::string> {
      c.prepare("INSERT OR IGNORE INTO file_settings (key, value) VALUES ('link_key', ?)")
          .bind(1, candidate)
          .exec();
      auto q = c.prepare("SELECT value FROM file_settings WHERE key = 'link_key'");
      if (!q.step()) return fail(Errc::internal, "link key missing");
      return q.text(0);
    });
  }

 private:
  Database& db_;
};

}  // namespace

Result<std::unique_ptr<files::FileStore>> make_file_store(Database& db) {
  if (auto m = db.migrate("files", kMigrations); !m) return fail(m.error());
  return std::unique_ptr<files::FileStore>(new SqliteFileStore(db));
}

}  // namespace parley::sqlite
