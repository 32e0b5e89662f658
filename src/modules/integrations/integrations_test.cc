// The integrations module against real stores (SQLite in a temporary folder), real users and
// messaging services and the in-process bus; outbound requests go to a FakeFetcher that records
// them and answers as a test tells it to.
#include "modules/integrations/integrations.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <deque>
#include <filesystem>
#include <thread>

#include "adapters/inprocess/in_process_bus.h"
#include "adapters/sqlite/stores.h"
#include "modules/jobs/store.h"
#include "core/crypto.h"

namespace parley::integrations {
namespace {

using namespace std::chrono_literals;

TEST(CommandLine, TriggersAndWhatIsNotACommand) {
  auto c = parse_command_line("/Weather  Paris, France ");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->trigger, "weather");
  EXPECT_EQ(c->text, "Paris, France");
  EXPECT_EQ(parse_command_line("/deploy")->text, "");
  EXPECT_FALSE(parse_command_line("/usr/bin/env"));
  EXPECT_FALSE(parse_command_line("// not a command"));
  EXPECT_FALSE(parse_command_line("hello /weather"));
  EXPECT_FALSE(parse_command_line("/"));
  EXPECT_FALSE(parse_command_line("/" + std::string(33, 'a')));
  EXPECT_TRUE(parse_command_line("/" + std::string(32, 'a')));
}

TEST(Signature, IsHexHmacSha256OfTheBody) {
  init_crypto();
  // RFC 4231 test case 2.
  EXPECT_EQ(signature("Jefe", "what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(SlackPayload, TextUsernameAndAttachments) {
  auto r = render_slack_payload(R"({"text":"Build *failed*","username":"CI","icon_url":"x",
    "attachments":[{"fallback":"fb","pretext":"Details","title":"Job 42",
      "title_link":"https://ci.example/42","text":"3 tests failed","color":"#ff0000",
      "fields":[{"title":"Branch","value":"main","short":true},{"title":"Took","value":42}]},
      {"fallback":"only a fallback"}]})");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r,
            "**CI**\nBuild *failed*\n> Details\n> **[Job 42](https://ci.example/42)**\n"
            "> 3 tests failed\n> **Branch**: main\n> **Took**: 42\n> only a fallback");
}

TEST(SlackPayload, BadInputIsRefusedNamingTheField) {
  EXPECT_EQ(render_slack_payload("not json").error().code, Errc::malformed);
  EXPECT_EQ(render_slack_payload(R"({"text": 5})").error().field, "text");
  EXPECT_EQ(render_slack_payload(R"({"text":"a","attachments":{}})").error().field, "attachments");
  EXPECT_EQ(render_slack_payload(R"({"text":"a","attachments":[{"title":3}]})").error().field,
            "attachments.title");
  auto empty = render_slack_payload(R"({"username":"CI"})");
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, Errc::invalid_argument);
  EXPECT_EQ(render_slack_payload(R"({"text":"   "})").error().code, Errc::invalid_argument);
  const std::string scripted =
      R"({"text":"javascript link","attachments":[{"title":"t","title_link":"javascript:x"}]})";
  EXPECT_EQ(render_slack_payload(scripted)->find("javascript:"), std::string::npos)
      << "only http(s) title links become links";
}

// Records every request; answers with the statuses queued (200 once they run out).
class FakeFetcher final : public outbound::HttpFetcher {
 public:
  Result<outbound::FetchResponse> fetch(const outbound::FetchRequest& r) override {
    std::lock_guard lock(mu_);
    requests_.push_back(r);
    outbound::FetchResponse resp;
    resp.status = 200;
    if (!statuses_.empty()) {
      resp.status = statuses_.front();
      statuses_.pop_front();
    }
    resp.body = body_;
    return resp;
  }
  void answer(std::deque<int> statuses, std::string body = "{}") {
    std::lock_guard lock(mu_);
    statuses_ = std::move(statuses);
    body_ = std::move(body);
  }
  std::vector<outbound::FetchRequest> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  std::mutex mu_;
  std::deque<int> statuses_;
  std::string body_ = "{}";
  std::vector<outbound::FetchRequest> requests_;
};

