#include "adapters/janus/janus_sfu.h"

#include <curl/curl.h>

#include <boost/json.hpp>

#include "core/crypto.h"
#include "core/json.h"

namespace parley::janus {
namespace {

size_t collect(char* data, size_t size, size_t n, void* out) {
  auto* s = static_cast<std::string*>(out);
  if (s->size() + size * n > (1u << 20)) return 0;  // no answer of Janus is this big
  s->append(data, size * n);
  return size * n;
}

class JanusSfu final : public calls::Sfu {
 public:
  explicit JanusSfu(JanusConfig c) : c_(std::move(c)) {}

  Result<void> create_room(const std::string& room, const std::string& secret,
                           const std::vector<std::string>& allowed) override {
    boost::json::array tokens;
    for (const auto& t : allowed) tokens.emplace_back(t);
    boost::json::object body{{"request", "create"},
                    {"admin_key", c_.admin_key},
                    {"room", room},
                    {"secret", secret},
                    {"allowed", std::move(tokens)},
                    {"is_private", true},
                    {"publishers", 16},
                    {"audiolevel_event", true},
                    {"bitrate", 1'000'000},
                    {"permanent", false}};
    if (auto dir = recording_dir(room); !dir.empty()) body["rec_dir"] = dir;
    return request(std::move(body), "created");
  }

  Result<void> record(const std::string& room, const std::string& secret, bool on) override {
    return request(
        {{"request", "enable_recording"}, {"room", room}, {"secret", secret}, {"record", on}},
        "success");
  }

  std::string recording_dir(const std::string& room) const override {
    return c_.recordings_dir.empty() ? std::string() : c_.recordings_dir + "/" + room;
  }

  Result<void> allow(const std::string& room, const std::string& secret,
                     const std::vector<std::string>& tokens, bool add) override {
    boost::json::array list;
    for (const auto& t : tokens) list.emplace_back(t);
    return request({{"request", "allowed"},
                    {"room", room},
                    {"secret", secret},
                    {"action", add ? "add" : "remove"},
                    {"allowed", std::move(list)}},
                   "success");
  }

  Result<void> kick(const std::string& room, const std::string& secret,
                    const std::string& feed) override {
    auto r =
        request({{"request", "kick"}, {"room", room}, {"secret", secret}, {"id", feed}}, "success");
    // Not in the room (never joined, or gone already): nothing to kick.
    if (!r && r.error().message.find("(error 428)") != std::string::npos) return ok();
    return r;
  }

  Result<void> destroy_room(const std::string& room, const std::string& secret) override {
    auto r = request({{"request", "destroy"}, {"room", room}, {"secret", secret}}, "destroyed");
    if (!r && r.error().message.find("(error 426)") != std::string::npos) return ok();  // gone
    return r;
  }

  // The moderate request names a stream by its mid, which only the publisher's SDP decides and
  // which Janus tells only to participants: Parley joins the room for a moment (a one-time
  // token, not publishing, so nobody is told) and reads the feed's streams from "joined".
  Result<void> mute(const std::string& room, const std::string& secret, const std::string& feed,
                    bool muted) override {
    const std::string token = hex_encode(random_bytes(16));
    if (auto r = allow(room, secret, {token}, true); !r) return r;
    auto result = [&]() -> Result<void> {
      Session s(*this);
      if (auto e = s.failed()) return fail(*e);
      auto joined = s.ask_async({{"request", "join"},
                                 {"ptype", "publisher"},
                                 {"room", room},
                                 {"token", token},
                                 {"display", "parley moderation"}},
                                "joined");
      if (!joined) return fail(joined.error());
      std::vector<std::string> mids;
      if (const auto* list = joined->if_contains("publishers"); list && list->is_array())
        for (const auto& p : list->get_array()) {
          const auto* id = p.is_object() ? p.get_object().if_contains("id") : nullptr;
          if (!id || !id->is_string() || id->get_string() != feed) continue;
          const auto* streams = p.get_object().if_contains("streams");
          if (!streams || !streams->is_array()) continue;
          for (const auto& st : streams->get_array()) {
            if (!st.is_object()) continue;
            const auto& o = st.get_object();
            const auto* type = o.if_contains("type");
            const auto* mid = o.if_contains("mid");
            if (type && type->is_string() && type->get_string() == "audio" && mid &&
                mid->is_string())
              mids.emplace_back(mid->get_string());
          }
        }
      if (mids.empty())
        return fail(Errc::failed_precondition, "janus: the feed publishes no audio yet");
      for (const auto& mid : mids) {
        auto r = s.ask({{"request", "moderate"},
                        {"room", room},
                        {"secret", secret},
                        {"id", feed},
                        {"mid", mid},
                        {"mute", muted}},
                       "success");
        if (!r) return fail(r.error());
      }
      return ok();
    }();
    (void)allow(room, secret, {token}, false);
    return result;
  }

