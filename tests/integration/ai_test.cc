// AI on the premises against the real server (API-EXTENSIONS.md "AI"): capabilities,
// translation with Apertium and CLD2, the user's language, smart replies, sentiment, quotas,
// the assistant bot (summaries, refusals, reminders, search), and the OpenAI-compatible engine
// against a loopback stand-in: used when configured, and never reached when it is not.
#include <cstdlib>
#include <set>
#include <thread>

#include "chat_support.h"
#include "test_server.h"

namespace parley::itest {
namespace {

using namespace chat;
using namespace std::chrono_literals;

class AiTest : public SharedServerTest {};

std::string assistant_id(Api& api, const Account& who) {
  auto r = api.get("/api/v1/ai/capabilities", who.access);
  if (r.status != 200) fail_reply("capabilities", r);
  return str(*field(r.json, "assistant"), "user_id");
}

// The first message from `sender` in conv after seq `after`, waiting up to `timeout`.
std::optional<object> wait_for_message_from(Api& api, const Account& who, const std::string& conv,
                                            const std::string& sender, std::int64_t after,
                                            std::chrono::milliseconds timeout = 30s) {
  const auto until = Clock::now() + timeout;
  while (Clock::now() < until) {
    auto r = history(api, who, conv, "after_seq=" + std::to_string(after) + "&limit=200");
    if (r.status == 200)
      for (auto& m : arr(r.json, "messages"))
        if (str(m, "sender_id") == sender) return m.as_object();
    std::this_thread::sleep_for(100ms);
  }
  return std::nullopt;
}

std::int64_t last_seq(Api& api, const Account& who, const std::string& conv) {
  auto r = get_conv(api, who, conv);
  if (r.status != 200) fail_reply("conversation", r);
  return num(r.json, "last_seq");
}

TEST_F(AiTest, CapabilitiesListInstalledPairsAndTheAssistant) {
  auto api = this->api();
  auto a = register_account(api, "aicap");
  auto r = api.get("/api/v1/ai/capabilities", a.access);
  ASSERT_EQ(r.status, 200) << r;
  auto pairs = arr(*field(r.json, "translate"), "pairs");
  std::set<std::string> have;
  for (auto& p : pairs) have.insert(std::string(p.as_string()));
  EXPECT_TRUE(have.count("en-es")) << r;
  EXPECT_TRUE(have.count("es-en")) << r;
  // PocketSphinx's en-us model where it is installed (voice_test.cc checks transcription).
  EXPECT_LE(arr(*field(r.json, "transcribe"), "languages").size(), 1u);
  EXPECT_TRUE(flag(r.json, "smart_replies"));
  EXPECT_TRUE(flag(r.json, "sentiment"));
  EXPECT_FALSE(assistant_id(api, a).empty());
  EXPECT_TRUE(arr(r.json, "external_engines").empty()) << "nothing leaves by default: " << r;
  EXPECT_EQ(api.get("/api/v1/ai/capabilities").status, 401);
}

TEST_F(AiTest, TranslateAMessageKeepingMentionsAndCode) {
  auto api = this->api();
  auto a = register_account(api, "aitr");
  auto b = register_account(api, "aitr");
  auto outsider = register_account(api, "aitr");
  auto conv = make_channel(api, a, channel_name("aitr"), "private");
  add_members(api, a, conv, {b.id});
  auto m = send_ok(api, a, conv,
                   "Hello @" + b.username +
                       ", the meeting is tomorrow. Run `make build` first and read the report.");
  const std::string path = msg_path(str(m, "id")) + "/translate";

  auto r = api.post(path, object{{"to", "es"}}, b.access);
  ASSERT_EQ(r.status, 200) << r;
  const auto text = r.str("text");
  EXPECT_NE(text.find("reuni\xC3\xB3n"), std::string::npos) << text;
  EXPECT_NE(text.find("ma\xC3\xB1\x61na"), std::string::npos) << text;
  EXPECT_NE(text.find("@" + b.username), std::string::npos) << text;
  EXPECT_NE(text.find("`make build`"), std::string::npos) << text;
  EXPECT_EQ(r.str("from"), "en");
  EXPECT_EQ(r.str("to"), "es");
  EXPECT_EQ(r.str("engine"), "apertium");

  // Someone who cannot see the message gets the same 404 as for an unknown id.
  auto hidden = api.post(path, object{{"to", "es"}}, outsider.access);
  auto unknown = api.post(msg_path(kUnknownId) + "/translate", object{{"to", "es"}}, b.access);
  EXPECT_EQ(hidden.status, 404) << hidden;
  EXPECT_EQ(unknown.status, 404) << unknown;
  EXPECT_EQ(hidden.body_without_request_id(), unknown.body_without_request_id());

  auto ja = api.post(path, object{{"to", "ja"}}, b.access);
  EXPECT_EQ(ja.status, 422) << ja;
  EXPECT_EQ(ja.error_code(), "unsupported_language") << ja;
  EXPECT_EQ(api.post(path, object{{"to", 5}}, b.access).status, 400);
  EXPECT_EQ(api.post(path, std::string_view("{"), b.access).status, 400);
  EXPECT_EQ(api.post(path, object{{"to", "es"}}).status, 401);
}

TEST_F(AiTest, TheUsersLanguageIsTheDefaultTarget) {
  auto api = this->api();
  auto a = register_account(api, "ailang");
  auto conv = make_channel(api, a, channel_name("ailang"), "private");
  auto m = send_ok(api, a, conv, "The house is big and the cat is black.");

  auto bad = api.patch("/api/v1/users/me", object{{"language", "xx"}}, a.access);
  EXPECT_EQ(bad.status, 422) << bad;
  EXPECT_EQ(bad.error_field(), "language") << bad;
  auto set = api.patch("/api/v1/users/me", object{{"language", "es"}}, a.access);
  ASSERT_EQ(set.status, 200) << set;
  EXPECT_EQ(set.str("language"), "es");
  EXPECT_EQ(api.get("/api/v1/users/me", a.access).str("language"), "es");

  auto r = api.post(msg_path(str(m, "id")) + "/translate", std::string_view("{}"), a.access);
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(r.str("to"), "es");
  EXPECT_NE(r.str("text").find("casa"), std::string::npos) << r;

  // French to English through the installed pairs (fr-es, then es-en).
  auto fr = send_ok(api, a, conv, "La maison est grande et le chat est noir.");
  auto en = api.post(msg_path(str(fr, "id")) + "/translate", object{{"to", "en"}}, a.access);
  ASSERT_EQ(en.status, 200) << en;
  EXPECT_EQ(en.str("from"), "fr");
  EXPECT_NE(en.str("text").find("house"), std::string::npos) << en;

  auto cleared = api.patch("/api/v1/users/me", object{{"language", ""}}, a.access);
  ASSERT_EQ(cleared.status, 200) << cleared;
  EXPECT_TRUE(is_null_or_absent(cleared.json, "language")) << cleared;
}

TEST_F(AiTest, DetectLanguage) {
  auto api = this->api();
  auto a = register_account(api, "aidet");
  auto r = api.post("/api/v1/ai/detect-language",
                    object{{"text", "Bonjour tout le monde, comment allez-vous aujourd'hui ?"}},
                    a.access);
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(r.str("language"), "fr");
  EXPECT_GT(field(r.json, "confidence")->as_double(), 0.0);
  EXPECT_EQ(api.post("/api/v1/ai/detect-language", object{}, a.access).status, 400);
  EXPECT_EQ(api.post("/api/v1/ai/detect-language", object{{"text", ""}}, a.access).status, 422);
}

TEST_F(AiTest, SmartRepliesFitTheLatestMessageFromSomeoneElse) {
  auto api = this->api();
  auto a = register_account(api, "aisr");
  auto b = register_account(api, "aisr");
  auto outsider = register_account(api, "aisr");
  auto dm = make_dm(api, a, b.id);
  const std::string path = conv_path(dm) + "/smart-replies";

  auto empty = api.get(path, b.access);
  ASSERT_EQ(empty.status, 200) << empty;
  EXPECT_TRUE(arr(empty.json, "replies").empty());

  auto expect_first = [&](const std::string& text, const std::string& reply) {
    send_ok(api, a, dm, text);
    auto r = api.get(path, b.access);
    ASSERT_EQ(r.status, 200) << r;
    auto replies = arr(r.json, "replies");
    ASSERT_FALSE(replies.empty()) << r;
    EXPECT_LE(replies.size(), 3u);
    EXPECT_EQ(std::string(replies[0].as_string()), reply) << text << ": " << r;
  };
  expect_first("Can we meet tomorrow at 3pm?", "Sounds good, see you then.");
  expect_first("Thanks a lot for the help!", "You're welcome!");
  expect_first("Where did you put the release notes?", "Let me check and get back to you.");

  // The sender's own last message is not what gets answered: b still sees a's question.
  auto mine = api.get(path, a.access);
  ASSERT_EQ(mine.status, 200);
  EXPECT_TRUE(arr(mine.json, "replies").empty()) << mine;

  auto hidden = api.get(path, outsider.access);
  EXPECT_EQ(hidden.status, 404) << hidden;
  EXPECT_EQ(api.get(conv_path(kUnknownId) + "/smart-replies", b.access).status, 404);
}

TEST_F(AiTest, SentimentOfATextAndAdminOnlyAggregates) {
  auto api = this->api();
  // The first account on a server is its admin: make sure `a` is not (ctest runs each case
  // on a fresh shared server).
  register_account(api, "aisentfirst");
  auto a = register_account(api, "aisent");
  auto good = api.post("/api/v1/ai/sentiment", object{{"text", "This is great, I love it!"}},
                       a.access);
  ASSERT_EQ(good.status, 200) << good;
  EXPECT_GT(field(good.json, "compound")->as_double(), 0.5);
  auto bad = api.post("/api/v1/ai/sentiment", object{{"text", "This is not good at all."}},
                      a.access);
  ASSERT_EQ(bad.status, 200) << bad;
  EXPECT_LT(field(bad.json, "compound")->as_double(), 0);
  double sum = 0;
  for (const char* k : {"pos", "neu", "neg"}) sum += field(bad.json, k)->as_double();
  EXPECT_NEAR(sum, 1.0, 1e-9);
  EXPECT_EQ(api.post("/api/v1/ai/sentiment", object{{"text", 3}}, a.access).status, 400);
  EXPECT_EQ(api.post("/api/v1/ai/sentiment", object{{"text", ""}}, a.access).status, 422);
  // Not a system administrator (the shared server's first account is).
  auto agg = api.get("/api/v1/admin/analytics/sentiment?from=2026-01-01&to=2026-12-31", a.access);
  EXPECT_EQ(agg.status, 403) << agg;
}

TEST_F(AiTest, AutoTranslateIsAPerConversationChoice) {
  auto api = this->api();
  auto a = register_account(api, "aiauto");
  auto outsider = register_account(api, "aiauto");
  auto conv = make_channel(api, a, channel_name("aiauto"), "private");
  const std::string path = conv_path(conv) + "/auto-translate";
  auto r = api.get(path, a.access);
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_FALSE(flag(r.json, "enabled"));
  auto put = api.call("PUT", path, R"({"enabled": true})", a.access);
  ASSERT_EQ(put.status, 200) << put;
  EXPECT_TRUE(flag(api.get(path, a.access).json, "enabled"));
  EXPECT_EQ(api.call("PUT", path, R"({"enabled": "yes"})", a.access).status, 400);
  EXPECT_EQ(api.call("PUT", path, R"({})", a.access).status, 400);
  EXPECT_EQ(api.get(path, outsider.access).status, 404);
  EXPECT_EQ(api.call("PUT", path, R"({"enabled": true})", outsider.access).status, 404);
}

// ---- the assistant ----

TEST_F(AiTest, AssistantSummarisesFiftyUnreadMessagesInAtMostFiveOfTheirSentences) {
  auto api = this->api();
  auto a = register_account(api, "aibot");
  auto b = register_account(api, "aibot");
  const auto name = channel_name("aisum");
  auto channel = make_channel(api, b, name);
  join(api, a, channel);
  std::vector<std::string> sent;
  const char* lines[] = {
      "The release of version two moves to Friday because the migration is not ready.",
      "Anna is fixing the database migration today and will report tomorrow.",
      "Lunch was nice.",
      "The release notes need a section about the database migration.",
      "Who has the key for the office?"};
  for (int i = 0; i < 50; ++i) {
    std::string t = std::string(lines[i % 5]) + " Item " + std::to_string(i) + " is done.";
    send_ok(api, b, channel, t);
    sent.push_back(t);
  }
  const auto bot = assistant_id(api, a);
  auto dm = make_dm(api, a, bot);
  auto before = last_seq(api, a, dm);
  send_ok(api, a, dm, "summarize #" + name);
  auto answer = wait_for_message_from(api, a, dm, bot, before);
  ASSERT_TRUE(answer) << "no answer from the assistant";
  auto text = str(*answer, "text");
  EXPECT_NE(text.find("50 unread"), std::string::npos) << text;
  std::vector<std::string> bullets;
  std::size_t at = 0;
  while ((at = text.find("\n- ", at)) != std::string::npos) {
    at += 3;
    auto end = text.find('\n', at);
    bullets.push_back(text.substr(at, end == std::string::npos ? std::string::npos : end - at));
  }
  ASSERT_FALSE(bullets.empty()) << text;
  EXPECT_LE(bullets.size(), 5u) << text;
  for (const auto& s : bullets) {
    bool verbatim = false;
    for (const auto& m : sent) verbatim = verbatim || m.find(s) != std::string::npos;
    EXPECT_TRUE(verbatim) << "not taken from the messages: " << s;
  }
}

TEST_F(AiTest, AssistantRefusesAConversationTheUserCannotRead) {
  auto api = this->api();
  auto a = register_account(api, "airef");
  auto owner = register_account(api, "airef");
  const auto name = channel_name("aisecret");
  auto secret = make_channel(api, owner, name, "private");
  send_ok(api, owner, secret, "The acquisition closes on Monday; keep it quiet.");
  const auto bot = assistant_id(api, a);
  auto dm = make_dm(api, a, bot);
  for (const auto& target : {"#" + name, secret}) {
    auto before = last_seq(api, a, dm);
    send_ok(api, a, dm, "summarize " + target);
    auto answer = wait_for_message_from(api, a, dm, bot, before);
    ASSERT_TRUE(answer);
    auto text = str(*answer, "text");
    EXPECT_NE(text.find("can't find"), std::string::npos) << text;
    EXPECT_EQ(text.find("acquisition"), std::string::npos) << text;
  }
  // Search through the assistant finds only what the asker can read.
  auto before = last_seq(api, a, dm);
  send_ok(api, a, dm, "search acquisition");
  auto answer = wait_for_message_from(api, a, dm, bot, before);
  ASSERT_TRUE(answer);
  EXPECT_EQ(str(*answer, "text").find("Monday"), std::string::npos) << str(*answer, "text");
}

TEST_F(AiTest, AssistantAnswersAMentionInAChannelAndTranslates) {
  auto api = this->api();
  auto a = register_account(api, "aimen");
  auto channel = make_channel(api, a, channel_name("aimen"));
  const auto bot = assistant_id(api, a);
  auto u = api.get("/api/v1/users/" + bot, a.access);
  ASSERT_EQ(u.status, 200) << u;
  send_ok(api, a, channel, "The cat is black and the house is big.");
  auto before = last_seq(api, a, channel);
  send_ok(api, a, channel, "@" + u.str("username") + " translate es");
  auto answer = wait_for_message_from(api, a, channel, bot, before);
  ASSERT_TRUE(answer);
  EXPECT_NE(str(*answer, "text").find("gato"), std::string::npos) << str(*answer, "text");
}

TEST_F(AiTest, AssistantRemindersAreStoredAndFired) {
  auto api = this->api();
  auto a = register_account(api, "airem");
  const auto bot = assistant_id(api, a);
  auto dm = make_dm(api, a, bot);
  auto before = last_seq(api, a, dm);
  send_ok(api, a, dm, "remind me in 1 second to water the plants");
  auto ack = wait_for_message_from(api, a, dm, bot, before);
  ASSERT_TRUE(ack);
  EXPECT_NE(str(*ack, "text").find("water the plants"), std::string::npos) << str(*ack, "text");
  auto fired = wait_for_message_from(api, a, dm, bot, num(*ack, "seq"));
  ASSERT_TRUE(fired) << "the reminder never came";
  EXPECT_EQ(str(*fired, "text"), "Reminder: to water the plants");
}

TEST(AiAnalytics, AdminsSeeChannelSentimentPerDayButNeverDms) {
  ServerProcess server({"--rate-limits", kGenerousLimits});
  ASSERT_EQ(server.start(), "");
  Api api(server.port());
  auto admin = register_account(api, "aiadm");  // the first account: the server's admin
  auto b = register_account(api, "aiadm");
  auto channel = make_channel(api, b, channel_name("aimood"));
  send_ok(api, b, channel, "This is great, I love it!");
  send_ok(api, b, channel, "Awesome work, thanks!");
  send_ok(api, b, channel, "The build is broken and this is terrible.");
  auto dm = make_dm(api, b, admin.id);
  send_ok(api, b, dm, "I hate this so much.");
  const std::string path = "/api/v1/admin/analytics/sentiment?from=2000-01-01&to=2100-01-01";
  EXPECT_EQ(api.get(path, b.access).status, 403);
  EXPECT_EQ(api.get("/api/v1/admin/analytics/sentiment?from=x&to=2100-01-01", admin.access).status,
            422);
  // Scored in the background: wait for all three channel messages.
  Reply r;
  const auto until = Clock::now() + 20s;
  do {
    r = api.get(path, admin.access);
    ASSERT_EQ(r.status, 200) << r;
    auto days = arr(r.json, "days");
    if (!days.empty() && num(days[0], "messages") == 3) break;
    std::this_thread::sleep_for(100ms);
  } while (Clock::now() < until);
  auto days = arr(r.json, "days");
  ASSERT_EQ(days.size(), 1u) << "only the channel, never the DM: " << r;
  EXPECT_EQ(str(days[0], "conversation_id"), channel);
  EXPECT_EQ(num(days[0], "messages"), 3);
  EXPECT_EQ(num(days[0], "positive"), 2);
  EXPECT_EQ(num(days[0], "negative"), 1);
  EXPECT_GT(field(days[0], "sentiment")->as_double(), 0.0);
  // The assistant is a person-less account made after the first person: never the admin.
  auto bot = assistant_id(api, b);
  ASSERT_FALSE(bot.empty());
  EXPECT_NE(bot, admin.id);
  EXPECT_EQ(api.get("/api/v1/users/me", admin.access).str("role"), "admin");
}

// ---- quotas ----

TEST(AiQuota, OverTheUsersQuotaIs429) {
  ServerProcess server({"--rate-limits", kGenerousLimits, "--ai-quotas", "user=2/1m"});
  ASSERT_EQ(server.start(), "");
  Api api(server.port());
  auto a = register_account(api, "aiq");
  for (int i = 0; i < 2; ++i)
    EXPECT_EQ(api.post("/api/v1/ai/sentiment", object{{"text", "fine " + std::to_string(i)}},
                       a.access)
                  .status,
              200);
  auto r = api.post("/api/v1/ai/sentiment", object{{"text", "one more"}}, a.access);
  EXPECT_EQ(r.status, 429) << r;
  EXPECT_EQ(r.error_code(), "rate_limited");
  EXPECT_FALSE(r.header("Retry-After").empty());
  auto other = register_account(api, "aiq");
  EXPECT_EQ(api.post("/api/v1/ai/sentiment", object{{"text", "mine"}}, other.access).status, 200);
}

// ---- the OpenAI-compatible engine ----

struct StandIn {
  curl::testing::TestHttpServer server{[](const curl::testing::TestRequest& r) {
    std::string content = r.body.find("Suggest up to") != std::string::npos
                              ? "Works for me\\nSee you at three"
                              : "The model says hello";
    return curl::testing::http_response(
        200, "application/json",
        R"({"choices":[{"index":0,"message":{"role":"assistant","content":")" + content +
            R"("}}]})");
  }};
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server.port()); }
};

