// UserStore: the port through which the users module keeps its table. Implemented by adapters
// (SQLite, PostgreSQL); every implementation passes store_contract.h. Blocking; thread-safe.
// insert() fails with already_exists when the username is taken (case-insensitively); calls on
// an unknown user id fail with not_found. The store keeps values as given: UserService
// validates them first.
//
// Roles: the first user ever inserted into an empty table is stored as an admin whatever
// User::role says (decided inside insert's transaction, so two first registrations racing give
// one admin); everyone else gets the role given (normally Role::user).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/result.h"

namespace parley::users {

// The system-wide role. Admins reach /api/v1/admin/*; it has nothing to do with a member's
// role in one conversation (messaging's owner/admin/member).
enum class Role { user, admin };

const char* role_name(Role r);                         // "user" | "admin"
std::optional<Role> parse_role(std::string_view name);  // nullopt for anything else

struct User {
  std::string id;
  std::string username;
  std::string display_name;
  std::string status_text;
  std::string timezone;        // an IANA name ("Europe/Paris"), "" when unset
  std::string avatar_file_id;  // the files module's id of the avatar image, "" when none
  std::optional<std::string> email;
  Millis created_at = 0;
  Role role = Role::user;
  std::optional<Millis> deactivated_at;  // set while an admin has deactivated the account
};

// The profile fields one update sets; a field left empty keeps its value.
struct ProfileFields {
  std::optional<std::string> display_name = std::nullopt;
  std::optional<std::string> status_text = std::nullopt;
  std::optional<std::string> timezone = std::nullopt;
};

class UserStore {
 public:
  virtual ~UserStore() = default;
  virtual Result<void> insert(const User& u) = 0;
  virtual Result<User> get(const std::string& id) = 0;
  virtual Result<User> get_by_username(const std::string& username) = 0;
  // Sets the fields given (one statement, so concurrent edits of different fields both land);
  // returns the updated user.
  virtual Result<User> update_profile(const std::string& id, const ProfileFields& fields) = 0;
  // Sets the avatar's file id ("" clears it); returns the updated user.
  virtual Result<User> set_avatar(const std::string& id, const std::string& avatar_file_id) = 0;
  // The user whose avatar is the file file_id; not_found when none is (and for "").
  virtual Result<User> find_by_avatar(const std::string& file_id) = 0;
  // Ordered by username; only usernames greater than after (when given).
  virtual Result<std::vector<User>> search_prefix(const std::string& prefix, int limit,
                                                  const std::optional<std::string>& after) = 0;
  virtual Result<void> remove(const std::string& id) = 0;

  // Sets the role; returns the updated user. Taking admin away from the last admin (counting
  // active admins other than this one) fails with failed_precondition and changes nothing, so a
  // server always keeps someone who can administer it.
  virtual Result<User> set_role(const std::string& id, Role role) = 0;
  // Sets (a time) or clears (nullopt) deactivated_at; returns the updated user. Deactivating the
  // last active admin fails with failed_precondition, as above.
  virtual Result<User> set_deactivated(const std::string& id, std::optional<Millis> at) = 0;
};

}  // namespace parley::users
