// The BlobStore contract against LocalBlobStore, each test in a throw-away folder.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>

#include "adapters/local/local_blob_store.h"
#include "modules/files/blob_store_contract.h"

namespace parley::local {
namespace {

// A fresh root per store, removed with it.
std::shared_ptr<files::BlobStore> make_store() {
  static std::atomic<int> n{0};
  auto root = std::filesystem::temp_directory_path() /
              ("parley-local-test-" + std::to_string(::getpid()) + "-" + std::to_string(++n));
  std::filesystem::remove_all(root);
  auto store = LocalBlobStore::open(root.string());
  EXPECT_TRUE(store) << (store ? "" : store.error().message);
  if (!store) return nullptr;
  return std::shared_ptr<files::BlobStore>(store->release(), [root](files::BlobStore* s) {
    delete s;
    std::error_code ec;
    std::filesystem::remove_all(root, ec);
  });
}

}  // namespace
}  // namespace parley::local

namespace parley::files {
INSTANTIATE_TEST_SUITE_P(Local, BlobStoreContract,
                         ::testing::Values(BlobStoreFactory(&local::make_store)));
}  // namespace parley::files