std::string text_of(const boost::json::value& v) {
  return v.is_string() ? std::string(v.as_string()) : boost::json::serialize(v);
}

std::string header(const outbound::FetchRequest& r, const std::string& name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return {};
}

class Integrations : public ::testing::Test {
 protected:
  void SetUp() override {
    init_crypto();
    dir_ =
        std::filesystem::temp_directory_path() /
        ("parley-integrations-" + std::to_string(::getpid()) + "-" + std::to_string(random_u64()));
    std::filesystem::create_directories(dir_);
    db_ = std::move(*sqlite::Database::open((dir_ / "t.db").string()));
    user_store_ = std::move(*sqlite::make_user_store(*db_));
    msg_store_ = std::move(*sqlite::make_messaging_store(*db_));
    store_ = std::move(*sqlite::make_integration_store(*db_));
    bus_ = adapters::make_in_process_bus();
    users_ = std::make_unique<users::UserService>(*user_store_, clock_);
    messaging_ = std::make_unique<messaging::MessagingService>(*msg_store_, *users_, *bus_, clock_);
    IntegrationOptions o;
    o.retry_base_ms = 1;
    o.delivery_attempts = 3;
    service_ = std::make_unique<IntegrationService>(*store_, *users_, *messaging_, *bus_, clock_,
                                                    &fetcher_, &pool_, o);
    owner_ = users_->create({"owner", std::nullopt, std::nullopt})->id;
    member_ = users_->create({"member", std::nullopt, std::nullopt})->id;
    stranger_ = users_->create({"stranger", std::nullopt, std::nullopt})->id;
    auto c = messaging_->create(owner_, {"channel", {}, "general", std::nullopt, "private"});
    conv_ = c->view.conversation.id;
    ASSERT_TRUE(messaging_->add_members(owner_, conv_, {member_}));
  }
  void TearDown() override {
    service_->stop();
    pool_.stop();
    service_.reset();
    messaging_.reset();
    msg_store_->stop();
    db_->stop();
    std::filesystem::remove_all(dir_);
  }

  std::filesystem::path dir_;
  SystemClock clock_;
  std::unique_ptr<sqlite::Database> db_;
  std::unique_ptr<users::UserStore> user_store_;
  std::unique_ptr<messaging::MessagingStore> msg_store_;
  std::unique_ptr<IntegrationStore> store_;
  std::unique_ptr<Bus> bus_;
  std::unique_ptr<users::UserService> users_;
  std::unique_ptr<messaging::MessagingService> messaging_;
  FakeFetcher fetcher_;
  WorkerPool pool_{"deliveries", 2, 100};
  std::unique_ptr<IntegrationService> service_;
  std::string owner_, member_, stranger_, conv_;
};

TEST_F(Integrations, BotTokenAuthenticatesUntilRevokedAndOnlyItsOwnerSeesIt) {
  auto created = service_->create_bot(owner_, {"deploy-bot", "Deploy", std::nullopt});
  ASSERT_TRUE(created) << created.error().message;
  EXPECT_TRUE(created->token.token.starts_with("pbt_"));
  EXPECT_EQ(created->bot.display_name, "Deploy");
  auto p = service_->authenticate(created->token.token);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->user_id, created->bot.id);
  EXPECT_EQ(p->scopes, default_scopes());
  EXPECT_EQ(p->session_id, "bot:" + created->token.info.id);

  std::string wrong = created->token.token;
  wrong.back() = wrong.back() == 'A' ? 'B' : 'A';
  EXPECT_EQ(service_->authenticate(wrong).error().code, Errc::unauthenticated);
  EXPECT_EQ(service_->authenticate("pbt_garbage").error().code, Errc::unauthenticated);

  EXPECT_EQ(service_->bot(stranger_, created->bot.id).error().code, Errc::not_found);
  EXPECT_EQ(service_->revoke_token(stranger_, created->bot.id, created->token.info.id).error().code,
            Errc::not_found);
  ASSERT_TRUE(service_->revoke_token(owner_, created->bot.id, created->token.info.id));
  EXPECT_EQ(service_->authenticate(created->token.token).error().code, Errc::unauthenticated);
  EXPECT_FALSE(service_->check_session(p->session_id));
}

