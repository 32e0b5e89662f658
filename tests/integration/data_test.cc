// Retention, data export and usage analytics (modules/governance) against the real server:
// retention deletes exactly what is older than the limit (messages, their search entries and
// files) and nothing else; an export ZIP holds the user's messages and files and nobody else's
// private data; the admin-only routes refuse everyone else.
#include <minizip/unzip.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "chat_support.h"
#include "file_support.h"

namespace parley::itest {
namespace {

using namespace chat;
using namespace files;

constexpr std::int64_t kDayMs = 86'400'000;

// Runs SQL on the stopped server's database (the test ages rows: the server's clock is real).
void run_sql(const std::string& data_dir, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((data_dir + "/parley.db").c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  std::string msg = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << msg << " in " << sql;
}

// Every row of a query, each cell as text ("" for NULL).
std::vector<std::vector<std::string>> sql_rows(const std::string& data_dir, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open((data_dir + "/parley.db").c_str(), &db), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  std::vector<std::vector<std::string>> out;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr), SQLITE_OK) << sql;
  while (s && sqlite3_step(s) == SQLITE_ROW) {
    auto& row = out.emplace_back();
    for (int i = 0; i < sqlite3_column_count(s); ++i) {
      auto* t = sqlite3_column_text(s, i);
      row.push_back(t ? reinterpret_cast<const char*>(t) : "");
    }
  }
  sqlite3_finalize(s);
  sqlite3_close(db);
  return out;
}

std::string sql_scalar(const std::string& data_dir, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open((data_dir + "/parley.db").c_str(), &db), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  std::string out;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
    if (auto* t = sqlite3_column_text(s, 0)) out = reinterpret_cast<const char*>(t);
  sqlite3_finalize(s);
  sqlite3_close(db);
  return out;
}

object attach_send(Api& api, const Account& who, const std::string& conv, const std::string& text,
                   const std::vector<std::string>& file_ids) {
  array ids;
  for (const auto& id : file_ids) ids.push_back(value(id));
  auto r = api.post(conv_path(conv) + "/messages",
                    object{{"text", text}, {"client_msg_id", fresh_cmid()}, {"attachments", ids}},
                    who.access);
  if (r.status != 201 || !r.json.is_object()) fail_reply("send with attachments", r);
  return r.json.as_object();
}

std::vector<std::string> search_ids(Api& api, const Account& who, const std::string& words) {
  auto r = api.get("/api/v1/search/messages?q=" + pct(words), who.access);
  if (r.status != 200) fail_reply("search", r);
  std::vector<std::string> out;
  for (const auto& res : arr(r.json, "results"))
    if (auto m = field(res, "message")) out.push_back(str(*m, "id"));
  std::sort(out.begin(), out.end());
  return out;
}

// ---- retention ----

TEST(Retention, DeletesExactlyWhatIsOlderThanTheLimitWithSearchEntriesAndFiles) {
  ServerProcess server({"--retention-interval-ms", "200"});
  server.start();
  Api api(server.port());
  auto alice = register_account(api, "ret");
  auto bob = register_account(api, "ret");
  const std::string kept = make_group(api, alice, {bob.id});
  const std::string limited = make_group(api, alice, {bob.id});

  auto fa = upload(api, alice, random_bytes_of(3000, 1), "only-old.bin");
  auto fb = upload(api, alice, random_bytes_of(3000, 2), "old-and-new.bin");
  auto fc = upload(api, alice, random_bytes_of(3000, 3), "other-room.bin");
  auto old1 = attach_send(api, alice, limited, "walrus ancient one", {str(fa, "id")});
  auto old2 = attach_send(api, alice, limited, "walrus ancient two", {str(fb, "id")});
  auto fresh = attach_send(api, bob, limited, "walrus fresh", {str(fb, "id")});
  auto other = attach_send(api, alice, kept, "walrus elsewhere", {str(fc, "id")});
  // A reaction hangs off an old message; it goes with it.
  ASSERT_EQ(api.call("PUT", msg_path(str(old1, "id")) + "/reactions/" + pct("👍"), {}, bob.access)
                .status,
            204);

  const std::string blob_a = sql_scalar(server.data_dir(),
                                        "SELECT blob_key FROM files WHERE id = '" + str(fa, "id") + "'");
  ASSERT_FALSE(blob_a.empty());
  const auto blob_a_path = std::filesystem::path(server.data_dir()) / "files" / "objects" / blob_a;
  ASSERT_TRUE(std::filesystem::exists(blob_a_path)) << blob_a_path;

  // Forty days pass for the old messages (and their files), in both conversations; one day
  // short of the 30-day limit set below for one more. Without a policy nothing goes yet.
  server.stop();
  auto age = [&](const std::string& table, const std::string& id, std::int64_t days) {
    run_sql(server.data_dir(), "UPDATE " + table + " SET created_at = created_at - " +
                                   std::to_string(days * kDayMs) + " WHERE id = '" + id + "'");
  };
  for (const auto& m : {old1, old2, other}) age("messages", str(m, "id"), 40);
  age("messages", str(fresh, "id"), 29);
  for (const auto& f : {fa, fb, fc}) age("files", str(f, "id"), 40);
  server.restart();
  Api api2(server.port());
  auto a2 = login_account(api2, alice);
  auto b2 = login_account(api2, bob);
  Live live(server.port(), b2);
  // The policy is set once bob's page is open, so the job's event cannot pass before it.
  // Only the conversation's owners and admins set its policy; members read it.
  auto by_member = api2.call("PUT", conv_path(limited) + "/retention",
                            boost::json::serialize(object{{"days", 30}}), b2.access);
  EXPECT_EQ(by_member.status, 403) << by_member;
  auto bad = api2.call("PUT", conv_path(limited) + "/retention",
                      boost::json::serialize(object{{"days", 0}}), a2.access);
  EXPECT_EQ(bad.status, 422) << bad;
  EXPECT_EQ(bad.error_field(), "days");
  auto set = api2.call("PUT", conv_path(limited) + "/retention",
                      boost::json::serialize(object{{"days", 30}}), a2.access);
  ASSERT_EQ(set.status, 200) << set;
  EXPECT_EQ(num(set.json, "days"), 30);
  EXPECT_EQ(num(set.json, "effective_days"), 30);
  auto read = api2.get(conv_path(limited) + "/retention", b2.access);
  ASSERT_EQ(read.status, 200) << read;
  EXPECT_EQ(num(read.json, "days"), 30);
  auto outsider = register_account(api2, "ret");
  EXPECT_EQ(api2.get(conv_path(limited) + "/retention", outsider.access).status, 404);

  auto data = live.event("messages.expired", with_conv(limited), 10s);
  std::set<std::string> ids;
  for (const auto& v : arr(data, "message_ids")) ids.insert(std::string(v.as_string()));
  EXPECT_EQ(ids, (std::set<std::string>{str(old1, "id"), str(old2, "id")}));

  auto left = all_messages(api2, b2, limited);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(str(left[0], "id"), str(fresh, "id"));
  EXPECT_EQ(all_messages(api2, a2, kept).size(), 1u) << "no policy there: nothing goes";
  std::vector<std::string> expect{str(fresh, "id"), str(other, "id")};
  std::sort(expect.begin(), expect.end());
  EXPECT_EQ(search_ids(api2, a2, "walrus"), expect) << "expired messages leave the index";
  EXPECT_EQ(api2.get(msg_path(str(old1, "id")), a2.access).status, 404);

  EXPECT_EQ(download(api2, a2, str(fa, "id")).status, 404) << "its only message expired";
  EXPECT_FALSE(std::filesystem::exists(blob_a_path)) << "and its bytes are gone";
  EXPECT_EQ(download(api2, b2, str(fb, "id")).status, 200) << "a newer message still carries it";
  EXPECT_EQ(download(api2, a2, str(fc, "id")).status, 200) << "posted where no policy applies";
  EXPECT_EQ(sql_scalar(server.data_dir(), "SELECT count(*) FROM reactions"), "0");
}

// ---- export ----

struct ZipEntries {
  std::map<std::string, std::string> files;  // name -> bytes
};

ZipEntries read_zip(const std::string& bytes) {
  auto path = std::filesystem::temp_directory_path() /
              ("parley-export-" + std::to_string(::getpid()) + "-" + unique_name("z") + ".zip");
  {
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  ZipEntries z;
  unzFile uf = unzOpen64(path.c_str());
  EXPECT_NE(uf, nullptr) << "not a ZIP archive";
  if (uf) {
    for (int rc = unzGoToFirstFile(uf); rc == UNZ_OK; rc = unzGoToNextFile(uf)) {
      char name[512];
      unz_file_info64 info;
      unzGetCurrentFileInfo64(uf, &info, name, sizeof name, nullptr, 0, nullptr, 0);
      EXPECT_EQ(unzOpenCurrentFile(uf), UNZ_OK);
      std::string content;
      char buf[65536];
      for (int n; (n = unzReadCurrentFile(uf, buf, sizeof buf)) > 0;) content.append(buf, n);
      EXPECT_EQ(unzCloseCurrentFile(uf), UNZ_OK) << "CRC of " << name;
      z.files[name] = std::move(content);
    }
    unzClose(uf);
  }
  std::filesystem::remove(path);
  return z;
}

object wait_ready(Api& api, const Account& who, const std::string& id) {
  for (int i = 0; i < 600; ++i) {
    auto r = api.get("/api/v1/exports/" + id, who.access);
    if (r.status != 200) fail_reply("export status", r);
    auto e = field(r.json, "export")->as_object();
    if (str(e, "status") != "pending") return e;
    std::this_thread::sleep_for(50ms);
  }
  throw std::runtime_error("export never finished");
}

TEST(DataExport, ZipHoldsTheUsersMessagesAndFilesAndNobodyElsesPrivateData) {
  ServerProcess server;
  server.start();
  Api api(server.port());
  register_account(api, "exp");  // the first account is the system admin; alice is not
  auto alice = register_account(api, "exp");
  auto bob = register_account(api, "exp");
  auto carol = register_account(api, "exp");
  const std::string mine_bytes = "alice's own bytes " + random_bytes_of(200'000, 7);
  const std::string bobs_bytes = "bob's private bytes " + random_bytes_of(5000, 8);
  auto fa = upload(api, alice, mine_bytes, "notes/../plan.txt");
  auto fb = upload(api, bob, bobs_bytes, "bob.bin");
  const std::string shared = make_group(api, alice, {bob.id});
  const std::string theirs = make_group(api, bob, {carol.id});
  const std::string dm = make_dm(api, alice, carol.id);
  attach_send(api, alice, shared, "alice says hello", {str(fa, "id")});
  attach_send(api, bob, shared, "bob replies privately", {str(fb, "id")});
  send_ok(api, carol, theirs, "carol secret between bob and carol");
  send_ok(api, alice, dm, "alice to carol directly");

  auto req = api.post("/api/v1/users/me/export", object{}, alice.access);
  ASSERT_EQ(req.status, 202) << req;
  const std::string id = str(*field(req.json, "export"), "id");
  EXPECT_EQ(req.header("Location"), "/api/v1/exports/" + id);
  // Nobody else sees or downloads it.
  EXPECT_EQ(api.get("/api/v1/exports/" + id, bob.access).status, 404);
  EXPECT_EQ(api.get("/api/v1/exports/" + id + "/download", bob.access).status, 404);

  auto e = wait_ready(api, alice, id);
  ASSERT_EQ(str(e, "status"), "ready") << dump(e);
  auto dl = api.get(str(e, "download_url"), alice.access);
  ASSERT_EQ(dl.status, 200);
  EXPECT_EQ(dl.header("Content-Type"), "application/zip");
  EXPECT_EQ(static_cast<std::int64_t>(dl.body.size()), num(e, "size"));
  auto zip = read_zip(dl.body);

  ASSERT_TRUE(zip.files.count("profile.json")) << "entries: " << zip.files.size();
  EXPECT_NE(zip.files["profile.json"].find(alice.username), std::string::npos);
  ASSERT_TRUE(zip.files.count("messages.json"));
  auto msgs = boost::json::parse(zip.files["messages.json"]).as_array();
  std::set<std::string> texts, convs;
  for (const auto& m : msgs) {
    texts.insert(str(m, "text"));
    convs.insert(str(m, "conversation"));
  }
  EXPECT_EQ(texts, (std::set<std::string>{"alice says hello", "alice to carol directly"}));
  EXPECT_TRUE(convs.count(carol.username + ", " + alice.username) ||
              convs.count(alice.username + ", " + carol.username))
      << "a DM is named by its members";

  int file_entries = 0;
  for (const auto& [name, bytes] : zip.files) {
    if (name.rfind("files/", 0) == 0) {
      ++file_entries;
      EXPECT_EQ(name, "files/" + str(fa, "id") + "-notes_.._plan.txt") << "no path escapes";
      EXPECT_EQ(bytes, mine_bytes);
    }
    EXPECT_EQ(bytes.find("bob's private bytes"), std::string::npos) << name;
    EXPECT_EQ(bytes.find("bob replies privately"), std::string::npos) << name;
    EXPECT_EQ(bytes.find("carol secret"), std::string::npos) << name;
  }
  EXPECT_EQ(file_entries, 1);

  // Conversations are exported by system admins only.
  EXPECT_EQ(api.post("/api/v1/admin/conversations/" + shared + "/export", object{}, alice.access)
                .status,
            403);
  EXPECT_EQ(api.get("/api/v1/exports/01ARZ3NDEKTSV4RRFFQ69G5FAV", alice.access).status, 404);
}

// ---- administration of retention and exports ----

std::vector<object> audit_events(Api& api, const Account& admin, const std::string& action) {
  auto r = api.get("/api/v1/admin/audit?action=" + action, admin.access);
  if (r.status != 200) fail_reply("audit", r);
  std::vector<object> out;
  for (const auto& e : r.obj().at("events").as_array()) out.push_back(e.as_object());
  return out;
}

TEST(DataAdministration, GlobalRetentionCapsConversationsAndConversationExportsAreAudited) {
  ServerProcess server;
  server.start();
  Api api(server.port());
  auto admin = register_account(api, "adm");  // the first account is a system admin
  auto alice = register_account(api, "adm");
  auto bob = register_account(api, "adm");
  const std::string group = make_group(api, alice, {bob.id});
  send_ok(api, alice, group, "first words");
  send_ok(api, bob, group, "second words");

  auto put_global = [&](const Account& who, const value& days) {
    return api.call("PUT", "/api/v1/admin/retention", boost::json::serialize(object{{"days", days}}),
                    who.access);
  };
  EXPECT_EQ(put_global(alice, value(10)).status, 403);
  EXPECT_EQ(put_global(admin, value("ten")).status, 400);
  EXPECT_EQ(put_global(admin, value(0)).status, 422);
  auto set = put_global(admin, value(10));
  ASSERT_EQ(set.status, 200) << set;
  EXPECT_EQ(num(api.get("/api/v1/admin/retention", admin.access).json, "days"), 10);

  // A conversation may only delete sooner than the server.
  auto longer = api.call("PUT", conv_path(group) + "/retention",
                         boost::json::serialize(object{{"days", 20}}), alice.access);
  EXPECT_EQ(longer.status, 422) << longer;
  EXPECT_EQ(longer.error_field(), "days");
  auto shorter = api.call("PUT", conv_path(group) + "/retention",
                          boost::json::serialize(object{{"days", 5}}), alice.access);
  ASSERT_EQ(shorter.status, 200) << shorter;
  EXPECT_EQ(num(shorter.json, "global_days"), 10);
  EXPECT_EQ(num(shorter.json, "effective_days"), 5);
  EXPECT_EQ(audit_events(api, admin, "data.retention_changed").size(), 2u);

  // The admin exports the conversation (they are not a member of it).
  auto req = api.post("/api/v1/admin/conversations/" + group + "/export", object{}, admin.access);
  ASSERT_EQ(req.status, 202) << req;
  EXPECT_EQ(api.post("/api/v1/admin/conversations/01ARZ3NDEKTSV4RRFFQ69G5FAV/export", object{},
                     admin.access)
                .status,
            404);
  auto e = wait_ready(api, admin, str(*field(req.json, "export"), "id"));
  ASSERT_EQ(str(e, "status"), "ready") << dump(e);
  auto zip = read_zip(api.get(str(e, "download_url"), admin.access).body);
  ASSERT_TRUE(zip.files.count("conversation.json"));
  auto msgs = boost::json::parse(zip.files["messages.json"]).as_array();
  ASSERT_EQ(msgs.size(), 2u);
  EXPECT_EQ(str(msgs[0], "text"), "first words");
  EXPECT_EQ(str(msgs[0], "sender"), alice.username);
  EXPECT_EQ(str(msgs[1], "sender"), bob.username);

  auto user_export = api.post("/api/v1/users/me/export", object{}, bob.access);
  ASSERT_EQ(user_export.status, 202);
  auto exported = audit_events(api, admin, "data.exported");
  ASSERT_EQ(exported.size(), 2u);
  std::set<std::string> targets;
  for (const auto& ev : exported) targets.insert(str(ev, "target"));
  EXPECT_EQ(targets, (std::set<std::string>{"conversation:" + group, "user:" + bob.id}));
}

// ---- analytics ----

std::string utc_day(std::int64_t offset_days) {
  auto t = std::chrono::system_clock::now() + std::chrono::hours(24 * offset_days);
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

// RFC 4180 rows: quoted cells may hold commas, doubled quotes and line breaks.
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows(1);
  std::string cell;
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') cell += '"', ++i;
      else if (c == '"') quoted = false;
      else cell += c;
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      rows.back().push_back(cell), cell.clear();
    } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      rows.back().push_back(cell), cell.clear();
      rows.emplace_back();
      ++i;
    } else {
      cell += c;
    }
  }
  if (rows.back().empty()) rows.pop_back();
  return rows;
}

