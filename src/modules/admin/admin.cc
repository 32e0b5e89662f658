#include "modules/admin/admin.h"

#include <algorithm>

#include "core/crypto.h"
#include "core/id.h"
#include "core/log.h"
#include "core/text.h"

namespace parley::admin {
namespace {

constexpr Millis kMinInviteTtl = 60'000;
constexpr Millis kMaxInviteTtl = 365LL * 24 * 3600 * 1000;
constexpr int kMaxInviteUses = 10'000;

// A domain as DNS spells it: labels of a-z 0-9 - (lower-cased here), dots between, at least two
// labels; an IDN must be given in its xn-- form.
std::optional<std::string> clean_domain(std::string_view raw) {
  std::string d = text::ascii_lower(std::string(text::trim(raw)));
  if (!d.empty() && d[0] == '@') d.erase(0, 1);
  if (d.empty() || d.size() > 253 || d.front() == '.' || d.back() == '.' ||
      d.find("..") != std::string::npos || d.find('.') == std::string::npos)
    return std::nullopt;
  for (char c : d)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
      return std::nullopt;
  return d;
}

Error not_usable_invite() {
  return {Errc::permission_denied, "the invite is not valid (unknown, expired, used up or revoked)",
          "invite_token", 0};
}

}  // namespace

const char* mode_name(RegistrationMode m) {
  switch (m) {
    case RegistrationMode::open:
      return "open";
    case RegistrationMode::invite_only:
      return "invite_only";
    case RegistrationMode::closed:
      return "closed";
  }
  return "open";
}

std::string join_domains(const std::vector<std::string>& domains) {
  std::string out;
  for (const auto& d : domains) out += d + "\n";
  return out;
}

std::vector<std::string> split_domains(const std::string& stored) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at < stored.size()) {
    auto nl = stored.find('\n', at);
    if (nl == std::string::npos) nl = stored.size();
    if (nl > at) out.push_back(stored.substr(at, nl - at));
    at = nl + 1;
  }
  return out;
}

std::optional<RegistrationMode> parse_mode(std::string_view name) {
  if (name == "open") return RegistrationMode::open;
  if (name == "invite_only") return RegistrationMode::invite_only;
  if (name == "closed") return RegistrationMode::closed;
  return std::nullopt;
}

void AdminService::record(const Actor& by, const char* action, std::string target) {
  // The action already happened: a failed record is logged (by the audit log) and the answer
  // stands, so a full disk does not make administration impossible.
  (void)audit_.record({by.user_id, action, std::move(target), by.ip});
}

// ---- users ----

Result<users::User> AdminService::deactivate(const Actor& by, const std::string& user_id) {
  if (user_id == by.user_id)
    return fail(Errc::failed_precondition, "you cannot deactivate your own account");
  auto before = users_.get(user_id);
  if (!before) return before;
  // The flag first, then the sessions: a sign-in racing with this either sees the flag or has
  // its session ended by the sweep below (auth's login checks again after storing it).
  auto u = users_.deactivate(user_id);
  if (!u) return u;
  auto ended = auth_.end_all_sessions(user_id);
  if (!ended) return fail(ended.error());
  if (!before->deactivated_at)
    record(by, audit::actions::kUserDeactivated, audit::target("user", user_id));
  return u;
}

Result<users::User> AdminService::reactivate(const Actor& by, const std::string& user_id) {
  auto before = users_.get(user_id);
  if (!before) return before;
  auto u = users_.reactivate(user_id);
  if (!u) return u;
  if (before->deactivated_at)
    record(by, audit::actions::kUserReactivated, audit::target("user", user_id));
  return u;
}

Result<void> AdminService::reset_second_factor(const Actor& by, const std::string& user_id) {
  if (auto u = users_.get(user_id); !u) return fail(u.error());
  if (auto r = auth_.reset_second_factor(user_id); !r) return r;
  record(by, audit::actions::kTotpReset, audit::target("user", user_id));
  return ok();
}

Result<int> AdminService::sign_out(const Actor& by, const std::string& user_id) {
  if (auto u = users_.get(user_id); !u) return fail(u.error());
  auto ended = auth_.end_all_sessions(user_id);
  if (!ended) return fail(ended.error());
  record(by, audit::actions::kSessionsRevoked, audit::target("user", user_id));
  return static_cast<int>(ended->size());
}

Result<users::User> AdminService::set_role(const Actor& by, const std::string& user_id,
                                           users::Role role) {
  auto before = users_.get(user_id);
  if (!before) return before;
  if (before->role == role) return before;
  auto u = users_.set_role(user_id, role);
  if (!u) return u;
  record(by, audit::actions::kRoleChanged,
         audit::target("user", user_id) + " role:" + users::role_name(role));
  return u;
}

// ---- channels ----

Result<messaging::Conversation> AdminService::set_channel_archived(const Actor& by,
                                                                   const std::string& id,
                                                                   bool archived) {
  auto before = messaging_.channel_for_admin(id);
  if (!before) return before;
  auto c = messaging_.admin_set_archived(id, archived);
  if (!c) return c;
  if (before->archived != archived)
    record(by, archived ? audit::actions::kChannelArchived : audit::actions::kChannelUnarchived,
           audit::target("conversation", id));
  return c;
}

