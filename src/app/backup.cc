#include "app/backup.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <system_error>

#include "adapters/sqlite/database.h"

namespace parley::app {
namespace {

namespace fs = std::filesystem;

constexpr const char* kDatabase = "parley.db";

int say(int code, const std::string& line) {
  std::fprintf(stderr, "parley: %s\n", line.c_str());
  return code;
}

// --name VALUE pairs and bare --flags; nullopt (with a message) on anything else.
std::optional<std::map<std::string, std::string>> parse_flags(
    const std::vector<std::string>& args, const std::vector<std::string>& with_value,
    const std::vector<std::string>& bare, std::string& why) {
  std::map<std::string, std::string> out;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    std::string name = a, value;
    bool has_value = false;
    if (auto eq = a.find('='); eq != std::string::npos) {
      name = a.substr(0, eq);
      value = a.substr(eq + 1);
      has_value = true;
    }
    if (std::find(bare.begin(), bare.end(), name) != bare.end() && !has_value) {
      out[name] = "true";
    } else if (std::find(with_value.begin(), with_value.end(), name) != with_value.end()) {
      if (!has_value) {
        if (i + 1 >= args.size()) {
          why = name + " needs a value";
          return std::nullopt;
        }
        value = args[++i];
      }
      out[name] = value;
    } else {
      why = "unknown option \"" + a + "\"";
      return std::nullopt;
    }
  }
  return out;
}

// Every regular file under from, linked (or, across file systems, copied) to the same relative
// path under to. Returns how many files; an error message in why when one failed.
std::size_t mirror_tree(const fs::path& from, const fs::path& to, bool try_links,
                        std::string& why) {
  std::size_t n = 0;
  std::error_code ec;
  if (!fs::is_directory(from, ec)) return 0;
  fs::create_directories(to, ec);
  for (auto it = fs::recursive_directory_iterator(from, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    fs::path target = to / fs::relative(it->path(), from, ec);
    fs::create_directories(target.parent_path(), ec);
    std::error_code lec;
    fs::remove(target, lec);
    bool done = false;
    if (try_links) {
      fs::create_hard_link(it->path(), target, lec);
      done = !lec;
    }
    if (!done) {
      fs::copy_file(it->path(), target, fs::copy_options::overwrite_existing, lec);
      if (lec) {
        why = "cannot copy " + it->path().string() + ": " + lec.message();
        return n;
      }
    }
    ++n;
  }
  if (ec) why = "cannot read " + from.string() + ": " + ec.message();
  return n;
}

}  // namespace

int backup_command(const std::vector<std::string>& args) {
  std::string why;
  auto flags = parse_flags(args, {"--data-dir", "--out"}, {}, why);
  if (!flags) return say(2, "backup: " + why + " (parley backup --data-dir DIR --out DIR2)");
  std::string data_dir = (*flags)["--data-dir"].empty() ? "./data" : (*flags)["--data-dir"];
  const std::string out = (*flags)["--out"];
  if (out.empty()) return say(2, "backup: give --out DIR2 (a new or empty directory)");
  const fs::path db = fs::path(data_dir) / kDatabase;
  std::error_code ec;
  if (!fs::exists(db, ec)) return say(2, "backup: no database at " + db.string());
  if (fs::exists(fs::path(out) / kDatabase, ec))
    return say(2, "backup: " + out + " already holds a backup; give a new directory");
  fs::create_directories(out, ec);
  if (ec) return say(1, "backup: cannot create " + out + ": " + ec.message());
  // The database holds password hashes and keys: the backup is as private as the data dir.
  fs::permissions(out, fs::perms::owner_all, fs::perm_options::replace, ec);

  // Written under a temporary name and renamed, so a directory with parley.db in it is a whole
  // backup.
  const fs::path partial = fs::path(out) / (std::string(kDatabase) + ".partial");
  if (auto r = sqlite::backup_database(db.string(), partial.string()); !r) {
    fs::remove(partial, ec);
    return say(1, "backup: " + r.error().message);
  }
  std::size_t files = mirror_tree(fs::path(data_dir) / "files" / "objects",
                                  fs::path(out) / "files" / "objects", true, why);
  if (!why.empty()) return say(1, "backup: " + why);
  fs::permissions(partial, fs::perms::owner_read | fs::perms::owner_write,
                  fs::perm_options::replace, ec);
  fs::rename(partial, fs::path(out) / kDatabase, ec);
  if (ec) return say(1, "backup: " + ec.message());
  std::printf("backup of %s written to %s (database and %zu files)\n", data_dir.c_str(),
              out.c_str(), files);
  return 0;
}

int restore_command(const std::vector<std::string>& args) {
  std::string why;
  auto flags = parse_flags(args, {"--data-dir", "--in"}, {"--force"}, why);
  if (!flags)
    return say(2, "restore: " + why + " (parley restore --data-dir DIR --in DIR2 [--force])");
  std::string data_dir = (*flags)["--data-dir"].empty() ? "./data" : (*flags)["--data-dir"];
  const fs::path in = (*flags)["--in"];
  const bool force = flags->count("--force") > 0;
  if (in.empty()) return say(2, "restore: give --in DIR2 (a directory made by parley backup)");
  std::error_code ec;
  if (!fs::exists(in / kDatabase, ec))
    return say(2, "restore: " + in.string() + " holds no " + kDatabase + " (not a backup)");
  const fs::path db = fs::path(data_dir) / kDatabase;
  if (sqlite::database_in_use(db.string()))
    return say(1, "restore: a running server holds " + db.string() + "; stop it first");
  if (fs::exists(db, ec) && !force)
    return say(1, "restore: " + db.string() + " exists; give --force to replace it");

  fs::create_directories(data_dir, ec);
  if (ec) return say(1, "restore: cannot create " + data_dir + ": " + ec.message());
  fs::permissions(data_dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  // The old database's WAL would be applied to the restored file: it goes with the file.
  for (const char* suffix : {"-wal", "-shm", "-journal"}) fs::remove(db.string() + suffix, ec);
  const fs::path partial = fs::path(data_dir) / (std::string(kDatabase) + ".restoring");
  fs::copy_file(in / kDatabase, partial, fs::copy_options::overwrite_existing, ec);
  if (ec) return say(1, "restore: cannot copy the database: " + ec.message());
  // Objects are copied, not linked: the backup stays untouched whatever the server does next.
  std::size_t files =
      mirror_tree(in / "files" / "objects", fs::path(data_dir) / "files" / "objects", false, why);
  if (!why.empty()) return say(1, "restore: " + why);
  fs::rename(partial, db, ec);
  if (ec) return say(1, "restore: " + ec.message());
  std::printf("restored %s into %s (database and %zu files)\n", in.c_str(), data_dir.c_str(),
              files);
  return 0;
}

}  // namespace parley::app
