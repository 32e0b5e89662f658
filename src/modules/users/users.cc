#include "modules/users/users.h"

#include <filesystem>
#include <fstream>

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

const char* role_name(Role r) { return r == Role::admin ? "admin" : "user"; }

std::optional<Role> parse_role(std::string_view name) {
  if (name == "admin") return Role::admin;
  if (name == "user") return Role::user;
  return std::nullopt;
}

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

Result<std::string> check_timezone(const std::string& raw, const std::string& zoneinfo_dir) {
  if (raw.empty() || raw == "UTC") return raw;
  auto bad = [] {
    return fail(Errc::invalid_argument, "timezone must be an IANA time zone such as Europe/Paris",
                "timezone");
  };
  // The form first, so nothing that could walk the file system (".", "..", a leading or doubled
  // "/") reaches it: parts of A-Z a-z 0-9 _ + -, at least two, none empty.
  if (raw.size() > 64) return bad();
  int parts = 1;
  char prev = '/';
  for (char c : raw) {
    const bool word = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '+' || c == '-';
    if (c == '/') {
      if (prev == '/') return bad();
      ++parts;
    } else if (!word) {
      return bad();
    }
    prev = c;
  }
  if (parts < 2 || prev == '/') return bad();
  // tzdata's "posix/" and "right/" trees repeat every zone under names browsers do not know.
  if (raw.starts_with("posix/") || raw.starts_with("right/")) return bad();
  std::error_code ec;
  const std::filesystem::path file = std::filesystem::path(zoneinfo_dir) / raw;
  if (!std::filesystem::is_regular_file(file, ec)) return bad();
  std::ifstream in(file, std::ios::binary);
  char magic[4] = {};
  if (!in.read(magic, 4) || std::string_view(magic, 4) != "TZif") return bad();
  return raw;
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
  // The store decides the role (the first account is an admin): read back what it stored.
  return store_.get(u.id);
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
  ProfileFields fields{std::move(display), std::move(status), std::nullopt};
  if (patch.timezone) {
    auto tz = check_timezone(*patch.timezone);
    if (!tz) return fail(tz.error());
    fields.timezone = std::move(*tz);
  }
  return store_.update_profile(id, fields);
}

Result<User> UserService::set_avatar(const std::string& id, const AvatarImage& img) {
  if (!looks_like_id(img.file_id) || img.created_by != id)
    return fail(Errc::invalid_argument, "file_id must name a file you uploaded", "file_id");
  if (img.width <= 0) return fail(Errc::invalid_argument, "an avatar must be an image", "file_id");
  if (!img.ready)
    return fail(Errc::invalid_argument, "the file is not ready (not yet scanned, or flagged)",
                "file_id");
  return store_.set_avatar(id, img.file_id);
}

Result<User> UserService::clear_avatar(const std::string& id) { return store_.set_avatar(id, ""); }

Result<User> UserService::find_by_avatar(const std::string& file_id) {
  if (!looks_like_id(file_id)) return fail(Errc::not_found, "no such avatar");
  auto u = store_.find_by_avatar(file_id);
  if (!u && u.error().code == Errc::not_found) return fail(Errc::not_found, "no such avatar");
  return u;
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

Result<User> UserService::set_role(const std::string& id, Role role) {
  if (!looks_like_id(id)) return fail(Errc::not_found, "no such user");
  return store_.set_role(id, role);
}

Result<User> UserService::deactivate(const std::string& id) {
  if (!looks_like_id(id)) return fail(Errc::not_found, "no such user");
  auto u = store_.get(id);
  if (!u) return u;
  if (u->deactivated_at) return u;  // already: keep the first time
  return store_.set_deactivated(id, clock_.now_ms());
}

Result<User> UserService::reactivate(const std::string& id) {
  if (!looks_like_id(id)) return fail(Errc::not_found, "no such user");
  return store_.set_deactivated(id, std::nullopt);
}

}  // namespace parley::users
