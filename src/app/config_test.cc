#include "app/config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace parley::app {
namespace {

Result<Config> load(std::vector<std::string> args, std::vector<std::string> env = {}) {
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  return load_config(args, envp.data());
}

TEST(Config, DefaultsMatchTheReadme) {
  auto c = load({});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->host, "127.0.0.1");
  EXPECT_EQ(c->port, 8080);
  EXPECT_EQ(c->data_dir, "./data");
}

TEST(Config, MetricsListenAndDrainDelay) {
  auto none = load({});
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->metrics_port) << "metrics stay on the main listener by default";
  EXPECT_EQ(none->drain_delay_ms, 0);
  auto c = load({"--metrics-listen", "[::1]:9100", "--drain-delay-ms", "5000"});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->metrics_host, "::1");
  EXPECT_EQ(c->metrics_port, 9100);
  EXPECT_EQ(c->drain_delay_ms, 5000);
  auto env = load({}, {"PARLEY_METRICS_LISTEN=127.0.0.1:0"});
  ASSERT_TRUE(env);
  EXPECT_EQ(env->metrics_port, 0);
  auto bad = load({"--metrics-listen", "9100"});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("metrics"), std::string::npos) << bad.error().message;
}

TEST(Config, FlagsBeatEnvironmentWhichBeatsTheFile) {
  std::string path = testing::TempDir() + "/parley-config-test.conf";
  {
    std::ofstream f(path);
    f << "# comment\nlisten = 0.0.0.0:9000\ndata_dir = \"/srv/file\"\nlog_format = json\n";
  }
  auto c = load({"--config", path, "--data-dir", "/srv/flag"}, {"PARLEY_LISTEN=127.0.0.1:9100"});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->port, 9100);
  EXPECT_EQ(c->data_dir, "/srv/flag");
  EXPECT_EQ(c->log_format, log::Format::json);
  auto eq = load({"--listen=[::1]:0"});
  ASSERT_TRUE(eq);
  EXPECT_EQ(eq->host, "::1");
  EXPECT_EQ(eq->port, 0);
}

TEST(Config, ScaleOutUrlsAreCheckedAndTestVariablesIgnored) {
  auto c = load({"--database", "postgres://parley@127.0.0.1:5432/parley", "--redis",
                 "redis://127.0.0.1:6379", "--calls-node", "n0"},
                {"PARLEY_TEST_POSTGRES_URL=postgres://x", "PARLEY_NODE_ID=n1"});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->database, "postgres://parley@127.0.0.1:5432/parley");
  EXPECT_EQ(c->redis, "redis://127.0.0.1:6379");
  EXPECT_EQ(c->node_id, "n1");
  EXPECT_EQ(c->calls_node, "n0");
  EXPECT_FALSE(load({"--database", "mysql://x"}));
  EXPECT_FALSE(load({"--redis", "http://x"}));
  EXPECT_FALSE(load({}, {"PARLEY_NO_SUCH_THING=1"}));  // other unknown variables still stop it
}

TEST(Config, MailAndSmsTakeTheirSecretsFromTheEnvironment) {
  auto c = load({"--smtp", "smtp://mail.example.com:587", "--mail-from", "parley@example.com",
                 "--public-url", "https://chat.example.com", "--sms-url",
                 "https://api.example.com/Accounts/{account}/Messages.json", "--sms-from", "+1500"},
                {"PARLEY_SMTP_USER=parley", "PARLEY_SMTP_PASSWORD=s3cret", "PARLEY_SMS_ACCOUNT=AC1",
                 "PARLEY_SMS_TOKEN=tok"});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->smtp, "smtp://mail.example.com:587");
  EXPECT_EQ(c->smtp_user, "parley");
  EXPECT_EQ(c->smtp_password, "s3cret");
  EXPECT_EQ(c->mail_from, "parley@example.com");
  EXPECT_EQ(c->public_url, "https://chat.example.com");
  EXPECT_EQ(c->sms_account, "AC1");
  EXPECT_EQ(c->sms_token, "tok");
  EXPECT_EQ(c->password_reset_ttl_s, 1800);
  EXPECT_TRUE(load({"--smtp", "smtps://mail.example.com:465"}));
  EXPECT_FALSE(load({"--smtp", "http://mail.example.com"}));
  EXPECT_FALSE(load({"--public-url", "chat.example.com"}));
  EXPECT_FALSE(load({"--sms-url", "ftp://x"}));
  EXPECT_FALSE(load({"--password-reset-ttl-s", "0"}));
  EXPECT_TRUE(
      load({"--rate-limits", "email_per_ip=5/1m,email_per_address=1/1h,sms_per_user=2/1h"}));
}