// Exercises every AI feature a message's text could reach an engine through.
void use_every_feature(Api& api, const Account& a, const Account& b, const std::string& bot) {
  auto dm = make_dm(api, a, b.id);
  auto m = send_ok(api, a, dm, "Can we meet tomorrow at 3pm? The house is big.");
  EXPECT_EQ(api.post(msg_path(str(m, "id")) + "/translate", object{{"to", "es"}}, b.access).status,
            200);
  EXPECT_EQ(api.get(conv_path(dm) + "/smart-replies", b.access).status, 200);
  auto bot_dm = make_dm(api, a, bot);
  for (const char* cmd : {"what is the capital of France?", "summarize"}) {
    auto before = last_seq(api, a, bot_dm);
    send_ok(api, a, bot_dm, cmd);
    EXPECT_TRUE(wait_for_message_from(api, a, bot_dm, bot, before));
  }
}

TEST(AiExternalEngine, NothingLeavesTheMachineWhenItIsNotConfigured) {
  StandIn standin;
  ::setenv("PARLEY_AI_OPENAI_KEY", "sk-never-used", 1);
  // Everything but the URL: the model, the key, and an allow-list that would let it through.
  ServerProcess server({"--rate-limits", kGenerousLimits, "--outbound-allow", "127.0.0.1/32",
                        "--ai-openai-model", "tiny", "--link-previews", "off"});
  auto started = server.start();
  ::unsetenv("PARLEY_AI_OPENAI_KEY");
  ASSERT_EQ(started, "");
  Api api(server.port());
  auto a = register_account(api, "ainone");
  auto b = register_account(api, "ainone");
  use_every_feature(api, a, b, assistant_id(api, a));
  EXPECT_EQ(standin.server.requests().size(), 0u) << "a request reached the external engine";
}

