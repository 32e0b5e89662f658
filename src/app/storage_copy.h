// `parley storage copy`: moves a node's files from local disk to S3. Walks
// DATA_DIR/files/objects (a file's path under objects/ is its key, the same in both stores) and
// puts every object into the S3 store named by --to (by default the configured --storage when
// it is an s3:// URL), skipping keys that S3 already holds with the same size, so that an
// interrupted copy is simply run again. Files over --part-threshold-bytes go up as multipart
// uploads, read part by part. Local files are never deleted; unfinished uploads
// (DATA_DIR/files/staging) are not copied. Configuration (data dir, S3 keys, --config FILE) is
// read as `parley serve` reads it. See docs/files-migration.md.
#pragma once

#include <string>
#include <vector>

namespace parley::app {

// Runs `parley storage ARGS...` (args after "storage"); returns the exit status: 0 when every
// object is in S3, 1 when some could not be copied, 2 for bad usage or configuration.
int storage_command(const std::vector<std::string>& args, char** envp);

}  // namespace parley::app
