// `parley backup` and `parley restore`: a copy of the embedded store (DATA_DIR/parley.db and,
// with local file storage, DATA_DIR/files/objects) that can be taken while the server runs.
//
// A backup is a directory, not an archive: OUT/parley.db is written with SQLite's online backup
// API (one consistent snapshot, the server keeps writing meanwhile) and OUT/files/objects holds
// the file bytes, hard-linked where OUT is on the same file system (objects are written once,
// by rename, and never changed in place, so a link is a safe copy that costs no space) and
// copied otherwise. A directory needs no new dependency and can be packed with tar or shipped
// with rsync as the operator likes (docs/operations.md).
//
// The database is copied first and the objects after: an object uploaded in between is copied
// but unreferenced (harmless); an object deleted in between is missing from the backup.
#pragma once

#include <string>
#include <vector>

namespace parley::app {

// `parley backup --data-dir DIR --out DIR2`: 0 on success, 1 when the copy failed, 2 for bad
// usage.
int backup_command(const std::vector<std::string>& args);

// `parley restore --data-dir DIR --in DIR2 [--force]`: refuses (exit 1) when a server holds
// DIR's database, or when DIR has a database and --force is not given.
int restore_command(const std::vector<std::string>& args);

}  // namespace parley::app