TEST_F(Integrations, RotationKeepsScopesAndRevokesTheOldToken) {
  auto created = service_->create_bot(
      owner_, {"reader-bot", std::nullopt, std::vector<std::string>{"messages:read"}});
  ASSERT_TRUE(created);
  auto fresh = service_->rotate_token(owner_, created->bot.id, created->token.info.id);
  ASSERT_TRUE(fresh);
  EXPECT_EQ(fresh->info.scopes, (std::vector<std::string>{"messages:read"}));
  EXPECT_FALSE(service_->authenticate(created->token.token));
  EXPECT_TRUE(service_->authenticate(fresh->token));
  EXPECT_EQ(service_->bot(owner_, created->bot.id)->tokens.size(), 2u);
  auto bad = service_->create_bot(
      owner_, {"x-bot", std::nullopt, std::vector<std::string>{"admin:everything"}});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().field, "scopes");
  EXPECT_EQ(service_->create_bot(owner_, {"owner", std::nullopt, std::nullopt}).error().code,
            Errc::already_exists)
      << "a bot's username is a username";
}

TEST_F(Integrations, IncomingWebhooksBelongToTheConversationsManagers) {
  EXPECT_EQ(service_->create_incoming(member_, conv_, "CI").error().code, Errc::permission_denied);
  EXPECT_EQ(service_->create_incoming(stranger_, conv_, "CI").error().code, Errc::not_found);
  auto hook = service_->create_incoming(owner_, conv_, "CI");
  ASSERT_TRUE(hook) << hook.error().message;
  EXPECT_TRUE(*messaging_->is_member(conv_, hook->hook.bot_id)) << "its bot joined";
  EXPECT_TRUE(service_->check_incoming(hook->hook.id, hook->secret));
  EXPECT_EQ(service_->check_incoming(hook->hook.id, hook->secret + "x").error().code,
            Errc::not_found);
  ASSERT_TRUE(service_->delete_incoming(owner_, conv_, hook->hook.id));
  EXPECT_EQ(service_->check_incoming(hook->hook.id, hook->secret).error().code, Errc::not_found);
}

TEST_F(Integrations, OutgoingDeliveriesAreSignedAndRetried) {
  EXPECT_EQ(service_->create_outgoing(owner_, conv_, "http://10.1.2.3/hook", {"message.created"})
                .error()
                .message,
            outbound::kAddressNotAllowed);
  EXPECT_EQ(service_->create_outgoing(owner_, conv_, "ftp://x.example/", {"message.created"})
                .error()
                .field,
            "url");
  EXPECT_EQ(service_->create_outgoing(owner_, conv_, "https://x.example/", {"message.exploded"})
                .error()
                .field,
            "events");
  auto hook =
      service_->create_outgoing(owner_, conv_, "https://hooks.example/in", {"message.created"});
  ASSERT_TRUE(hook);
  fetcher_.answer({503, 500});
  service_->publish(conv_, kMessageCreated, R"({"id":"M1"})");
  for (int i = 0; i < 500 && service_->delivery_stats().delivered == 0; ++i)
    std::this_thread::sleep_for(10ms);
  ASSERT_EQ(service_->delivery_stats().delivered, 1u);
  auto reqs = fetcher_.requests();
  ASSERT_EQ(reqs.size(), 3u) << "two failures, then the delivery";
  EXPECT_EQ(header(reqs[0], "Parley-Event-Id"), header(reqs[2], "Parley-Event-Id"))
      << "a retry is the same event";
  EXPECT_EQ(header(reqs[2], "Parley-Delivery-Attempt"), "3");
  EXPECT_EQ(header(reqs[2], "Parley-Signature"), signature(hook->secret, reqs[2].body));
  auto body = boost::json::parse(reqs[2].body).as_object();
  EXPECT_EQ(text_of(body["event"]), "message.created");
  EXPECT_EQ(text_of(body["data"].as_object()["id"]), "M1");

  fetcher_.answer({500, 500, 500});
  service_->publish(conv_, kMessageCreated, R"({"id":"M2"})");
  for (int i = 0; i < 500 && service_->delivery_stats().abandoned == 0; ++i)
    std::this_thread::sleep_for(10ms);
  EXPECT_EQ(service_->delivery_stats().abandoned, 1u) << "given up after delivery_attempts";
  EXPECT_EQ(fetcher_.requests().size(), 6u);
}