TEST(Config, BadValuesSayWhatAndWhere) {
  auto bad_port = load({"--listen", "127.0.0.1:99999"});
  ASSERT_FALSE(bad_port);
  EXPECT_NE(bad_port.error().message.find("--listen"), std::string::npos);
  EXPECT_FALSE(load({"--listen", "nocolon"}));
  EXPECT_FALSE(load({"--frobnicate", "1"}));
  EXPECT_FALSE(load({"--data-dir"}));
  EXPECT_FALSE(load({"stray"}));
  EXPECT_FALSE(load({"--log-format", "xml"}));
  EXPECT_FALSE(load({"--config", "/nonexistent/parley.conf"}));
  auto env = load({}, {"PARLEY_WORKERS=lots"});
  ASSERT_FALSE(env);
  EXPECT_NE(env.error().message.find("PARLEY_WORKERS"), std::string::npos);
  std::string path = testing::TempDir() + "/parley-config-bad.conf";
  {
    std::ofstream f(path);
    f << "listen = 127.0.0.1:1\nthis line has no equals\n";
  }
  auto file = load({"--config", path});
  ASSERT_FALSE(file);
  EXPECT_NE(file.error().message.find(":2"), std::string::npos);
}

TEST(Config, SocketLimitsAndOriginsParseAndReject) {
  auto d = load({});
  ASSERT_TRUE(d);
  EXPECT_EQ(d->sockets.per_user, 20);
  EXPECT_EQ(d->sockets.per_address, 500);
  EXPECT_TRUE(d->sockets.allowed_origins.empty());
  auto c = load({"--max-sockets-per-user", "5", "--max-sockets-per-address", "7",
                 "--max-connections", "9", "--session-ttl-s", "60", "--allowed-origins",
                 "https://a.example, http://b.example:8080"});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->sockets.per_user, 5);
  EXPECT_EQ(c->sockets.per_address, 7);
  EXPECT_EQ(c->max_connections, 9u);
  EXPECT_EQ(c->session_ttl_s, 60);
  EXPECT_EQ(c->sockets.allowed_origins,
            (std::vector<std::string>{"https://a.example", "http://b.example:8080"}));
  auto zero = load({"--max-sockets-per-user", "0"});
  ASSERT_FALSE(zero);
  EXPECT_NE(zero.error().message.find("at least 1"), std::string::npos);
  EXPECT_FALSE(load({"--max-connections", "-3"}));
  EXPECT_FALSE(load({"--allowed-origins", "a.example"})) << "an origin has a scheme";
}

TEST(Config, RateLimitsParseAndReject) {
  auto c = load({"--rate-limits", "login_per_account=5/1m, register_per_ip=100/1s"});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->rate_limits.login_per_account.burst, 5);
  EXPECT_EQ(c->rate_limits.login_per_account.refill_ms, 12'000);
  EXPECT_EQ(c->rate_limits.register_per_ip.refill_ms, 10);
  // Regression: intervals under 1 ms were rounded up, so 5000/1s became 1000/s.
  auto fast = load({"--rate-limits", "ws_frames_per_user=5000/1s"});
  ASSERT_TRUE(fast);
  EXPECT_DOUBLE_EQ(fast->rate_limits.ws_frames_per_user.refill_ms, 0.2);
  EXPECT_FALSE(load({"--rate-limits", "nope=1/1s"}));
  EXPECT_FALSE(load({"--rate-limits", "login_per_ip=0/1s"}));
  EXPECT_FALSE(load({"--rate-limits", "login_per_ip=5/1d"}));  // ms, s, m and h only
  auto hourly = load({"--rate-limits", "sms_per_user=6/1h"});
  ASSERT_TRUE(hourly);
  EXPECT_DOUBLE_EQ(hourly->rate_limits.sms_per_user.refill_ms, 600000.0);
  EXPECT_FALSE(load({"--rate-limits", "login_per_ip=5"}));
}