TEST(Analytics, RollupsCountAKnownDataSetAndOnlyAdminsSeeThem) {
  // --ai off: the assistant's account would be one more new user than the data set has.
  ServerProcess server({"--analytics-interval-ms", "100", "--analytics-lag-ms", "0", "--ai", "off"});
  server.start();
  Api api(server.port());
  auto admin = register_account(api, "ana");  // the first account
  auto u1 = register_account(api, "ana");
  auto u2 = register_account(api, "ana");
  const std::string busy = make_channel(api, u1, channel_name("busy"), "public");
  join(api, u2, busy);
  const std::string quiet = make_channel(api, u2, channel_name("quiet"), "private");
  const std::string dm = make_dm(api, u1, u2.id);
  for (int i = 0; i < 3; ++i) send_ok(api, u1, busy, "one " + std::to_string(i));
  for (int i = 0; i < 2; ++i) send_ok(api, u2, busy, "two " + std::to_string(i));
  send_ok(api, u2, quiet, "three");
  send_ok(api, u1, dm, "four");

  // The window spans yesterday to tomorrow, so a run across midnight still holds everything.
  const std::string range = "from=" + utc_day(-1) + "&to=" + utc_day(1);
  const std::string summary = "/api/v1/admin/analytics/summary?" + range;
  for (const auto& who : {u1, u2})
    EXPECT_EQ(api.get(summary, who.access).status, 403);
  EXPECT_EQ(api.get("/api/v1/admin/analytics/channels?" + range, u1.access).status, 403);
  EXPECT_EQ(api.get(summary).status, 401);

  std::int64_t messages = 0, new_users = 0;
  Reply r;
  for (int i = 0; i < 300 && messages < 7; ++i) {
    r = api.get(summary, admin.access);
    ASSERT_EQ(r.status, 200) << r;
    messages = new_users = 0;
    for (const auto& d : arr(r.json, "days")) {
      messages += num(d, "messages");
      new_users += num(d, "new_users");
    }
    if (messages < 7) std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(messages, 7) << r;
  EXPECT_EQ(new_users, 3) << r;
  EXPECT_EQ(arr(r.json, "days").size(), 3u) << "every day of the range, zeros included";
  EXPECT_EQ(num(r.json, "wau"), 2) << "two people sent messages";
  EXPECT_EQ(num(r.json, "mau"), 2);
  for (const auto& d : arr(r.json, "days"))
    if (num(d, "messages") > 0) EXPECT_EQ(num(d, "active_users"), 2);

  auto ch = api.get("/api/v1/admin/analytics/channels?" + range, admin.access);
  ASSERT_EQ(ch.status, 200) << ch;
  auto list = arr(ch.json, "channels");
  ASSERT_EQ(list.size(), 2u) << "direct messages are not channels: " << ch;
  EXPECT_EQ(str(list[0], "conversation_id"), busy) << "busiest first";
  EXPECT_EQ(num(list[0], "messages"), 5);
  EXPECT_EQ(num(list[0], "active_users"), 2);
  EXPECT_EQ(str(list[1], "conversation_id"), quiet);
  EXPECT_EQ(num(list[1], "messages"), 1);
  EXPECT_EQ(num(list[1], "active_users"), 1);

  // CSV: the same numbers, properly quoted rows.
  auto csv = api.get("/api/v1/admin/analytics/channels?" + range + "&format=csv", admin.access);
  ASSERT_EQ(csv.status, 200);
  EXPECT_EQ(csv.header("Content-Type").rfind("text/csv", 0), 0u);
  auto rows = parse_csv(csv.body);
  ASSERT_EQ(rows.size(), 3u) << csv.body;
  EXPECT_EQ(rows[0], (std::vector<std::string>{"conversation_id", "name", "messages", "active_users"}));
  EXPECT_EQ(rows[1][0], busy);
  EXPECT_EQ(rows[1][1], str(list[0], "name"));
  EXPECT_EQ(rows[1][2], "5");
  EXPECT_EQ(rows[1][3], "2");
  auto days_csv = parse_csv(api.get(summary + "&format=csv", admin.access).body);
  ASSERT_EQ(days_csv.size(), 4u);
  EXPECT_EQ(days_csv[0],
            (std::vector<std::string>{"date", "active_users", "messages", "new_users",
                                      "dm_messages", "group_messages", "channel_messages",
                                      "dm_responses", "dm_first_response_median_ms", "calls",
                                      "call_seconds", "files"}));
  EXPECT_EQ(days_csv[1][0], utc_day(-1));

  // Bad dates are a bad request.
  for (const std::string q : {"from=2026-13-01&to=2026-12-01", "from=2026-02-30&to=2026-03-01",
                              "from=2026-03-02&to=2026-03-01", "to=2026-03-01",
                              "from=yesterday&to=2026-03-01", "from=2020-01-01&to=2026-01-01",
                              "from=2026-01-01&to=2026-01-02&format=xml"}) {
    auto bad = api.get("/api/v1/admin/analytics/summary?" + q, admin.access);
    EXPECT_EQ(bad.status, 400) << q << ": " << bad;
    EXPECT_EQ(api.get("/api/v1/admin/analytics/channels?" + q, admin.access).status, 400) << q;
  }
}

// A seeded month: activity sent through the API, then moved (server stopped) onto known times
// over 30 days. The rollups read through the admin API must match counts taken straight from
// the database, and the DM's first-response medians those computed here from its rows.
TEST(Analytics, ASeededMonthMatchesCountsTakenFromTheData) {
  // The lag (an hour) keeps the job off everything while it is sent today; the moved rows are
  // all days old.
  ServerProcess server(
      {"--analytics-interval-ms", "100", "--analytics-lag-ms", "3600000", "--ai", "off"});
  server.start();
  Api api(server.port());
  auto admin = register_account(api, "mon");
  auto u1 = register_account(api, "mon");
  auto u2 = register_account(api, "mon");
  auto u3 = register_account(api, "mon");
  const std::string busy = make_channel(api, u1, channel_name("month"), "public");
  join(api, u2, busy);
  const std::string group = make_group(api, u1, {u2.id, u3.id});
  const std::string dm = make_dm(api, u1, u2.id);

  const std::int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  const std::int64_t base = (now / kDayMs - 33) * kDayMs;  // 00:00 UTC, 33 days ago
  const std::int64_t sec = 1000, hour = 3'600'000;
  std::vector<std::pair<std::string, std::int64_t>> moves;  // message id -> created_at
  auto sent = [&](const Account& who, const std::string& conv, const std::string& text,
                  std::int64_t at, const std::string& cmid = "") {
    auto r = send(api, who, conv, text, cmid);
    ASSERT_EQ(r.status, 201) << r;
    moves.emplace_back(r.str("id"), at);
  };
  for (int d = 0; d < 30; ++d) {
    sent(d % 2 ? u1 : u2, busy, "day " + std::to_string(d), base + d * kDayMs + 8 * hour);
    if (d % 3 == 0) sent(u3, group, "group " + std::to_string(d), base + d * kDayMs + 9 * hour);
  }
  // The DM, in its order: replies after 65 s, 185 s and 20 s on day 5; 82530 s on day 6; one
  // 14 days late (not counted) and 42 s after it on day 20. The call's message is no reply.
  const std::int64_t d5 = base + 5 * kDayMs + 10 * hour;
  sent(u1, dm, "hi", d5);
  sent(u1, dm, "there", d5 + 5 * sec);
  sent(u2, dm, "hello", d5 + 65 * sec);
  sent(u2, dm, "how are you", d5 + 70 * sec);
  // The call path posts the call's message through the same send path, as its starter, with a
  // client_msg_id clients may not use: sent here under another one, renamed in the data below.
  std::vector<std::pair<std::string, std::string>> call_posts;  // message id -> client_msg_id
  auto call_post = [&](const Account& who, const std::string& conv, const std::string& text,
                       std::int64_t at, const std::string& cmid) {
    auto forged = send(api, who, conv, text, cmid);
    EXPECT_EQ(forged.status, 422) << "a client posted as the call path: " << forged;
    sent(who, conv, text, at, "seed-" + cmid);
    call_posts.emplace_back(moves.back().first, cmid);
  };
  call_post(u1, dm, "📞 Audio call · 2:30", d5 + 100 * sec, "call-itest-1");
  sent(u1, dm, "fine", d5 + 250 * sec);
  sent(u2, dm, "good", d5 + 270 * sec);
  sent(u1, dm, "next morning", base + 6 * kDayMs + 9 * hour);
  sent(u2, dm, "two weeks on", base + 20 * kDayMs + 12 * hour);
  sent(u1, dm, "oh hi", base + 20 * kDayMs + 12 * hour + 42 * sec);
  call_post(u3, group, "📞 Missed video call", base + 7 * kDayMs + 11 * hour, "call-itest-2");
  std::vector<std::pair<std::string, std::int64_t>> file_moves;
  for (auto [who, day] : {std::pair{&u1, 3}, std::pair{&u2, 3}, std::pair{&u2, 15}}) {
    auto f = upload(api, *who, random_bytes_of(500, day), "m.bin");
    file_moves.emplace_back(str(f, "id"), base + day * kDayMs + 13 * hour);
  }

  server.stop();
  std::string sql;
  for (const auto& [id, at] : moves)
    sql += "UPDATE messages SET created_at = " + std::to_string(at) + " WHERE id = '" + id + "';";
  for (const auto& [id, cmid] : call_posts)
    sql += "UPDATE messages SET client_msg_id = '" + cmid + "' WHERE id = '" + id + "';";
  for (const auto& [id, at] : file_moves)
    sql += "UPDATE files SET created_at = " + std::to_string(at) + " WHERE id = '" + id + "';";
  int n = 0;
  for (const auto* u : {&u1, &u2, &u3})
    sql += "UPDATE users SET created_at = " + std::to_string(base + 2 * kDayMs + ++n * sec) +
           " WHERE id = '" + u->id + "';";
  run_sql(server.data_dir(), sql);

  // What the rollups must say, straight from the data.
  struct Want {
    std::int64_t messages = 0, dm = 0, group = 0, channel = 0, active = 0, new_users = 0,
                 calls = 0, call_seconds = 0, files = 0;
    std::vector<std::int64_t> replies;
  };
  std::map<std::string, Want> want;
  auto day_of = [](std::int64_t at) {
    std::time_t tt = at / 1000;
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[16];
    std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
    return std::string(buf);
  };
  const std::string window = " BETWEEN " + std::to_string(base) + " AND " +
                             std::to_string(base + 30 * kDayMs - 1);
  for (const auto& r : sql_rows(server.data_dir(),
                                "SELECT m.created_at, c.type, m.sender_id, m.client_msg_id"
                                " FROM messages m JOIN conversations c ON c.id = m.conversation_id"
                                " WHERE m.created_at" + window)) {
    auto& w = want[day_of(std::stoll(r[0]))];
    ++w.messages;
    ++(r[1] == "0" ? w.dm : r[1] == "2" ? w.channel : w.group);
    if (r[3].rfind("call-", 0) == 0) ++w.calls;
  }
  for (const auto& r : sql_rows(server.data_dir(),
                                "SELECT created_at / 86400000, count(DISTINCT sender_id)"
                                " FROM messages WHERE created_at" + window + " GROUP BY 1"))
    want[day_of(std::stoll(r[0]) * kDayMs)].active = std::stoll(r[1]);
  for (const auto& r : sql_rows(server.data_dir(),
                                "SELECT created_at FROM users WHERE created_at" + window))
    ++want[day_of(std::stoll(r[0]))].new_users;
  for (const auto& r : sql_rows(server.data_dir(),
                                "SELECT created_at FROM files WHERE created_at" + window))
    ++want[day_of(std::stoll(r[0]))].files;
  want[day_of(d5)].call_seconds = 150;
  // The DM's first responses, walked here from its rows: a message from the other person than
  // the last one answers the turn that began with the last person's first message of their run.
  std::string last_sender;
  std::int64_t turn_at = 0;
  std::vector<std::int64_t> every_reply;
  for (const auto& r : sql_rows(server.data_dir(),
                                "SELECT sender_id, created_at FROM messages WHERE conversation_id = '" +
                                    dm + "' AND client_msg_id NOT LIKE 'call-%'"
                                    " ORDER BY created_at, id")) {
    const std::int64_t at = std::stoll(r[1]);
    if (r[0] == last_sender) continue;
    if (!last_sender.empty() && at - turn_at <= 7 * kDayMs) {
      want[day_of(at)].replies.push_back(at - turn_at);
      every_reply.push_back(at - turn_at);
    }
    last_sender = r[0];
    turn_at = at;
  }
  ASSERT_EQ(every_reply, (std::vector<std::int64_t>{65 * sec, 185 * sec, 20 * sec, 82530 * sec,
                                                   42 * sec}));
  auto median = [](std::vector<std::int64_t> v) {
    std::sort(v.begin(), v.end());
    return (v[(v.size() - 1) / 2] + v[v.size() / 2]) / 2;
  };

  server.restart();
  Api api2(server.port());
  auto a2 = login_account(api2, admin);
  const std::string summary = "/api/v1/admin/analytics/summary?from=" + day_of(base) +
                              "&to=" + day_of(base + 29 * kDayMs);
  std::int64_t total = 0, files = 0, want_total = 0, want_files = 0;
  for (const auto& [day, w] : want) want_total += w.messages, want_files += w.files;
  ASSERT_EQ(want_total, 30 + 11 + 10) << "channel, group (with a call), DM (with a call)";
  Reply r;
  for (int i = 0; i < 300 && (total < want_total || files < want_files); ++i) {
    r = api2.get(summary, a2.access);
    ASSERT_EQ(r.status, 200) << r;
    total = files = 0;
    for (const auto& d : arr(r.json, "days")) total += num(d, "messages"), files += num(d, "files");
    if (total < want_total || files < want_files) std::this_thread::sleep_for(100ms);
  }
  ASSERT_EQ(total, want_total) << r;
  ASSERT_EQ(arr(r.json, "days").size(), 30u);
  for (const auto& d : arr(r.json, "days")) {
    const std::string day = str(d, "date");
    SCOPED_TRACE(day);
    Want w = want.count(day) ? want[day] : Want{};
    EXPECT_EQ(num(d, "messages"), w.messages);
    EXPECT_EQ(num(d, "dm_messages"), w.dm);
    EXPECT_EQ(num(d, "group_messages"), w.group);
    EXPECT_EQ(num(d, "channel_messages"), w.channel);
    EXPECT_EQ(num(d, "active_users"), w.active);
    EXPECT_EQ(num(d, "new_users"), w.new_users);
    EXPECT_EQ(num(d, "calls"), w.calls);
    EXPECT_EQ(num(d, "call_seconds"), w.call_seconds);
    EXPECT_EQ(num(d, "files"), w.files);
    EXPECT_EQ(num(d, "dm_responses"), static_cast<std::int64_t>(w.replies.size()));
    if (w.replies.empty()) {
      EXPECT_TRUE(is_null_or_absent(d, "dm_first_response_median_ms"));
    } else {
      const double exact = static_cast<double>(median(w.replies));
      EXPECT_NEAR(static_cast<double>(num(d, "dm_first_response_median_ms")), exact,
                  exact * 0.0225 + 1);
    }
  }
  EXPECT_EQ(num(r.json, "dm_responses"), 5);
  const double exact_all = static_cast<double>(median(every_reply));  // 65 s
  EXPECT_NEAR(static_cast<double>(num(r.json, "dm_first_response_median_ms")), exact_all,
              exact_all * 0.0225 + 1);

  // The CSV carries the same figures.
  auto rows = parse_csv(api2.get(summary + "&format=csv", a2.access).body);
  ASSERT_EQ(rows.size(), 31u);
  const auto& head = rows[0];
  auto col = [&](const std::string& name) {
    return static_cast<std::size_t>(std::find(head.begin(), head.end(), name) - head.begin());
  };
  const auto json_days = arr(r.json, "days");
  for (std::size_t i = 1; i < rows.size(); ++i) {
    const auto& d = json_days[i - 1];
    EXPECT_EQ(rows[i][col("date")], str(d, "date"));
    for (const char* k : {"dm_messages", "group_messages", "channel_messages", "calls",
                          "call_seconds", "files", "dm_responses"})
      EXPECT_EQ(rows[i][col(k)], std::to_string(num(d, k))) << k;
    EXPECT_EQ(rows[i][col("dm_first_response_median_ms")],
              is_null_or_absent(d, "dm_first_response_median_ms")
                  ? std::string()
                  : std::to_string(num(d, "dm_first_response_median_ms")));
  }
}

}  // namespace
}  // namespace parley::itest