// A new message's deliveries are queued by a job written in the message's own commit: with the
// queue not yet running (a crash right after the commit), the job waits in the outbox and
// delivers when workers run. A conversation seen without hooks costs no job.
TEST_F(Integrations, AMessagesWebhookJobIsCommittedWithTheMessage) {
  auto job_store = std::move(*sqlite::make_job_store(*db_));
  jobs::OutboxOptions qo;
  qo.workers = 1;
  qo.poll_ms = 20;
  auto queue = jobs::make_outbox_job_queue(*job_store, clock_, qo);
  service_->use_job_queue(*queue);
  msg_store_->add_append_hook(service_->append_hook());
  auto hook =
      service_->create_outgoing(owner_, conv_, "https://hooks.example/in", {"message.created"});
  ASSERT_TRUE(hook);
  auto sent = messaging_->send(owner_, {conv_, "deploy done", "c1"});
  ASSERT_TRUE(sent);
  auto waiting = job_store->backlog(clock_.now_ms() + 1);
  ASSERT_TRUE(waiting);
  EXPECT_EQ(waiting->waiting, 1) << "the job was written with the message";
  // publish() no longer queues message.created itself: the job does.
  service_->publish(conv_, kMessageCreated, R"({"id":"ignored"})");
  queue->start();
  for (int i = 0; i < 500 && service_->delivery_stats().delivered == 0; ++i)
    std::this_thread::sleep_for(10ms);
  auto reqs = fetcher_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(header(reqs[0], "Parley-Event-Id"), "msg_" + sent->message.id);
  EXPECT_EQ(header(reqs[0], "Parley-Signature"), signature(hook->secret, reqs[0].body));
  auto body = boost::json::parse(reqs[0].body).as_object();
  EXPECT_EQ(text_of(body["data"].as_object()["id"]), sent->message.id);
  EXPECT_EQ(text_of(body["data"].as_object()["text"]), "deploy done");

  // No hooks here: the first message's job finds none, and the next ones (within the hook
  // cache's 5 s) write no job at all.
  auto quiet = messaging_->create(owner_, {"channel", {}, "quiet", std::nullopt, "private"});
  const std::string qid = quiet->view.conversation.id;
  ASSERT_TRUE(messaging_->send(owner_, {qid, "first", "q1"}));
  for (int i = 0; i < 500 && job_store->backlog(clock_.now_ms())->waiting > 0; ++i)
    std::this_thread::sleep_for(10ms);
  std::this_thread::sleep_for(50ms);  // the worker marks the job done after it ran
  auto before = job_store->counts();
  ASSERT_TRUE(messaging_->send(owner_, {qid, "second", "q2"}));
  auto after = job_store->counts();
  EXPECT_EQ(after->pending + after->done, before->pending + before->done)
      << "a message in a conversation without hooks wrote a job";
  queue->stop();
  service_->stop();
}

