// PostgreSQL FileStore. Nodes share the database, so what SQLite gets from its single writer
// thread comes here from the statements themselves:
// - advance_upload is one `UPDATE ... WHERE received = from_offset AND file_id IS NULL`: a
//   concurrent advance waits for the first one's row lock, then re-checks the WHERE against the
//   committed row and matches nothing (failed_precondition).
// - finish_upload locks the upload's row (FOR UPDATE) before inserting the file, so two
//   finishes of one upload take turns and the second sees it finished.
// - posts and the link key rely on their primary keys (ON CONFLICT DO NOTHING): the first
//   candidate committed wins and every node reads it back.
#include <string>

#include "adapters/postgres/stores.h"

namespace parley::postgres {
namespace {

using namespace files;

const std::vector<Migration> kMigrations = {
    {1,
     "CREATE TABLE file_uploads ("
     "  id TEXT COLLATE \"C\" PRIMARY KEY,"
     "  owner_id TEXT COLLATE \"C\" NOT NULL,"
     "  name TEXT NOT NULL,"
     "  claimed_type TEXT NOT NULL,"
     "  length BIGINT NOT NULL,"
     "  received BIGINT NOT NULL,"  // UploadRecord::offset (OFFSET is reserved)
     "  parts INTEGER NOT NULL,"
     "  blob_key TEXT COLLATE \"C\" NOT NULL,"
     "  blob_handle TEXT COLLATE \"C\" NOT NULL,"
     "  hash_state TEXT NOT NULL,"
     "  created_at BIGINT NOT NULL,"
     "  expires_at BIGINT NOT NULL,"
     "  file_id TEXT COLLATE \"C\");"
     "CREATE INDEX file_uploads_expiry ON file_uploads (expires_at);"
     "CREATE INDEX file_uploads_owner ON file_uploads (owner_id) WHERE file_id IS NULL;"
     "CREATE TABLE files ("
     "  id TEXT COLLATE \"C\" PRIMARY KEY,"
     "  owner_id TEXT COLLATE \"C\" NOT NULL,"
     "  name TEXT NOT NULL,"
     "  size BIGINT NOT NULL,"
     "  content_type TEXT NOT NULL,"
     "  sha256 TEXT COLLATE \"C\" NOT NULL,"
     "  upload_sha256 TEXT COLLATE \"C\" NOT NULL,"
     "  blob_key TEXT COLLATE \"C\" NOT NULL,"
     "  thumbnail_key TEXT COLLATE \"C\" NOT NULL,"
     "  width INTEGER NOT NULL,"
     "  height INTEGER NOT NULL,"
     "  status SMALLINT NOT NULL,"
     "  created_at BIGINT NOT NULL);"
     "CREATE INDEX files_upload_sha256 ON files (upload_sha256);"
     "CREATE INDEX files_owner ON files (owner_id);"
     "CREATE INDEX files_status ON files (status, created_at);"
     "CREATE TABLE file_posts ("
     "  file_id TEXT COLLATE \"C\" NOT NULL,"
     "  conversation_id TEXT COLLATE \"C\" NOT NULL,"
     "  PRIMARY KEY (file_id, conversation_id));"
     "CREATE TABLE file_settings ("
     "  key TEXT COLLATE \"C\" PRIMARY KEY,"
     "  value TEXT NOT NULL);"},
};

constexpr const char* kUploadColumns =
    "id, owner_id, name, claimed_type, length, received, parts, blob_key, blob_handle, hash_state,"
    " created_at, expires_at, file_id";
constexpr const char* kFileColumns =
    "id, owner_id, name, size, content_type, sha256, upload_sha256, blob_key, thumbnail_key,"
    " width, height, status, created_at";

UploadRecord row_to_upload(const Rows& r, int i) {
  UploadRecord u;
  u.id = r.text(i, 0);
  u.owner_id = r.text(i, 1);
  u.name = r.text(i, 2);
  u.claimed_type = r.text(i, 3);
  u.length = r.integer(i, 4);
  u.offset = r.integer(i, 5);
  u.parts = static_cast<int>(r.integer(i, 6));
  u.blob_key = r.text(i, 7);
  u.blob_handle = r.text(i, 8);
  u.hash_state = r.text(i, 9);
  u.created_at = r.integer(i, 10);
  u.expires_at = r.integer(i, 11);
  if (!r.is_null(i, 12)) u.file_id = r.text(i, 12);
  return u;
}

FileRecord row_to_file(const Rows& r, int i) {
  FileRecord f;
  f.id = r.text(i, 0);
  f.owner_id = r.text(i, 1);
  f.name = r.text(i, 2);
  f.size = r.integer(i, 3);
  f.content_type = r.text(i, 4);
  f.sha256 = r.text(i, 5);
  f.upload_sha256 = r.text(i, 6);
  f.blob_key = r.text(i, 7);
  f.thumbnail_key = r.text(i, 8);
  f.width = static_cast<int>(r.integer(i, 9));
  f.height = static_cast<int>(r.integer(i, 10));
  f.status = status_of(r.integer(i, 11));
  f.created_at = r.integer(i, 12);
  return f;
}

std::optional<UploadRecord> upload_by_id(Connection& c, const std::string& id,
                                         bool for_update = false) {
  auto q = c.exec(std::string("SELECT ") + kUploadColumns + " FROM file_uploads WHERE id = $1" +
                      (for_update ? " FOR UPDATE" : ""),
                  {id});
  if (q.empty()) return std::nullopt;
  return row_to_upload(q, 0);
}

std::vector<FileRecord> files_of(const Rows& q) {
  std::vector<FileRecord> out;
  out.reserve(q.size());
  for (int i = 0; i < q.size(); ++i) out.push_back(row_to_file(q, i));
  return out;
}

class PostgresFileStore final : public FileStore {
 public:
  explicit PostgresFileStore(Pool& pool) : pool_(pool) {}