TEST(Config, OidcProvidersRepeatAndTakeTheirAdminGroup) {
  auto c = load({"--oidc", "corp=https://idp.example/realms/x,parley,s3cret",
                 "--oidc=google=https://accounts.google.com,gid", "--oidc-admin-group",
                 "corp=chat-admins", "--oidc-username-claim", "email", "--public-url",
                 "https://chat.example.com/"});
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_EQ(c->oidc_providers.size(), 2u);
  EXPECT_EQ(c->oidc_providers[0].name, "corp");
  EXPECT_EQ(c->oidc_providers[0].client_secret, "s3cret");
  EXPECT_EQ(c->oidc_providers[0].admin_group, "chat-admins");
  EXPECT_EQ(c->oidc_providers[1].name, "google");
  EXPECT_EQ(c->oidc_providers[1].admin_group, "");
  EXPECT_EQ(c->oidc_username_claim, "email");
  EXPECT_EQ(c->public_url, "https://chat.example.com");
  EXPECT_TRUE(c->password_login);
}

TEST(Config, OidcMistakesStopStartUp) {
  for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
           {"--oidc", "corp=https://idp,c", "--oidc", "corp=https://other,c"},
           {"--oidc-admin-group", "corp=admins"},  // before (or without) its provider
           {"--oidc", "corp=https://idp,c", "--oidc-admin-group", "corp"},
           {"--oidc", "nope"},
           {"--oidc-scopes", "profile email"},
           {"--public-url", "chat.example.com"},
           {"--public-url", "https://chat.example.com/app"}}) {
    auto c = load(args);
    EXPECT_FALSE(c) << args[0] << " " << args[1];
  }
}

TEST(Config, DisablePasswordLoginIsASwitch) {
  auto alone = load({"--disable-password-login"});
  ASSERT_TRUE(alone) << alone.error().message;
  EXPECT_FALSE(alone->password_login);
  auto before_another = load({"--disable-password-login", "--data-dir", "/tmp/x"});
  ASSERT_TRUE(before_another) << before_another.error().message;
  EXPECT_FALSE(before_another->password_login);
  EXPECT_EQ(before_another->data_dir, "/tmp/x");
  auto off = load({"--disable-password-login", "false"});
  ASSERT_TRUE(off);
  EXPECT_TRUE(off->password_login);
  auto env = load({}, {"PARLEY_DISABLE_PASSWORD_LOGIN=true"});
  ASSERT_TRUE(env);
  EXPECT_FALSE(env->password_login);
}

}  // namespace
}  // namespace parley::app

namespace parley::app {
namespace {

TEST(Config, AiEnginesQuotasAndTheExternalEngine) {
  auto d = load({});
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_TRUE(d->ai);
  EXPECT_TRUE(d->ai_openai_url.empty());  // nothing external by default
  EXPECT_TRUE(d->ai_engines.empty());

  auto c = load({"--ai-openai-url", "http://127.0.0.1:8081", "--ai-openai-model", "tiny",
                 "--ai-engines", "replies=openai,chat=openai,translate=none,transcribe=none",
                 "--ai-quotas",
                 "user=5/1m,server=50/1s", "--ai-timeout-ms", "2000"},
                {"PARLEY_AI_OPENAI_KEY=sk-from-env"});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->ai_openai_url, "http://127.0.0.1:8081");
  EXPECT_EQ(c->ai_openai_model, "tiny");
  EXPECT_EQ(c->ai_openai_key, "sk-from-env");
  ASSERT_EQ(c->ai_engines.size(), 4u);
  EXPECT_EQ(c->ai_engines[3], (std::pair<std::string, std::string>{"transcribe", "none"}));
  EXPECT_EQ(c->ai_engines[0], (std::pair<std::string, std::string>{"replies", "openai"}));
  EXPECT_EQ(c->ai_user_quota.burst, 5);
  EXPECT_EQ(c->ai_server_quota.burst, 50);
  EXPECT_EQ(c->ai_timeout_ms, 2000);

  for (const std::vector<std::string>& bad :
       {std::vector<std::string>{"--ai-openai-url", "ftp://x"},
        {"--ai-engines", "translate=google"},
        {"--ai-engines", "dream=openai"},
        {"--ai-engines", "transcribe=openai"},
        {"--ai-quotas", "everyone=1/1s"},
        {"--ai", "maybe"},
        {"--ai-timeout-ms", "5"}}) {
    auto r = load(bad);
    ASSERT_FALSE(r) << bad[0] << " " << bad[1];
    // The setting is named: "ai_engines: ...", "ai_quotas: ...".
    EXPECT_NE(r.error().message.find("ai"), std::string::npos) << r.error().message;
  }
}

}  // namespace
}  // namespace parley::app
