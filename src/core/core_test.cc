#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <set>
#include <thread>
#include <vector>

#include "core/crypto.h"
#include "core/heap_trim.h"
#include "core/id.h"
#include "core/json.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/text.h"
#include "core/trace.h"
#include "core/worker_pool.h"

namespace parley {
namespace {

// ctest runs each case in a process of its own, so this is the process's first log line: before
// init(), threads racing to create the early logger once aborted the process.
TEST(Log, ThreadsLoggingAtOnceBeforeInitAllGetThrough) {
  std::atomic<bool> go{false};
  std::atomic<int> done{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 16; ++i)
    threads.emplace_back([&, i] {
      while (!go.load()) std::this_thread::yield();
      log::debug("log race", {{"thread", i}});
      ++done;
    });
  go = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(done.load(), 16);
}

TEST(Id, IsTimeOrderedAndWellFormed) {
  init_crypto();
  auto a = new_id(1'000), b = new_id(2'000);
  EXPECT_LT(a, b);
  EXPECT_TRUE(looks_like_id(a));
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) seen.insert(new_id(5'000));
  EXPECT_EQ(seen.size(), 1000u);
  EXPECT_FALSE(looks_like_id("01ARZ3NDEKTSV4RRFFQ69G5FA"));   // 25 chars
  EXPECT_FALSE(looks_like_id("01ARZ3NDEKTSV4RRFFQ69G5FAU"));  // U is not Crockford
  EXPECT_FALSE(looks_like_id("01arz3ndektsv4rrffq69g5fav"));  // lower case
}

TEST(Text, Utf8Validation) {
  EXPECT_TRUE(text::is_valid_utf8("plain"));
  EXPECT_TRUE(text::is_valid_utf8("h\xC3\xA9llo \xE4\xB8\xAD \xF0\x9F\x98\x80"));
  EXPECT_FALSE(text::is_valid_utf8("\xC3"));              // truncated
  EXPECT_FALSE(text::is_valid_utf8("\xC0\xAF"));          // overlong
  EXPECT_FALSE(text::is_valid_utf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(text::is_valid_utf8("\xF4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_FALSE(text::is_valid_utf8("\xFF"));
}

TEST(Text, Utf8ValidatedInPieces) {
  // A character split across pieces is whole once its last byte comes.
  const std::string text = "h\xC3\xA9 \xE4\xB8\xAD \xF0\x9F\x98\x80";
  for (std::size_t cut = 0; cut <= text.size(); ++cut) {
    text::Utf8Validator v;
    EXPECT_TRUE(v.feed(text.substr(0, cut))) << cut;
    EXPECT_TRUE(v.feed(text.substr(cut))) << cut;
    EXPECT_TRUE(v.complete()) << cut;
  }
  text::Utf8Validator open;
  EXPECT_TRUE(open.feed("\xF0\x9F"));
  EXPECT_FALSE(open.complete());
  // Fails at the first byte no text could continue with, before the character's end.
  text::Utf8Validator past_max;
  EXPECT_TRUE(past_max.feed("ok \xF4"));
  EXPECT_FALSE(past_max.feed("\x90"));  // F4 90: past U+10FFFF
  text::Utf8Validator surrogate;
  EXPECT_FALSE(surrogate.feed("\xED\xA0"));
  text::Utf8Validator overlong;
  EXPECT_FALSE(overlong.feed("\xE0\x80"));
  text::Utf8Validator lone;
  EXPECT_FALSE(lone.feed("\x80"));
}

TEST(Text, CountTrimControls) {
  EXPECT_EQ(text::char_count("h\xC3\xA9"), 2u);
  EXPECT_EQ(text::trim("  a b \n"), "a b");
  EXPECT_TRUE(text::has_control_chars("a\x01", true));
  EXPECT_FALSE(text::has_control_chars("a\nb", true));
  EXPECT_TRUE(text::has_control_chars("a\nb", false));
  EXPECT_TRUE(text::has_control_chars("a\xC2\x85", true));  // NEL, a C1 control
  EXPECT_EQ(text::ascii_lower("AbC"), "abc");
}

TEST(Json, ParsesObjectsAndRejectsEverythingElse) {
  EXPECT_TRUE(json::parse_object(R"({"a":1})"));
  EXPECT_EQ(json::parse_object("[1]").error().code, Errc::malformed);
  EXPECT_EQ(json::parse_object("{").error().code, Errc::malformed);
  EXPECT_EQ(json::parse_object("").error().code, Errc::malformed);
  EXPECT_EQ(json::parse_object("{\"a\":\"\xFF\"}").error().code, Errc::malformed);
}

TEST(Json, RejectsNumbersBeyondTwoToThe53) {
  EXPECT_TRUE(json::parse_object(R"({"n":9007199254740992})"));
  EXPECT_FALSE(json::parse_object(R"({"n":9007199254740993})"));
  EXPECT_FALSE(json::parse_object(R"({"n":-9007199254740993})"));
  EXPECT_FALSE(json::parse_object(R"({"n":[1,{"m":18446744073709551615}]})"));
  EXPECT_FALSE(json::parse_object(R"({"n":1e300})"));
}

TEST(Json, RejectsDeepNesting) {
  std::string deep(100, '[');
  deep = "{\"a\":" + deep + std::string(100, ']') + "}";
  EXPECT_FALSE(json::parse_object(deep));
}

TEST(Json, TypedFieldsNameTheField) {
  auto o = *json::parse_object(R"({"s":"x","i":5,"n":null,"w":7})");
  EXPECT_EQ(*json::required_string(o, "s"), "x");
  EXPECT_EQ(json::required_string(o, "missing").error().field, "missing");
  EXPECT_EQ(json::required_string(o, "w").error().code, Errc::malformed);
  EXPECT_FALSE(json::optional_string(o, "n")->has_value());
  EXPECT_FALSE(json::optional_string(o, "w"));
  EXPECT_EQ(*json::required_int(o, "i"), 5);
  EXPECT_FALSE(json::required_int(o, "s"));
}

TEST(Crypto, Base64UrlRoundTripAndConstantTimeEquality) {
  init_crypto();
  std::string raw = random_bytes(33);
  auto enc = base64url_encode(raw);
  EXPECT_EQ(enc.find_first_of("+/="), std::string::npos);
  EXPECT_EQ(*base64url_decode(enc), raw);
  EXPECT_FALSE(base64url_decode("not base64!"));
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "ab"));
  EXPECT_EQ(hex_encode(sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Crypto, HmacSha256MatchesRfc4231) {
  init_crypto();
  // RFC 4231 test case 2.
  EXPECT_EQ(hex_encode(hmac_sha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

// Memory freed between chunks still in use is handed back: the trimmer counts a trim once at
// least its threshold is free, and not while less is.
TEST(HeapTrimmer, TrimsOnlyWhenEnoughIsFree) {
  auto trims = [] {
    auto text = metrics::render_text();
    auto at = text.find("\nparley_heap_trims_total ");
    return at == std::string::npos ? 0.0 : std::stod(text.substr(at + 25));
  };
  const double before = trims();
  {
    HeapTrimmer idle(std::chrono::milliseconds(5), std::size_t{1} << 40);  // never enough
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(trims(), before);
  // 64 MiB in 4 KiB chunks; every other one freed: 32 MiB free inside the heap, not at its top.
  std::vector<std::unique_ptr<char[]>> chunks(16'384);
  for (auto& c : chunks) {
    c = std::make_unique<char[]>(4096);
    c[0] = 1;
  }
  for (std::size_t i = 0; i < chunks.size(); i += 2) chunks[i].reset();
  HeapTrimmer trimmer(std::chrono::milliseconds(5), std::size_t{16} << 20);
  for (int i = 0; i < 400 && trims() == before; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_GT(trims(), before);
}

TEST(WorkerPool, RunsTasksAndRefusesWhenFull) {
  WorkerPool pool("t", 1, 1);
  std::mutex m;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> ran{0};
  ASSERT_TRUE(pool.try_submit([&] {
    std::unique_lock l(m);
    cv.wait(l, [&] { return release; });
    ++ran;
  }));
  // The worker may not have dequeued the first task yet; fill the queue until refused.
  int accepted = 0;
  while (pool.try_submit([&] { ++ran; })) ++accepted;
  EXPECT_LE(accepted, 1);
  {
    std::lock_guard l(m);
    release = true;
  }
  cv.notify_all();
  pool.stop();
  EXPECT_EQ(ran.load(), 1 + accepted);
  EXPECT_FALSE(pool.try_submit([] {}));
}

// ---- tracing ----

struct CollectingExporter : trace::Exporter {
  std::vector<std::unique_ptr<trace::SpanData>> spans;
  void export_span(std::unique_ptr<trace::SpanData> s) override { spans.push_back(std::move(s)); }
};

TEST(Trace, ParsesAndWritesTraceparent) {
  auto c = trace::Context::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->sampled);
  EXPECT_EQ(c->trace_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(c->span_hex(), "00f067aa0ba902b7");
  EXPECT_EQ(c->traceparent(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  EXPECT_FALSE(trace::Context::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")->sampled);
  EXPECT_TRUE(trace::Context::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x"));
  for (const char* bad : {"", "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                          "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                          "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                          "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                          "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-"})
    EXPECT_FALSE(trace::Context::parse(bad)) << bad;
}

TEST(Trace, SpansRecordOnlyWhenSampledAndFormOneTrace) {
  CollectingExporter out;
  trace::configure(nullptr, 1.0);
  EXPECT_FALSE(trace::Span::root("off", trace::Kind::server).recording());  // no exporter
  trace::configure(&out, 0.0);
  EXPECT_FALSE(trace::Span::root("never", trace::Kind::server).recording());
  EXPECT_FALSE(trace::Context::fresh().sampled);
  trace::configure(&out, 1.0);
  {
    auto root = trace::Span::root("root", trace::Kind::server);
    ASSERT_TRUE(root.recording());
    auto child = trace::Span::child("child", trace::Kind::internal, root.context());
    child.set("n", std::int64_t{3});
    child.fail("broken");
    trace::Context unsampled = root.context();
    unsampled.sampled = false;
    EXPECT_FALSE(trace::Span::child("skipped", trace::Kind::internal, unsampled).recording());
  }
  trace::configure(nullptr, 0);
  ASSERT_EQ(out.spans.size(), 2u);
  const auto& child = *out.spans[0];
  const auto& root = *out.spans[1];
  EXPECT_EQ(child.name, "child");
  EXPECT_EQ(child.trace_id, root.trace_id);
  EXPECT_EQ(child.parent_id, root.span_id);
  EXPECT_NE(child.span_id, root.span_id);
  EXPECT_EQ(root.parent_id, (std::array<std::uint8_t, 8>{}));
  EXPECT_TRUE(child.error);
  EXPECT_EQ(child.int_attrs.at(0).second, 3);
  EXPECT_LE(root.start_ns, root.end_ns);
}

}  // namespace
}  // namespace parley
