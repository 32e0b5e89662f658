// The ai module with its real engines: the VADER rules, smart replies, the summariser, Markdown
// protection, the gateway (pool, quotas, time limit, cache), Apertium and CLD2 as installed, and
// the OpenAI-compatible engine against a loopback stand-in server.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "adapters/apertium/apertium_translator.h"
#include "adapters/cld2/cld2_detector.h"
#include "adapters/curl/curl_fetcher.h"
#include "modules/ai/gateway.h"
#include "modules/ai/openai_engine.h"
#include "modules/ai/replies.h"
#include "modules/ai/sentiment.h"
#include "modules/ai/text.h"
#include "test_server.h"

namespace parley::ai {
namespace {

using namespace std::chrono_literals;

Deadline in(std::chrono::milliseconds ms) { return std::chrono::steady_clock::now() + ms; }

// ---- sentiment: the reference sentences of the VADER paper and README ----

double compound(const std::string& s) { return VaderScorer().score(s).compound; }

TEST(Sentiment, ReferenceSentencesHaveTheRightSign) {
  EXPECT_GT(compound("VADER is smart, handsome, and funny."), 0.3);
  EXPECT_GT(compound("The book was good."), 0.2);
  EXPECT_LT(compound("The book was terrible and the ending was awful."), -0.3);
  EXPECT_LT(compound("Today was a horrible, sad day."), -0.3);
  EXPECT_EQ(compound("The meeting is at noon in room four."), 0.0);
}

TEST(Sentiment, NegationFlipsTheSign) {
  EXPECT_LT(compound("VADER is not smart, handsome, nor funny."), 0);
  EXPECT_LT(compound("The food was not good."), 0);
  EXPECT_GT(compound("At least it isn't a horrible book."), 0);
  EXPECT_GT(compound("Not bad at all"), 0);
}

TEST(Sentiment, IntensifiersCapitalsAndExclamationsStrengthen) {
  const double plain = compound("VADER is smart, handsome, and funny.");
  const double very = compound("VADER is very smart, handsome, and funny.");
  const double shout = compound("VADER is VERY SMART, handsome, and FUNNY!!!");
  EXPECT_GT(very, plain);
  EXPECT_GT(shout, very);
  EXPECT_LT(compound("The book was kind of good."), compound("The book was good."));
  EXPECT_GT(compound("The book was good!!!"), compound("The book was good."));
}

TEST(Sentiment, ButShiftsTheWeightToWhatFollows) {
  EXPECT_LT(compound("The plot was good, but the characters are uncompelling and the dialog is "
                     "not great."),
            0);
  EXPECT_GT(compound("The start was bad, but the ending was great and I loved it."), 0);
}

TEST(Sentiment, EmojiAndEmoticonsCount) {
  EXPECT_GT(compound("Release is out \xF0\x9F\x8E\x89\xF0\x9F\x8E\x89"), 0);  // party poppers
  EXPECT_GT(compound("see you there \xF0\x9F\x98\x8D"), 0);                    // heart eyes
  EXPECT_LT(compound("the build broke again \xF0\x9F\x98\xA1"), 0);            // pouting face
  EXPECT_LT(compound("\xF0\x9F\x98\xA2"), 0);                                  // crying face
  EXPECT_GT(compound("Make sure you :) or :D today!"), 0);
  EXPECT_LT(compound("that went badly :("), 0);
}

TEST(Sentiment, ProportionsSumToOneAndCompoundStaysInRange) {
  for (const std::string s :
       {"", "ok", "GREAT GREAT GREAT GREAT!!!!!!", "awful terrible horrible worst hate",
        "not not not good"}) {
    auto r = VaderScorer().score(s);
    EXPECT_GE(r.compound, -1.0);
    EXPECT_LE(r.compound, 1.0);
    EXPECT_NEAR(r.pos + r.neu + r.neg, 1.0, 1e-9) << s;
  }
  EXPECT_GT(lexicon_size(), 300u);
}

// ---- Markdown, mentions, code and links survive translation ----

TEST(Protect, EverySpanAPlaceholderAndBackAgain) {
  const std::string text =
      "Hi @alice.b, run `make build` and see [the docs](https://x.test/a?b=1) or "
      "https://example.com/page. Mail bob@example.com :tada: #general\n```\ncode here\n```";
  auto p = protect(text);
  EXPECT_EQ(p.text.find("@alice"), std::string::npos);
  EXPECT_EQ(p.text.find("make build"), std::string::npos);
  EXPECT_EQ(p.text.find("https://"), std::string::npos);
  EXPECT_EQ(p.text.find("code here"), std::string::npos);
  EXPECT_EQ(p.text.find("bob@"), std::string::npos);
  EXPECT_EQ(p.spans.size(), 8u);
  EXPECT_EQ(restore(p.text, p.spans), text);
  // A sentence end after a URL is not part of it.
  EXPECT_EQ(p.spans[3], "https://example.com/page");
}

TEST(Protect, LostPlaceholdersAreAppendedAndCaseIsForgiven) {
  auto p = protect("Ask @bob about `x`");
  EXPECT_EQ(restore("Pregunta xq0x sobre", p.spans), "Pregunta @bob sobre `x`");
}

// ---- summariser ----

TEST(Summarize, FiftyMessagesBecomeAtMostFiveSentencesTakenFromThem) {
  std::vector<std::string> msgs;
  const char* topics[] = {"The release of version two moves to Friday because the database "
                          "migration is not ready.",
                          "Anna is fixing the database migration today.",
                          "Lunch was nice.",
                          "The release notes need a section on the new database migration.",
                          "Who has the key for the office?"};
  for (int i = 0; i < 50; ++i)
    msgs.push_back(std::string(topics[i % 5]) + " Note " + std::to_string(i) + " about the "
                   "release.");
  auto out = summarize(msgs, 5);
  ASSERT_FALSE(out.empty());
  EXPECT_LE(out.size(), 5u);
  for (const auto& s : out) {
    bool found = false;
    for (const auto& m : msgs) found = found || m.find(s) != std::string::npos;
    EXPECT_TRUE(found) << s;
  }
  // The recurring topic is in it.
  bool release = false;
  for (const auto& s : out) release = release || s.find("release") != std::string::npos;
  EXPECT_TRUE(release);
}

// ---- smart replies ----

TEST(SmartReplies, IntentsOfQuestionsThanksAndMeetings) {
  EXPECT_EQ(classify_intent("Can we meet tomorrow at 3pm to go over the plan?"), "meeting");
  EXPECT_EQ(classify_intent("Are you free for a quick call at 4?"), "meeting");
  EXPECT_EQ(classify_intent("Thanks a lot for the help!"), "thanks");
  EXPECT_EQ(classify_intent("Where is the design doc?"), "question");
  EXPECT_EQ(classify_intent("Is the build green?"), "yes_no_question");
  EXPECT_EQ(classify_intent("Hello there"), "greeting");
  EXPECT_EQ(classify_intent("Sorry, I missed that"), "apology");
  EXPECT_EQ(classify_intent("We shipped the new release!"), "good_news");
}

std::vector<std::string> suggest(OnPremReplies& r, const std::string& text) {
  return r.suggest({{{text, false}}}, 3, in(1s)).value();
}

TEST(SmartReplies, SuggestionsMatchTheIntent) {
  OnPremReplies r;
  auto thanks = suggest(r, "Thanks a lot for the help!");
  ASSERT_EQ(thanks.size(), 3u);
  EXPECT_EQ(thanks[0], "You're welcome!");
  auto meeting = suggest(r, "Can we meet tomorrow at 3pm?");
  ASSERT_FALSE(meeting.empty());
  EXPECT_EQ(meeting[0], "Sounds good, see you then.");
  auto question = suggest(r, "Where is the design doc?");
  ASSERT_FALSE(question.empty());
  EXPECT_EQ(question[0], "Let me check and get back to you.");
  for (const auto& s : thanks) EXPECT_LE(s.size(), 60u);
}

TEST(SmartReplies, LearnedRepliesRankedAndOffensiveOnesNeverSuggested) {
  OnPremReplies r;
  r.set_learned({{"where is the design doc", "In the shared drive", 5},
                 {"where is the design doc", "you idiot", 9},
                 {"lunch today", "Pizza!", 4}});
  auto got = suggest(r, "Where's the design doc?");
  EXPECT_NE(std::find(got.begin(), got.end(), "In the shared drive"), got.end());
  for (const auto& s : got) EXPECT_FALSE(is_offensive(s)) << s;
  EXPECT_EQ(std::find(got.begin(), got.end(), "you idiot"), got.end());
  EXPECT_TRUE(is_offensive("shut up, moron"));
  EXPECT_FALSE(is_offensive("Sounds good"));
  EXPECT_TRUE(learnable_reply("Sounds good"));
  EXPECT_FALSE(learnable_reply("see https://x.test"));
  EXPECT_FALSE(learnable_reply("call me at 555 1234"));
  EXPECT_FALSE(learnable_reply("@bob said hi"));
}

// ---- the gateway: quotas, the time limit, the cache ----

// A translator that counts its calls and can be made slow: the gateway's behaviour, not the
// engine's, is under test here.
class CountingTranslator final : public Translator {
 public:
  std::string name() const override { return "counting"; }
  std::vector<LanguagePair> pairs() const override { return {{"en", "es"}}; }
  Result<std::string> translate(const std::string& text, const LanguagePair&,
                                Deadline) override {
    ++calls;
    if (delay.count()) std::this_thread::sleep_for(delay);
    return "es:" + text;
  }
  std::atomic<int> calls{0};
  std::chrono::milliseconds delay{0};
};

TEST(Gateway, CachesByContentAndCountsQuotasPerUser) {
  FakeClock clock;
  auto limiter = ratelimit::make_in_memory_rate_limiter(clock);
  CountingTranslator t;
  GatewayOptions o;
  o.per_user = {3, 60'000};
  AiGateway g({&t}, *limiter, o);
  EXPECT_EQ(g.translate("u1", "hello", {"en", "es"}).value(), "es:hello");
  EXPECT_EQ(g.translate("u1", "hello", {"en", "es"}).value(), "es:hello");
  EXPECT_EQ(t.calls, 1);  // the second came from the cache, without a quota token
  EXPECT_TRUE(g.translate("u1", "a", {"en", "es"}));
  EXPECT_TRUE(g.translate("u1", "b", {"en", "es"}));
  auto over = g.translate("u1", "c", {"en", "es"});
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code, Errc::resource_exhausted);
  EXPECT_GE(over.error().retry_after_s, 1);
  EXPECT_TRUE(g.translate("u2", "c", {"en", "es"}));  // another user's quota
}

TEST(Gateway, ServerQuotaAppliesAcrossUsers) {
  FakeClock clock;
  auto limiter = ratelimit::make_in_memory_rate_limiter(clock);
  CountingTranslator t;
  GatewayOptions o;
  o.per_server = {2, 60'000};
  AiGateway g({&t}, *limiter, o);
  EXPECT_TRUE(g.translate("a", "1", {"en", "es"}));
  EXPECT_TRUE(g.translate("b", "2", {"en", "es"}));
  auto r = g.translate("c", "3", {"en", "es"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::resource_exhausted);
}

TEST(Gateway, AJobPastTheTimeLimitAnswersUnavailable) {
  FakeClock clock;
  auto limiter = ratelimit::make_in_memory_rate_limiter(clock);
  CountingTranslator t;
  t.delay = 1500ms;
  GatewayOptions o;
  o.timeout = 100ms;
  AiGateway g({&t}, *limiter, o);
  auto r = g.translate("u", "slow", {"en", "es"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::unavailable);
  EXPECT_NE(r.error().message.find("too long"), std::string::npos);
}

TEST(Gateway, NoEngineIsUnavailable) {
  FakeClock clock;
  auto limiter = ratelimit::make_in_memory_rate_limiter(clock);
  AiGateway g({}, *limiter);
  EXPECT_EQ(g.translate("u", "x", {"en", "es"}).error().code, Errc::unavailable);
  EXPECT_EQ(g.complete("u", {{"user", "hi"}}).error().code, Errc::unavailable);
}

// ---- Apertium and CLD2, as installed ----

bool has_pair(const Translator& t, const std::string& code) {
  for (const auto& p : t.pairs())
    if (p.code() == code) return true;
  return false;
}

TEST(Apertium, EnglishToSpanishKeepsMentionsAndCode) {
  auto t = apertium::make_apertium_translator();
  if (!has_pair(*t, "en-es")) GTEST_SKIP() << "apertium-en-es is not installed";
  const std::string text =
      "Hello @alice, the meeting is tomorrow. Run `make build` first and read the big house "
      "report.";
  auto p = protect(text);
  auto r = t->translate(p.text, {"en", "es"}, in(20s));
  ASSERT_TRUE(r) << r.error().message;
  auto out = restore(*r, p.spans);
  std::printf("en-es: %s\n", out.c_str());
  EXPECT_NE(out.find("Hola"), std::string::npos) << out;
  EXPECT_NE(out.find("reuni\xC3\xB3n"), std::string::npos) << out;  // reunión
  EXPECT_NE(out.find("ma\xC3\xB1\x61na"), std::string::npos) << out;  // mañana
  EXPECT_NE(out.find("@alice"), std::string::npos) << out;
  EXPECT_NE(out.find("`make build`"), std::string::npos) << out;
}

TEST(Apertium, PairsAreListedAndAMissingOneIsRefused) {
  auto t = apertium::make_apertium_translator();
  if (t->pairs().empty()) GTEST_SKIP() << "no Apertium pairs installed";
  for (const auto& p : t->pairs()) {
    EXPECT_EQ(p.from.size(), 2u);
    EXPECT_EQ(p.to.size(), 2u);
  }
  auto r = t->translate("hello", {"en", "ja"}, in(5s));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  EXPECT_EQ(r.error().field, "to");
}

TEST(Apertium, AMissingProgramIsUnavailable) {
  auto t = apertium::make_apertium_translator({"/usr/share/apertium/modes", "/nonexistent/apt"});
  if (!has_pair(*t, "en-es")) GTEST_SKIP() << "apertium-en-es is not installed";
  auto r = t->translate("hello", {"en", "es"}, in(5s));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::unavailable);
}

TEST(Cld2, TwentyShortTextsInFiveLanguages) {
  auto d = cld2::make_cld2_detector();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"en", "The meeting has been moved to Thursday afternoon."},
      {"en", "Could you please send me the report before lunch?"},
      {"en", "I think we should deploy the new version tonight."},
      {"en", "Thanks everyone for the great work this week."},
      {"es", "La reuni\xC3\xB3n se ha movido al jueves por la tarde."},
      {"es", "\xC2\xBFPuedes enviarme el informe antes de comer?"},
      {"es", "Creo que deber\xC3\xAD\x61mos publicar la nueva versi\xC3\xB3n esta noche."},
      {"es", "Gracias a todos por el gran trabajo de esta semana."},
      {"fr", "La r\xC3\xA9union a \xC3\xA9t\xC3\xA9 d\xC3\xA9plac\xC3\xA9\x65 \xC3\xA0 jeudi "
             "apr\xC3\xA8s-midi."},
      {"fr", "Pourriez-vous m'envoyer le rapport avant le d\xC3\xA9jeuner ?"},
      {"fr", "Je pense que nous devrions d\xC3\xA9ployer la nouvelle version ce soir."},
      {"fr", "Merci \xC3\xA0 tous pour le super travail de cette semaine."},
      {"de", "Das Treffen wurde auf Donnerstagnachmittag verschoben."},
      {"de", "K\xC3\xB6nnten Sie mir bitte den Bericht vor dem Mittagessen schicken?"},
      {"de", "Ich denke, wir sollten die neue Version heute Abend ausrollen."},
      {"de", "Danke an alle f\xC3\xBCr die tolle Arbeit diese Woche."},
      {"pt", "A reuni\xC3\xA3o foi transferida para quinta-feira \xC3\xA0 tarde."},
      {"pt", "Voc\xC3\xAA pode me enviar o relat\xC3\xB3rio antes do almo\xC3\xA7o?"},
      {"pt", "Acho que dever\xC3\xAD\x61mos lan\xC3\xA7\x61r a nova vers\xC3\xA3o hoje \xC3\xA0 "
             "noite."},
      {"pt", "Obrigado a todos pelo \xC3\xB3timo trabalho desta semana."},
  };
  int right = 0;
  for (const auto& [lang, text] : cases) {
    auto got = d->detect(text);
    if (got.language == lang)
      ++right;
    else
      std::printf("cld2 missed: %s -> %s (%s)\n", lang.c_str(), got.language.c_str(),
                  text.c_str());
  }
  std::printf("cld2 accuracy: %d/%zu = %.0f%%\n", right, cases.size(),
              100.0 * right / static_cast<double>(cases.size()));
  EXPECT_GE(right, 18);
}

// ---- the OpenAI-compatible engine against a loopback stand-in ----

std::string completion(const std::string& content) {
  boost::json::object o{
      {"id", "x"},
      {"object", "chat.completion"},
      {"choices",
       boost::json::array{{{"index", 0},
                           {"message", {{"role", "assistant"}, {"content", content}}},
                           {"finish_reason", "stop"}}}}};
  return boost::json::serialize(o);
}

std::unique_ptr<outbound::HttpFetcher> loopback_fetcher() {
  auto policy = outbound::AddressPolicy::parse({"127.0.0.1/32"});
  return curl::make_curl_fetcher({*policy, {}});
}

TEST(OpenAiEngine, ChatCompletionAgainstALoopbackStandIn) {
  curl::testing::TestHttpServer server([](const curl::testing::TestRequest& r) {
    if (r.method != "POST" || r.target != "/v1/chat/completions")
      return curl::testing::http_response(404, "application/json", "{}");
    return curl::testing::http_response(200, "application/json", completion("Hi from the model"));
  });
  auto fetcher = loopback_fetcher();
  OpenAiEngine e(*fetcher, {"http://127.0.0.1:" + std::to_string(server.port()) + "/", "tiny",
                            "sk-test"});
  auto r = e.complete({{"system", "be brief"}, {"user", "hello"}}, in(5s));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, "Hi from the model");
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].header("authorization"), "Bearer sk-test");
  auto body = boost::json::parse(reqs[0].body).as_object();
  EXPECT_EQ(body["model"].as_string(), "tiny");
  EXPECT_EQ(body["messages"].as_array().size(), 2u);
  EXPECT_EQ(body["messages"].as_array()[1].as_object().at("content").as_string(), "hello");
}

