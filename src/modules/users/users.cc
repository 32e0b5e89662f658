#include "modules/users/users.h"

#include "core/id.h"
#include "core/text.h"

namespace parley::users {
namespace {

Result<std::string> clean_display_text(const std::string& raw, const char* field, std::size_t min,
                                       std::size_t max) {
  if (!text::is_valid_utf8(raw))
    return fail(Errc::malformed, std::string(field) + " is not valid UTF-8", field);
  std::string t(text::trim(raw));
  auto n = text::char_count(t);
  if (n < min || n > max)
    return fail(Errc::invalid_argument,
                std::string(field) + " must be " + std::to_string(min) + " to " +
                    std::to_string(max) + " characters",
                field);
  if (text::has_control_chars(t, false))
    return fail(Errc::invalid_argument, std::string(field) + " contains control characters", field);
  return t;
}

}  // namespace

Result<std::string> normalise_username(const std::string& raw) {
  std::string u = text::ascii_lower(raw);
  if (u.size() < 3 || u.size() > 32)
    return fail(Errc::invalid_argument, "username must be 3 to 32 characters", "username");
  for (char c : u) {
    bool okc = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!okc)
      return fail(Errc::invalid_argument, "username may hold only a-z, 0-9, '.', '_' and '-'",
                  "username");
  }
  return u;
}

Result<User> UserService::create(const NewUser& in) {
  auto username = normalise_username(in.username);
  if (!username) return fail(username.error());
  User u;
  u.username = *username;
  if (in.display_name) {
    auto d = clean_display_text(*in.display_name, "display_name", 1, kMaxDisplayName);
    if (!d) return fail(d.error());
    u.display_name = *d;
  } else {
    u.display_name = u.username;
  }
  if (in.email) {
    const auto& e = *in.email;
    auto at = e.find('@');
    if (e.size() > 254 || at == std::string::npos || at == 0 || at + 1 >= e.size() ||
        e.find_first_of(" \t\r\n<>") != std::string::npos || !text::is_valid_utf8(e))
      return fail(Errc::invalid_argument, "email is not a valid address", "email");
    u.email = e;
  }
  u.created_at = clock_.now_ms();
  u.id = new_id(u.created_at);
  auto r = store_.insert(u);
  if (!r) return fail(r.error());
  return u;
}

Result<User> UserService::get(const std::string& id) {
  if (!looks_like_id(id)) return fail(Errc::not_found, "no such user");
  return store_.get(id);
}

Result<User> UserService::find_by_username(const std::string& username) {
  auto u = normalise_username(username);
  if (!u) return fail(Errc::not_found, "no such user");
  return store_.get_by_username(*u);
}

Result<User> UserService::update_profile(const std::string& id, const ProfilePatch& patch) {
  std::optional<std::string> display, status;
  if (patch.display_name) {
    auto d = clean_display_text(*patch.display_name, "display_name", 1, kMaxDisplayName);
    if (!d) return fail(d.error());
    display = std::move(*d);
  }
  if (patch.status_text) {
    auto s = clean_display_text(*patch.status_text, "status_text", 0, kMaxStatusText);
    if (!s) return fail(s.error());
    status = std::move(*s);
  }
  return store_.update_profile(id, display, status);
}

Result<DirectoryPage> UserService::search(const std::string& prefix, int limit,
                                          const std::optional<std::string>& cursor) {
  if (!text::is_valid_utf8(prefix)) return fail(Errc::malformed, "q is not valid UTF-8", "q");
  if (text::char_count(prefix) > 64)
    return fail(Errc::invalid_argument, "q must be at most 64 characters", "q");
  auto found = store_.search_prefix(std::string(text::trim(prefix)), limit + 1, cursor);
  if (!found) return fail(found.error());
  DirectoryPage page;
  page.users = std::move(*found);
  if (static_cast<int>(page.users.size()) > limit) {
    page.users.resize(static_cast<std::size_t>(limit));
    page.next_cursor = page.users.back().username;
  }
  return page;
}

Result<void> UserService::remove(const std::string& id) { return store_.remove(id); }

}  // namespace parley::users