  Result<void> create_upload(const UploadRecord& u) override {
    return pool_.transaction([&](Connection& c) -> Result<void> {
      auto q =
          c.exec(std::string("INSERT INTO file_uploads (") + kUploadColumns +
                     ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
                     " ON CONFLICT (id) DO NOTHING",
                 {u.id, u.owner_id, u.name, u.claimed_type, u.length, u.offset, u.parts, u.blob_key,
                  u.blob_handle, u.hash_state, u.created_at, u.expires_at, u.file_id});
      if (q.affected() == 0) return fail(Errc::already_exists, "upload exists");
      return ok();
    });
  }

  Result<UploadRecord> get_upload(const std::string& id) override {
    return pool_.run_value([&](Connection& c) -> Result<UploadRecord> {
      auto u = upload_by_id(c, id);
      if (!u) return fail(Errc::not_found, "upload not found");
      return std::move(*u);
    });
  }

  Result<void> advance_upload(const std::string& id, std::int64_t from_offset,
                              const UploadRecord& now) override {
    return pool_.transaction([&](Connection& c) -> Result<void> {
      auto q = c.exec(
          "UPDATE file_uploads SET received = $1, parts = $2, hash_state = $3, expires_at = $4"
          " WHERE id = $5 AND received = $6 AND file_id IS NULL",
          {now.offset, now.parts, now.hash_state, now.expires_at, id, from_offset});
      if (q.affected() == 1) return ok();
      auto u = upload_by_id(c, id);
      if (!u) return fail(Errc::not_found, "upload not found");
      if (u->file_id) return fail(Errc::failed_precondition, "the upload is finished");
      return fail(Errc::failed_precondition, "the upload moved on");
    });
  }

  Result<void> finish_upload(const std::string& upload_id, const FileRecord& f) override {
    return pool_.transaction([&](Connection& c) -> Result<void> {
      auto u = upload_by_id(c, upload_id, true);
      if (!u) return fail(Errc::not_found, "upload not found");
      if (u->file_id) return fail(Errc::failed_precondition, "the upload is finished");
      auto q = c.exec(
          std::string("INSERT INTO files (") + kFileColumns +
              ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
              " ON CONFLICT (id) DO NOTHING",
          {f.id, f.owner_id, f.name, f.size, f.content_type, f.sha256, f.upload_sha256, f.blob_key,
           f.thumbnail_key, f.width, f.height, status_code(f.status), f.created_at});
      if (q.affected() == 0) return fail(Errc::already_exists, "file exists");
      // Every byte is in once the upload finishes (a HEAD reports offset == length).
      c.exec("UPDATE file_uploads SET file_id = $1, received = length WHERE id = $2",
             {f.id, upload_id});
      return ok();
    });
  }

  Result<void> remove_upload(const std::string& id) override {
    return pool_.transaction([&](Connection& c) -> Result<void> {
      if (c.exec("DELETE FROM file_uploads WHERE id = $1", {id}).affected() == 0)
        return fail(Errc::not_found, "upload not found");
      return ok();
    });
  }

  Result<std::vector<UploadRecord>> expired_uploads(Millis now, int limit) override {
    return pool_.run_value([&](Connection& c) -> Result<std::vector<UploadRecord>> {
      auto q = c.exec(std::string("SELECT ") + kUploadColumns +
                          " FROM file_uploads WHERE expires_at < $1 ORDER BY expires_at, id"
                          " LIMIT $2",
                      {now, limit});
      std::vector<UploadRecord> out;
      out.reserve(q.size());
      for (int i = 0; i < q.size(); ++i) out.push_back(row_to_upload(q, i));
      return out;
    });
  }