TEST(OpenAiEngine, TranslationAndRepliesThroughTheStandIn) {
  curl::testing::TestHttpServer server([](const curl::testing::TestRequest& r) {
    if (r.body.find("Translate") != std::string::npos)
      return curl::testing::http_response(200, "application/json", completion("Hola XQ0X"));
    return curl::testing::http_response(
        200, "application/json", completion("1. Sounds good\n2. See you then\n- you idiot\n"));
  });
  auto fetcher = loopback_fetcher();
  OpenAiEngine e(*fetcher,
                 {"http://127.0.0.1:" + std::to_string(server.port()), "tiny", ""});
  auto p = protect("Hello @bob");
  auto t = e.translate(p.text, {"en", "es"}, in(5s));
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(restore(*t, p.spans), "Hola @bob");
  auto replies = e.suggest({{{"Can we meet at 3?", false}}}, 3, in(5s));
  ASSERT_TRUE(replies);
  EXPECT_EQ(*replies, (std::vector<std::string>{"Sounds good", "See you then"}));
  EXPECT_FALSE(server.requests()[0].has_header("authorization"));  // no key: none sent
}

TEST(OpenAiEngine, ErrorsAndRefusedAddressesAreUnavailable) {
  curl::testing::TestHttpServer server([](const curl::testing::TestRequest&) {
    return curl::testing::http_response(500, "application/json", "{\"error\":\"boom\"}");
  });
  auto fetcher = loopback_fetcher();
  OpenAiEngine e(*fetcher, {"http://127.0.0.1:" + std::to_string(server.port()), "m", ""});
  EXPECT_EQ(e.complete({{"user", "x"}}, in(5s)).error().code, Errc::unavailable);
  // Without --outbound-allow the SSRF policy refuses loopback: nothing is sent.
  auto strict = curl::make_curl_fetcher({});
  OpenAiEngine refused(*strict, {"http://127.0.0.1:" + std::to_string(server.port()), "m", ""});
  EXPECT_EQ(refused.complete({{"user", "x"}}, in(5s)).error().code, Errc::unavailable);
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(OpenAiEngine, ThroughTheGatewayWithAQuotaAndCache) {
  curl::testing::TestHttpServer server([](const curl::testing::TestRequest&) {
    return curl::testing::http_response(200, "application/json", completion("answer"));
  });
  auto fetcher = loopback_fetcher();
  OpenAiEngine e(*fetcher, {"http://127.0.0.1:" + std::to_string(server.port()), "m", ""});
  FakeClock clock;
  auto limiter = ratelimit::make_in_memory_rate_limiter(clock);
  EngineSet set;
  set.chat = &e;
  AiGateway g(set, *limiter);
  EXPECT_EQ(g.complete("u", {{"user", "same"}}).value(), "answer");
  EXPECT_EQ(g.complete("u", {{"user", "same"}}).value(), "answer");
  EXPECT_EQ(server.requests().size(), 1u);  // the second came from the cache
}

}  // namespace
}  // namespace parley::ai