Result<messaging::Member> AdminService::set_channel_owner(const Actor& by, const std::string& id,
                                                          const std::string& user_id) {
  auto m = messaging_.admin_set_owner(id, user_id);
  if (!m) return m;
  record(by, audit::actions::kChannelOwnerChanged,
         audit::target("conversation", id) + " owner:" + user_id);
  return m;
}

// ---- settings and invites ----

Result<Settings> AdminService::settings() { return store_.settings(); }

Result<Settings> AdminService::update_settings(const Actor& by, const SettingsPatch& patch) {
  auto s = store_.settings();
  if (!s) return s;
  Settings next = *s;
  if (patch.registration) {
    auto m = parse_mode(*patch.registration);
    if (!m)
      return fail(Errc::invalid_argument, "registration must be open, invite_only or closed",
                  "registration");
    next.registration = *m;
  }
  if (patch.allowed_email_domains) {
    if (patch.allowed_email_domains->size() > static_cast<std::size_t>(kMaxDomains))
      return fail(Errc::invalid_argument,
                  "at most " + std::to_string(kMaxDomains) + " allowed email domains",
                  "allowed_email_domains");
    std::vector<std::string> domains;
    for (const auto& raw : *patch.allowed_email_domains) {
      auto d = clean_domain(raw);
      if (!d)
        return fail(Errc::invalid_argument,
                    "\"" + std::string(raw.substr(0, 64)) + "\" is not a domain name (example.com)",
                    "allowed_email_domains");
      if (std::find(domains.begin(), domains.end(), *d) == domains.end()) domains.push_back(*d);
    }
    next.allowed_email_domains = std::move(domains);
  }
  if (auto w = store_.put_settings(next); !w) return fail(w.error());
  std::string what;
  if (patch.registration) what += std::string(" registration:") + mode_name(next.registration);
  if (patch.allowed_email_domains)
    what += " allowed_email_domains:" + std::to_string(next.allowed_email_domains.size());
  record(by, audit::actions::kSettingsChanged, "settings:server" + what);
  return next;
}

Result<CreatedInvite> AdminService::create_invite(const Actor& by, const NewInvite& in) {
  if (in.expires_in_ms && (*in.expires_in_ms < kMinInviteTtl || *in.expires_in_ms > kMaxInviteTtl))
    return fail(Errc::invalid_argument, "expires_in must be 60 seconds to 365 days", "expires_in");
  if (in.max_uses < 0 || in.max_uses > kMaxInviteUses)
    return fail(Errc::invalid_argument, "max_uses must be 0 (unlimited) to 10000", "max_uses");
  const Millis now = clock_.now_ms();
  Invite inv;
  inv.id = new_id(now);
  inv.created_by = by.user_id;
  inv.created_at = now;
  if (in.expires_in_ms) inv.expires_at = now + *in.expires_in_ms;
  inv.max_uses = in.max_uses;
  std::string token = base64url_encode(random_bytes(24));
  if (auto r = store_.create_invite(inv, sha256(token)); !r) return fail(r.error());
  record(by, audit::actions::kInviteCreated, audit::target("invite", inv.id));
  return CreatedInvite{inv, token};
}

Result<std::vector<Invite>> AdminService::invites() { return store_.list_invites(200); }

Result<Invite> AdminService::revoke_invite(const Actor& by, const std::string& id) {
  if (!looks_like_id(id)) return fail(Errc::not_found, "no such invite");
  auto inv = store_.revoke_invite(id, clock_.now_ms());
  if (!inv) return inv;
  record(by, audit::actions::kInviteRevoked, audit::target("invite", id));
  return inv;
}

Result<Admission> AdminService::admit(const std::optional<std::string>& email,
                                      const std::optional<std::string>& invite_token) {
  auto anyone = users_.search("", 1, std::nullopt);
  if (!anyone) return fail(anyone.error());
  if (anyone->users.empty()) return Admission{};  // the first account: the server's admin
  auto s = store_.settings();
  if (!s) return fail(s.error());
  if (s->registration == RegistrationMode::closed)
    return fail(Errc::permission_denied, "registration is closed on this server");
  if (!s->allowed_email_domains.empty()) {
    std::string domain;
    if (email) {
      auto at = email->rfind('@');
      if (at != std::string::npos) domain = text::ascii_lower(email->substr(at + 1));
    }
    if (std::find(s->allowed_email_domains.begin(), s->allowed_email_domains.end(), domain) ==
        s->allowed_email_domains.end())
      return fail(Errc::invalid_argument,
                  "registration needs an email address at an allowed domain", "email");
  }
  if (s->registration == RegistrationMode::open) return Admission{};
  if (!invite_token || invite_token->empty() || invite_token->size() > 128)
    return fail(Errc::permission_denied, "registration needs an invite on this server",
                "invite_token");
  auto inv = store_.consume_invite(sha256(*invite_token), clock_.now_ms());
  if (!inv) {
    if (inv.error().code == Errc::not_found) return fail(not_usable_invite());
    return fail(inv.error());
  }
  return Admission{inv->id};
}

void AdminService::release(const Admission& a) {
  if (!a.invite_id) return;
  if (auto r = store_.release_invite(*a.invite_id); !r)
    log::warn("invite use not given back", {{"invite_id", *a.invite_id}});
}

}  // namespace parley::admin