  Result<std::int64_t> used_bytes(const std::string& owner_id) override {
    return pool_.run_value([&](Connection& c) -> Result<std::int64_t> {
      // sum(bigint) is numeric: cast back. A finished upload's bytes are its file's.
      auto q = c.exec(
          "SELECT ((SELECT coalesce(sum(size), 0) FROM files WHERE owner_id = $1) +"
          " (SELECT coalesce(sum(length), 0) FROM file_uploads"
          "  WHERE owner_id = $1 AND file_id IS NULL))::bigint",
          {owner_id});
      return q.integer(0, 0);
    });
  }

  Result<FileRecord> get_file(const std::string& id) override {
    return pool_.run_value([&](Connection& c) -> Result<FileRecord> {
      auto q = c.exec(std::string("SELECT ") + kFileColumns + " FROM files WHERE id = $1", {id});
      if (q.empty()) return fail(Errc::not_found, "file not found");
      return row_to_file(q, 0);
    });
  }

  Result<std::optional<FileRecord>> find_by_upload_sha256(const std::string& hash) override {
    return pool_.run_value([&](Connection& c) -> Result<std::optional<FileRecord>> {
      auto q = c.exec(std::string("SELECT ") + kFileColumns +
                          " FROM files WHERE upload_sha256 = $1 AND status = $2"
                          " ORDER BY created_at, id LIMIT 1",
                      {hash, status_code(FileStatus::ready)});
      if (q.empty()) return std::optional<FileRecord>();
      return std::optional<FileRecord>(row_to_file(q, 0));
    });
  }

  Result<void> set_status(const std::string& file_id, FileStatus status) override {
    return pool_.transaction([&](Connection& c) -> Result<void> {
      if (c.exec("UPDATE files SET status = $1 WHERE id = $2", {status_code(status), file_id})
              .affected() == 0)
        return fail(Errc::not_found, "file not found");
      return ok();
    });
  }

  Result<std::vector<FileRecord>> with_status(FileStatus status, int limit) override {
    return pool_.run_value([&](Connection& c) -> Result<std::vector<FileRecord>> {
      return files_of(c.exec(std::string("SELECT ") + kFileColumns +
                                 " FROM files WHERE status = $1 ORDER BY created_at, id LIMIT $2",
                             {status_code(status), limit}));
    });
  }

  Result<void> add_posts(const std::string& conversation_id,
                         const std::vector<std::string>& file_ids) override {
    if (file_ids.empty()) return ok();
    return pool_.transaction([&](Connection& c) -> Result<void> {
      c.exec(
          "INSERT INTO file_posts (file_id, conversation_id)"
          " SELECT DISTINCT f, $1 FROM unnest($2::text[]) AS f ON CONFLICT DO NOTHING",
          {conversation_id, Param::text_array(file_ids)});
      return ok();
    });
  }

  Result<std::vector<std::string>> posted_in(const std::string& file_id, int limit) override {
    return pool_.run_value([&](Connection& c) -> Result<std::vector<std::string>> {
      auto q = c.exec(
          "SELECT conversation_id FROM file_posts WHERE file_id = $1"
          " ORDER BY conversation_id LIMIT $2",
          {file_id, limit});
      std::vector<std::string> out;
      out.reserve(q.size());
      for (int i = 0; i < q.size(); ++i) out.push_back(q.text(i, 0));
      return out;
    });
  }

  Result<std::string> link_key(const std::string& candidate) override {
    return pool_.transaction_value([&](Connection& c) -> Result<std::string> {
      // A concurrent insert of the same key waits for the first to commit, then does nothing;
      // the SELECT (a fresh snapshot under READ COMMITTED) then sees the winner.
      c.exec(
          "INSERT INTO file_settings (key, value) VALUES ('link_key', $1)"
          " ON CONFLICT (key) DO NOTHING",
          {candidate});
      auto q = c.exec("SELECT value FROM file_settings WHERE key = 'link_key'");
      if (q.empty()) return fail(Errc::internal, "link key missing");
      return q.text(0, 0);
    });
  }

 private:
  Pool& pool_;
};

}  // namespace

Result<std::unique_ptr<files::FileStore>> make_file_store(Pool& pool) {
  if (auto m = pool.migrate("files", kMigrations); !m) return fail(m.error());
  return std::unique_ptr<files::FileStore>(new PostgresFileStore(pool));
}

}  // namespace parley::postgres