// With no outgoing webhook anywhere, messages write no webhook.message job at all; a hook makes
// them write one; once it is deleted, message_created() (the send's completion) learns again
// that none is left, and the jobs stop.
TEST_F(Integrations, MessagesWriteNoWebhookJobWhileNoHookExistsAnywhere) {
  auto job_store = std::move(*sqlite::make_job_store(*db_));
  auto queue = jobs::make_outbox_job_queue(*job_store, clock_, {});  // not started: jobs wait
  service_->use_job_queue(*queue);
  msg_store_->add_append_hook(service_->append_hook());
  auto jobs_written = [&] {
    auto c = job_store->counts();
    return c ? c->pending + c->done : -1;
  };
  auto send = [&](const std::string& id) {
    auto sent = messaging_->send(owner_, {conv_, "text " + id, id});
    EXPECT_TRUE(sent);
    if (sent) service_->message_created(sent->message);
  };
  send("n1");
  EXPECT_EQ(jobs_written(), 0) << "no hook anywhere, yet a job";
  auto hook =
      service_->create_outgoing(owner_, conv_, "https://hooks.example/in", {"message.created"});
  ASSERT_TRUE(hook);
  send("h1");
  EXPECT_EQ(jobs_written(), 1) << "a hook exists: the message's commit carries its job";
  ASSERT_TRUE(service_->delete_outgoing(owner_, conv_, hook->hook.id));
  send("d1");  // may still write one (the node learns after the send), and refreshes
  const auto after_refresh = jobs_written();
  send("d2");
  EXPECT_EQ(jobs_written(), after_refresh) << "no hook is left, yet a job";
  service_->stop();
}

TEST_F(Integrations, SlashCommandsAskTheirUrlAndShowTheAnswer) {
  auto cmd = service_->create_command(owner_, "/Weather", "https://weather.example/cmd");
  ASSERT_TRUE(cmd) << cmd.error().message;
  EXPECT_EQ(cmd->command.trigger, "weather");
  EXPECT_EQ(service_->create_command(member_, "weather", "https://x.example/").error().code,
            Errc::already_exists);
  EXPECT_EQ(service_->create_command(member_, "bad trigger", "https://x.example/").error().field,
            "trigger");

  fetcher_.answer({200}, R"({"text":"Sunny, 21C","visibility":"in_channel"})");
  auto a = service_->run_command(member_, conv_, {"weather", "Paris"});
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->text, "Sunny, 21C");
  EXPECT_TRUE(a->in_channel);
  auto sent = fetcher_.requests().back();
  auto payload = boost::json::parse(sent.body).as_object();
  EXPECT_EQ(text_of(payload["command"]), "/weather");
  EXPECT_EQ(text_of(payload["text"]), "Paris");
  EXPECT_EQ(text_of(payload["user_id"]), member_);
  EXPECT_EQ(text_of(payload["conversation_id"]), conv_);
  EXPECT_EQ(header(sent, "Parley-Signature"), signature(cmd->secret, sent.body));

  fetcher_.answer({200}, R"({"text":"only you see this"})");
  EXPECT_FALSE(service_->run_command(member_, conv_, {"weather", ""})->in_channel)
      << "ephemeral by default";
  EXPECT_EQ(service_->run_command(stranger_, conv_, {"weather", ""}).error().code, Errc::not_found);
  auto unknown = service_->run_command(member_, conv_, {"nosuch", ""});
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("unknown command /nosuch"), std::string::npos);
  fetcher_.answer({500});
  EXPECT_EQ(service_->run_command(member_, conv_, {"weather", ""}).error().code, Errc::unavailable);
  EXPECT_EQ(service_->delete_command(member_, cmd->command.id).error().code,
            Errc::permission_denied);
  EXPECT_TRUE(service_->delete_command(owner_, cmd->command.id));
}

}  // namespace
}  // namespace parley::integrations
