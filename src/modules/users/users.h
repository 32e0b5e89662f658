// Users module: profiles and the people directory.
//
// UserService validates and stores profiles; auth/ creates users at registration and asks for
// them at login. It also holds the system role (the first account is an admin) and whether an
// admin deactivated the account; ending a deactivated user's sessions is auth's job. Values in,
// values out; safe to call from any worker thread (it blocks on the store). Errors:
// invalid_argument (with field), already_exists (username taken), not_found,
// failed_precondition (a change that would leave no active admin).
//
// An avatar is an image the files module holds; the API layer asks that module about the file
// and hands its answer over as an AvatarImage, so this module needs no files dependency.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/result.h"
#include "modules/users/store.h"

namespace parley::users {

struct NewUser {
  std::string username;                     // normalised to lower case; 3-32 of a-z 0-9 . _ -
  std::optional<std::string> display_name;  // defaults to the username
  std::optional<std::string> email;
};

struct ProfilePatch {
  std::optional<std::string> display_name = std::nullopt;
  std::optional<std::string> status_text = std::nullopt;
  std::optional<std::string> timezone = std::nullopt;  // "" clears it
};

// What the files module says about a file proposed as an avatar.
struct AvatarImage {
  std::string file_id;
  std::string created_by;  // the uploader
  int width = 0;           // > 0 only for an image the server processed
  bool ready = false;      // scanned clean: its bytes may be served
};

struct DirectoryPage {
  std::vector<User> users;
  std::optional<std::string> next_cursor;
};

class UserService {
 public:
  UserService(UserStore& store, const Clock& clock) : store_(store), clock_(clock) {}

  Result<User> create(const NewUser& in);
  Result<User> get(const std::string& id);
  Result<User> find_by_username(const std::string& username);
  Result<User> update_profile(const std::string& id, const ProfilePatch& patch);
  // Makes img the user's avatar: it must be their own upload, ready, and a processed image;
  // invalid_argument (field "file_id") otherwise.
  Result<User> set_avatar(const std::string& id, const AvatarImage& img);
  Result<User> clear_avatar(const std::string& id);
  // The user whose avatar file_id is; not_found when it is nobody's (avatars are public, so
  // this is the whole permission check for GET /api/v1/avatars/{file_id}).
  Result<User> find_by_avatar(const std::string& file_id);
  // Users whose username or display name starts with prefix (case-insensitive), by username.
  Result<DirectoryPage> search(const std::string& prefix, int limit,
                               const std::optional<std::string>& cursor);
  // Undoes create() when a later registration step fails.
  Result<void> remove(const std::string& id);

  // Administration (the API checks the caller is an admin first). failed_precondition when the
  // change would leave no active admin.
  Result<User> set_role(const std::string& id, Role role);
  Result<User> deactivate(const std::string& id);
  Result<User> reactivate(const std::string& id);

  static constexpr int kMaxDisplayName = 64;
  static constexpr int kMaxStatusText = 140;

 private:
  UserStore& store_;
  const Clock& clock_;
};

// Lower-cases and checks a username; invalid_argument (field "username") when unusable.
Result<std::string> normalise_username(const std::string& raw);

inline constexpr const char* kZoneinfoDir = "/usr/share/zoneinfo";
// Checks a time zone name: "" (unset), "UTC", or an IANA name "Area/Location[/More]" of
// A-Z a-z 0-9 _ + - that names a TZif file under zoneinfo_dir (Debian's tzdata); invalid_argument
// (field "timezone") otherwise.
Result<std::string> check_timezone(const std::string& raw,
                                   const std::string& zoneinfo_dir = kZoneinfoDir);

}  // namespace parley::users
