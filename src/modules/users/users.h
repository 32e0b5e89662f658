// Users module: profiles and the people directory.
//
// UserService validates and stores profiles; auth/ creates users at registration and asks for
// them at login. Values in, values out; safe to call from any worker thread (it blocks on the
// store). Errors: invalid_argument (with field), already_exists (username taken), not_found.
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
  std::optional<std::string> display_name;
  std::optional<std::string> status_text;
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
  // Users whose username or display name starts with prefix (case-insensitive), by username.
  Result<DirectoryPage> search(const std::string& prefix, int limit,
                               const std::optional<std::string>& cursor);
  // Undoes create() when a later registration step fails.
  Result<void> remove(const std::string& id);

  static constexpr int kMaxDisplayName = 64;
  static constexpr int kMaxStatusText = 140;

 private:
  UserStore& store_;
  const Clock& clock_;
};

// Lower-cases and checks a username; invalid_argument (field "username") when unusable.
Result<std::string> normalise_username(const std::string& raw);

}  // namespace parley::users