  std::string public_url() const override { return c_.public_url.empty() ? c_.url : c_.public_url; }

 private:
  // POSTs body to url (GETs url without one: a long poll for events); the answer as JSON.
  Result<boost::json::value> call(const std::string& url, const boost::json::object* body) {
    CURL* h = curl_easy_init();
    if (!h) return fail(Errc::internal, "curl_easy_init failed");
    std::string payload = body ? json::serialize(*body) : std::string();
    std::string answer;
    curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(c_.timeout.count()));
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(c_.timeout.count()));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    if (body) {
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload.c_str());
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(payload.size()));
    }
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &answer);
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(h);
    if (rc != CURLE_OK)
      return fail(Errc::unavailable, std::string("janus: ") + curl_easy_strerror(rc));
    if (status != 200) return fail(Errc::unavailable, "janus: HTTP " + std::to_string(status));
    boost::system::error_code ec;
    auto parsed = boost::json::parse(answer, ec);
    if (ec) return fail(Errc::internal, "janus: an answer that is not JSON");
    return parsed;
  }

  Result<boost::json::object> post(const std::string& url, const boost::json::object& body) {
    auto v = call(url, &body);
    if (!v) return fail(v.error());
    if (!v->is_object()) return fail(Errc::internal, "janus: an answer that is not an object");
    return std::move(v->get_object());
  }

  static std::string transaction() { return hex_encode(random_bytes(8)); }

  // The "data.id" of a success answer (a session or handle id).
  static Result<std::uint64_t> id_of(const boost::json::object& o) {
    const auto* data = o.if_contains("data");
    const auto* janus = o.if_contains("janus");
    if (!janus || !janus->is_string() || janus->get_string() != "success" || !data ||
        !data->is_object())
      return fail(Errc::unavailable, "janus refused: " + json::serialize(o).substr(0, 200));
    const auto* id = data->get_object().if_contains("id");
    if (!id || !(id->is_uint64() || id->is_int64()))
      return fail(Errc::internal, "janus: no id in the answer");
    return id->is_uint64() ? id->get_uint64() : static_cast<std::uint64_t>(id->get_int64());
  }

  // A Janus session with the VideoRoom plugin attached, destroyed with the object.
  class Session {
   public:
    explicit Session(JanusSfu& j) : j_(j) {
      auto session = j_.post(j_.c_.url, {{"janus", "create"}, {"transaction", transaction()}});
      if (!session) {
        error_ = session.error();
        return;
      }
      auto sid = id_of(*session);
      if (!sid) {
        error_ = sid.error();
        return;
      }
      base_ = j_.c_.url + "/" + std::to_string(*sid);
      auto attached = j_.post(base_, {{"janus", "attach"},
                                      {"plugin", "janus.plugin.videoroom"},
                                      {"transaction", transaction()}});
      auto hid = attached ? id_of(*attached) : Result<std::uint64_t>(fail(attached.error()));
      if (!hid) {
        error_ = hid.error();
        return;
      }
      handle_ = base_ + "/" + std::to_string(*hid);
    }
    ~Session() {
      if (!base_.empty()) (void)j_.post(base_, {{"janus", "destroy"}, {"transaction", transaction()}});
    }
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    // The attach's failure, if any.
    std::optional<Error> failed() const { return handle_.empty() ? std::optional(error_) : std::nullopt; }

    // One synchronous request; the plugin's answer when it says `expect`.
    Result<boost::json::object> ask(const boost::json::object& body, std::string_view expect) {
      auto answer = j_.post(handle_, {{"janus", "message"}, {"transaction", transaction()}, {"body", body}});
      if (!answer) return fail(answer.error());
      return plugin_answer(*answer, expect);
    }

    // An asynchronous request (join): acknowledged at once, answered by an event on the
    // session, which a long poll fetches.
    Result<boost::json::object> ask_async(const boost::json::object& body, std::string_view expect) {
      auto ack = j_.post(handle_, {{"janus", "message"}, {"transaction", transaction()}, {"body", body}});
      if (!ack) return fail(ack.error());
      const auto* kind = ack->if_contains("janus");
      if (!kind || !kind->is_string() || kind->get_string() != "ack") return plugin_answer(*ack, expect);
      for (int polls = 0; polls < 3; ++polls) {
        auto events = j_.call(base_ + "?maxev=5", nullptr);
        if (!events) return fail(events.error());
        boost::json::array list;
        if (events->is_array())
          list = events->get_array();
        else
          list.push_back(*events);
        for (const auto& e : list)
          if (e.is_object() && e.get_object().contains("plugindata"))
            return plugin_answer(e.get_object(), expect);
      }
      return fail(Errc::unavailable, "janus: no answer to " + std::string(expect));
    }

   private:
    static Result<boost::json::object> plugin_answer(const boost::json::object& answer,
                                                     std::string_view expect) {
      const auto* pd = answer.if_contains("plugindata");
      const auto* data = pd && pd->is_object() ? pd->get_object().if_contains("data") : nullptr;
      if (!data || !data->is_object()) return fail(Errc::unavailable, "janus: no plugin answer");
      const auto& d = data->get_object();
      if (const auto* code = d.if_contains("error_code")) {
        const auto* err = d.if_contains("error");
        return fail(Errc::unavailable,
                    "janus: " + std::string(err && err->is_string() ? err->get_string() : "") +
                        " (error " + json::serialize(*code) + ")");
      }
      const auto* what = d.if_contains("videoroom");
      if (!what || !what->is_string() || what->get_string() != expect)
        return fail(Errc::internal,
                    "janus: unexpected answer " + json::serialize(d).substr(0, 200));
      return d;
    }

    JanusSfu& j_;
    std::string base_, handle_;
    Error error_{Errc::unavailable, "janus: no session", {}, 0};
  };

  // One VideoRoom request on a session of its own; ok when the plugin answers with `expect`.
  Result<void> request(const boost::json::object& body, std::string_view expect) {
    Session s(*this);
    if (auto e = s.failed()) return fail(*e);
    auto r = s.ask(body, expect);
    if (!r) return fail(r.error());
    return ok();
  }

  JanusConfig c_;
};

}  // namespace

Result<std::unique_ptr<calls::Sfu>> make_janus_sfu(JanusConfig config) {
  if (config.url.rfind("http://", 0) != 0 && config.url.rfind("https://", 0) != 0)
    return fail(Errc::invalid_argument, "janus_url: expected http://HOST:PORT/janus");
  if (config.admin_key.empty())
    return fail(Errc::invalid_argument,
                "janus_url needs --janus-admin-key (the VideoRoom's admin_key)");
  while (!config.url.empty() && config.url.back() == '/') config.url.pop_back();
  return std::unique_ptr<calls::Sfu>(std::make_unique<JanusSfu>(std::move(config)));
}

}  // namespace parley::janus