TEST(AiExternalEngine, ServesChatAndRepliesWhenTheAdministratorEnablesIt) {
  StandIn standin;
  ::setenv("PARLEY_AI_OPENAI_KEY", "sk-configured", 1);
  ServerProcess server({"--rate-limits", kGenerousLimits, "--outbound-allow", "127.0.0.1/32",
                        "--ai-openai-url", standin.url(), "--ai-openai-model", "tiny",
                        "--ai-engines", "replies=openai,chat=openai"});
  auto started = server.start();
  ::unsetenv("PARLEY_AI_OPENAI_KEY");
  ASSERT_EQ(started, "");
  Api api(server.port());
  auto a = register_account(api, "aiext");
  auto b = register_account(api, "aiext");
  auto caps = api.get("/api/v1/ai/capabilities", a.access);
  EXPECT_EQ(arr(caps.json, "external_engines").size(), 2u) << caps;

  auto dm = make_dm(api, a, b.id);
  send_ok(api, a, dm, "Can we meet at 3?");
  auto replies = api.get(conv_path(dm) + "/smart-replies", b.access);
  ASSERT_EQ(replies.status, 200) << replies;
  auto list = arr(replies.json, "replies");
  ASSERT_EQ(list.size(), 2u) << replies;
  EXPECT_EQ(std::string(list[0].as_string()), "Works for me");

  const auto bot = assistant_id(api, a);
  auto bot_dm = make_dm(api, a, bot);
  auto before = last_seq(api, a, bot_dm);
  send_ok(api, a, bot_dm, "what is the capital of France?");
  auto answer = wait_for_message_from(api, a, bot_dm, bot, before);
  ASSERT_TRUE(answer);
  EXPECT_EQ(str(*answer, "text"), "The model says hello");

  auto reqs = standin.server.requests();
  ASSERT_GE(reqs.size(), 2u);
  for (const auto& r : reqs) {
    EXPECT_EQ(r.target, "/v1/chat/completions");
    EXPECT_EQ(r.header("authorization"), "Bearer sk-configured");
  }
  // The key never appears in the server's logs.
  EXPECT_EQ(server.logs().find("sk-configured"), std::string::npos);
}

TEST(AiExternalEngine, ChoosingItWithoutAUrlIsAStartupError) {
  ServerProcess server({"--ai-engines", "chat=openai"});
  auto why = server.start();
  EXPECT_NE(why.find("ai-openai-url"), std::string::npos) << why;
}

}  // namespace
}  // namespace parley::itest
