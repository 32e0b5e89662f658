// history and search: a store of --messages messages with realistic word frequencies, seeded
// once and cached, paged through and searched.
#include "load_generator.h"
#include "scenarios/chat.h"

namespace parley::bench {

namespace {

// Common English words; a message is 4 to 16 of them, drawn with Zipf frequencies (s = 1) over
// a fixed shuffle of this list, so word length and frequency are unrelated.
constexpr const char* kWords =
    "the be to of and a in that have it for not on with he as you do at this but his by from "
    "they we say her she or an will my one all would there their what so up out if about who "
    "get which go me when make can like time no just him know take people into year your good "
    "some could them see other than then now look only come its over think also back after use "
    "two how our work first well way even new want because any these give day most us is was "
    "are been has had were said did having may should call world school still try last ask need "
    "feel three state never become between high really something another family own leave put "
    "old while mean keep student why let great same big group begin seem country help talk where "
    "turn problem every start hand might american show part against place such again few case "
    "week company system each right program hear question during play government run small "
    "number off always move night live point believe hold today bring happen next without "
    "before large million must home under water room write mother area national money story "
    "young fact month different lot study book eye job word business issue side kind four head "
    "far black long both little house yes since provide service around friend important father "
    "sit away until power hour game often yet line political end among ever stand bad lose "
    "however member pay law meet car city almost include continue set later community much name "
    "five once white least president learn real change team minute best several idea kid body "
    "information nothing ago lead social understand whether watch together follow parent stop "
    "face anything create public already speak others read level allow add office spend door "
    "health person art sure war history party within grow result open morning walk reason low "
    "win research girl guy early food moment himself air teacher force offer enough education "
    "across although remember foot second boy maybe toward able age policy everything love "
    "process music including consider appear actually buy probably human wait serve market die "
    "send expect sense build stay fall nation plan cut college interest death course someone "
    "experience behind reach local kill six remain effect yeah suggest class control raise care "
    "perhaps late hard field else pass former sell major sometimes require along development "
    "themselves report role better economic effort decide rate strong possible heart drug show "
    "leader light voice wife whole police mind finally pull return free military price less "
    "according decision explain son hope develop view relationship carry town road drive arm "
    "true federal break difference thank receive value international building action full "
    "model join season society because tax director position player agree especially record "
    "pick wear paper special space ground form support event official whose matter everyone "
    "center couple site project hit base activity star table need court produce eat american "
    "teach oil half situation easy cost industry figure street image itself phone either data "
    "cover quite picture clear practice piece land recent describe product doctor wall patient "
    "worker news test movie certain north personal simply third technology catch step baby "
    "computer type attention draw film republican tree source organization hair window evidence "
    "population site bridge release deploy server kernel socket commit branch merge review "
    "ticket sprint design coffee lunch meeting deadline budget customer launch feature bugfix "
    "rollback backup cluster latency network browser mobile tablet invoice contract vacation "
    "weekend holiday birthday dinner concert garden weather summer winter spring autumn";

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

class Corpus {
 public:
  Corpus() {
    std::istringstream in(kWords);
    std::string w;
    std::map<std::string, bool> seen;
    while (in >> w)
      if (!seen[w]) {
        seen[w] = true;
        words_.push_back(w);
      }
    for (std::size_t i = words_.size(); i > 1; --i)  // a fixed Fisher-Yates shuffle
      std::swap(words_[i - 1], words_[splitmix64(i * 7919) % i]);
    double sum = 0;
    for (std::size_t r = 0; r < words_.size(); ++r) {
      sum += 1.0 / static_cast<double>(r + 1);
      cdf_.push_back(sum);
    }
    for (auto& c : cdf_) c /= sum;
  }
  const std::vector<std::string>& words() const { return words_; }

  // Word indices of message i (deterministic).
  void message_words(std::uint64_t i, std::vector<unsigned>& out) const {
    out.clear();
    std::uint64_t s = splitmix64(i ^ 0x5eed);
    unsigned n = 4 + static_cast<unsigned>(s % 13);
    for (unsigned k = 0; k < n; ++k) {
      s = splitmix64(s);
      double u = static_cast<double>(s >> 11) / 9007199254740992.0;
      auto it = std::lower_bound(cdf_.begin(), cdf_.end(), u);
      out.push_back(static_cast<unsigned>(
          std::min<std::size_t>(static_cast<std::size_t>(it - cdf_.begin()), words_.size() - 1)));
    }
  }
  std::string text(std::uint64_t i) const {
    std::vector<unsigned> idx;
    message_words(i, idx);
    std::string t;
    for (unsigned k : idx) {
      if (!t.empty()) t += ' ';
      t += words_[k];
    }
    return t;
  }

 private:
  std::vector<std::string> words_;
  std::vector<double> cdf_;
};

// Messages among the first n whose text contains each of `terms` as a substring (the trigram
// index matches substrings, so "art" also finds "party").
std::vector<std::uint64_t> substring_counts(const Corpus& c, std::uint64_t n,
                                            const std::vector<std::string>& terms) {
  std::vector<std::uint64_t> counts(terms.size());
  for (std::uint64_t i = 0; i < n; ++i) {
    std::string t = c.text(i);
    for (std::size_t k = 0; k < terms.size(); ++k)
      if (t.find(terms[k]) != std::string::npos) ++counts[k];
  }
  return counts;
}

// ---- history and search over a seeded store

struct SeedJob {
  const Corpus* corpus = nullptr;
  tcp::endpoint ep;
  std::string head;       // POST ... up to "Content-Length: "
  std::string read_head;  // POST .../read ... up to "Content-Length: "
  std::uint64_t total = 0;
  std::atomic<std::uint64_t> next{0}, done{0};
  std::atomic<unsigned> left{0};
  std::mutex mu;
  std::map<std::string, std::uint64_t> errors;
  void error(const std::string& e) {
    std::lock_guard lock(mu);
    ++errors[e];
  }
};

asio::awaitable<void> seeder(SeedJob& job) {
  auto c = std::make_shared<Conn>(co_await asio::this_coro::executor);
  asio::co_spawn(c->sock.get_executor(), watchdog(c, 60s), asio::detached);
  Window w;
  w.server = job.ep;
  w.end = Clock::now() + 24h;
  ThreadStats st;  // connect() reports into it; errors are copied to the job
  bool connected = false;
  std::int64_t last_seq = -1;
  unsigned since_read = 0;
  for (;;) {
    std::uint64_t i = job.next.fetch_add(1);
    if (i >= job.total) break;
    bool sent = false;
    for (int attempt = 0; attempt < 8 && !sent; ++attempt) {
      if (!connected) {
        connected = co_await connect(*c, w.server, st);
        if (!connected) continue;
      }
      std::string body = "{\"text\":\"" + job.corpus->text(i) + "\",\"client_msg_id\":\"s" +
                         std::to_string(i) + "\"}";
      std::string req = job.head + std::to_string(body.size()) + "\r\n\r\n" + body;
      HttpHead h;
      std::string err = co_await exchange(*c, req, h);
      if (!err.empty()) {
        job.error(err);
        connected = false;
        continue;
      }
      std::string_view rb(c->buf.data() + h.header_bytes, h.content_length);
      if (h.status == 201 || h.status == 200) {
        sent = true;
        last_seq = seq_in(rb);
      } else {
        job.error(status_error(h.status, rb));
      }
      c->consume(h.header_bytes + h.content_length);
    }
    if (sent)
      job.done.fetch_add(1, std::memory_order_relaxed);
    else
      job.error("message " + std::to_string(i) + " not stored after 8 attempts");
    // Like a client with the conversation open, mark it read now and then. The server scans
    // every message after the reader's last_read_seq that the reader did not send for each
    // unread_count it computes, on every send: without this, seeding slows down as O(n).
    if (sent && ++since_read >= 16 && last_seq > 0) {
      since_read = 0;
      std::string body = "{\"seq\":" + std::to_string(last_seq) + "}";
      std::string req = job.read_head + std::to_string(body.size()) + "\r\n\r\n" + body;
      HttpHead h;
      std::string err = co_await exchange(*c, req, h);
      if (!err.empty()) {
        job.error("read: " + err);
        connected = false;
        continue;
      }
      if (h.status != 200)
        job.error("read: " + status_error(h.status, std::string_view(c->buf.data() + h.header_bytes,
                                                                     h.content_length)));
      c->consume(h.header_bytes + h.content_length);
    }
  }
  for (auto& [k, v] : st.errors) job.error(k);
  c->finished = true;
  c->watchdog.cancel();
  c->reset();
}

struct Dataset {
  std::string username, password, conversation_id;
  std::uint64_t messages = 0;
};

constexpr const char* kDatasetVersion = "v1";

std::optional<Dataset> read_dataset_meta(const std::string& dir) {
  std::istringstream in(read_file(dir + "/meta"));
  Dataset d;
  std::string key, value, version;
  while (in >> key >> value) {
    if (key == "version") version = value;
    if (key == "username") d.username = value;
    if (key == "password") d.password = value;
    if (key == "conversation_id") d.conversation_id = value;
    if (key == "messages") d.messages = std::strtoull(value.c_str(), nullptr, 10);
  }
  if (version != kDatasetVersion || d.username.empty() || d.conversation_id.empty() ||
      d.messages == 0)
    return std::nullopt;
  return d;
}

// Starts a server on `data_dir`, registers one user, creates a channel and sends it `total`
// messages from the corpus over many keep-alive HTTP connections; stops the server cleanly.
std::optional<Dataset> seed_dataset(const Options& opt, const std::string& data_dir,
                                    const Corpus& corpus, std::uint64_t total) {
  ServerProcess srv;
  Options o = opt;
  o.server_flags.push_back("--workers");
  o.server_flags.push_back(std::to_string(opt.seed_workers));
  if (!srv.start(o, data_dir)) {
    std::printf("   the seeding server did not start\n");
    return std::nullopt;
  }
  tcp::endpoint ep(asio::ip::make_address_v4("127.0.0.1"), srv.port());
  Dataset d;
  d.username = "history";
  d.password = "history-password-1";
  auto reg = http_call(ep, "POST", "/api/v1/auth/register", "",
                       "{\"username\":\"" + d.username + "\",\"password\":\"" + d.password + "\"}");
  std::string token = json_at(reg.body, {"access_token"});
  if (!reg.ok() || token.empty()) {
    std::printf("   seeding: register failed: %s\n", reg.describe().c_str());
    return std::nullopt;
  }
  Env e;
  e.nodes = {{srv.pid(), ep}};
  d.conversation_id =
      create_conversation(e, token, "{\"type\":\"channel\",\"name\":\"bench-history\"}");
  if (d.conversation_id.empty()) return std::nullopt;

  SeedJob job;
  job.corpus = &corpus;
  job.ep = ep;
  job.total = total;
  job.head = "POST /api/v1/conversations/" + d.conversation_id +
             "/messages HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(srv.port()) +
             "\r\nAuthorization: Bearer " + token +
             "\r\nContent-Type: application/json\r\nContent-Length: ";
  job.read_head = "POST /api/v1/conversations/" + d.conversation_id +
                  "/read HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(srv.port()) +
                  "\r\nAuthorization: Bearer " + token +
                  "\r\nContent-Type: application/json\r\nContent-Length: ";
  // The access token lasts 15 minutes; a seeding run must end well before that.
  const unsigned conns = opt.seed_conns;
  Loops loops(std::max(1u, std::min(2u, usable_cores())));
  job.left = conns;
  auto t0 = Clock::now();
  auto pid = srv.pid();
  Snapshot s0 = snapshot(pid);
  for (unsigned i = 0; i < conns; ++i)
    asio::co_spawn(
        loops.at(i),
        [&job]() -> asio::awaitable<void> {
          co_await seeder(job);
          job.left.fetch_sub(1);
        },
        asio::detached);
  auto last = t0;
  std::uint64_t last_done = 0;
  while (job.left.load() > 0) {
    std::this_thread::sleep_for(100ms);
    if (Clock::now() - last >= 10s) {
      auto now = Clock::now();
      std::uint64_t d1 = job.done.load();
      std::printf("   seeding: %llu of %llu stored, %.0f /s\n", static_cast<unsigned long long>(d1),
                  static_cast<unsigned long long>(total),
                  (d1 - last_done) / std::chrono::duration<double>(now - last).count());
      std::fflush(stdout);
      last = now;
      last_done = d1;
    }
  }
  Snapshot s1 = snapshot(pid);
  loops.stop();
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf(
      "   seeded %llu messages in %.1f s: %.0f /s over %u HTTP connections, server with %u "
      "workers; CPU: server %.2f cores [workers %.2f, sqlite-writer %.2f], load generator "
      "%.2f; errors: %s\n",
      static_cast<unsigned long long>(job.done.load()), secs, job.done.load() / secs, conns,
      opt.seed_workers, (s1.server.total - s0.server.total) / secs,
      (s1.server.worker - s0.server.worker) / secs, (s1.server.writer - s0.server.writer) / secs,
      (s1.self - s0.self) / secs, errors_line(job.errors).c_str());
  d.messages = job.done.load();
  std::printf("   seeding server %s\n", srv.stop().c_str());
  if (d.messages < total) return std::nullopt;
  return d;
}

void copy_tree(const std::string& from, const std::string& to) {
  std::error_code ec;
  std::filesystem::create_directories(to, ec);
  std::filesystem::copy(
      from, to,
      std::filesystem::copy_options::recursive | std::filesystem::copy_options::overwrite_existing,
      ec);
  if (ec) std::printf("   copying %s failed: %s\n", from.c_str(), ec.message().c_str());
}

std::uint64_t tree_bytes(const std::string& dir) {
  std::uint64_t n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
    if (it->is_regular_file(ec)) n += it->file_size(ec);
  return n;
}

}  // namespace

void run_history_search(Env& env) {
  const Options& opt = *env.opt;
  const std::string& tmp_dir = env.tmp_dir;
  const unsigned cores = env.cores, threads = env.threads;
  std::vector<Result>& results = *env.results;
  std::vector<std::string>& headlines = *env.headlines;
  const std::uint64_t total = opt.messages;
  std::printf("\n== history and search over %llu stored messages (one channel)\n",
              static_cast<unsigned long long>(total));
  Corpus corpus;
  std::string cache = opt.cache_dir + "/history-" + kDatasetVersion + "-" + std::to_string(total);
  std::optional<Dataset> ds;
  if (!opt.no_cache && !opt.reseed) ds = read_dataset_meta(cache);
  std::string run_dir = tmp_dir + "/history";
  if (ds) {
    std::printf("   using the seeded store cached in %s (%.0f MiB; --reseed to rebuild)\n",
                cache.c_str(), tree_bytes(cache + "/data") / 1048576.0);
    auto t0 = Clock::now();
    copy_tree(cache + "/data", run_dir);
    std::printf("   copied in %.1f s\n", std::chrono::duration<double>(Clock::now() - t0).count());
  } else {
    std::printf(
        "   seeding %llu messages (%zu-word vocabulary, Zipf frequencies, 4-16 words each)\n",
        static_cast<unsigned long long>(total), corpus.words().size());
    ds = seed_dataset(opt, run_dir, corpus, total);
    if (!ds) {
      std::printf("   seeding failed; history and search skipped\n");
      return;
    }
    if (!opt.no_cache) {
      std::error_code ec;
      std::filesystem::remove_all(cache, ec);
      copy_tree(run_dir, cache + "/data");
      std::ofstream meta(cache + "/meta");
      meta << "version " << kDatasetVersion << "\nusername " << ds->username << "\npassword "
           << ds->password << "\nconversation_id " << ds->conversation_id << "\nmessages "
           << ds->messages << "\n";
      std::printf("   cached the seeded store in %s (%.0f MiB)\n", cache.c_str(),
                  tree_bytes(cache + "/data") / 1048576.0);
    }
  }
  std::printf("   store on disk: %.0f MiB\n", tree_bytes(run_dir) / 1048576.0);

  ServerProcess srv;
  if (!srv.start(opt, run_dir)) {
    std::printf("   the server did not start on the seeded store\n");
    return;
  }
  pid_t pid = srv.pid();
  tcp::endpoint ep(asio::ip::make_address_v4("127.0.0.1"), srv.port());
  auto login =
      http_call(ep, "POST", "/api/v1/auth/login", "",
                "{\"username\":\"" + ds->username + "\",\"password\":\"" + ds->password + "\"}");
  std::string token = json_at(login.body, {"access_token"});
  if (!login.ok() || token.empty()) {
    std::printf("   login failed: %s\n", login.describe().c_str());
    return;
  }
  const std::string cid = ds->conversation_id;
  auto conv = http_call(ep, "GET", "/api/v1/conversations/" + cid, token, "");
  std::uint64_t last_seq = std::strtoull(json_at(conv.body, {"last_seq"}).c_str(), nullptr, 10);
  std::printf("   server %d on the seeded store: conversation %s, last_seq %llu\n",
              static_cast<int>(pid), cid.c_str(), static_cast<unsigned long long>(last_seq));
  if (last_seq < 100) {
    std::printf("   the seeded conversation is missing or too short (%s)\n",
                conv.describe().c_str());
    return;
  }
  const std::string auth = "Authorization: Bearer " + token + "\r\n";
  // The reader has read everything (see the seeder: unread counts are costly).
  auto rd = http_call(ep, "POST", "/api/v1/conversations/" + cid + "/read", token,
                      "{\"seq\":" + std::to_string(last_seq) + "}");
  std::printf("   reader marked the conversation read: %s\n",
              rd.ok() ? "ok" : rd.describe().c_str());

  if (opt.wants("history")) {
    HttpScenario sc;
    sc.pick = HttpScenario::Pick::cycle;
    for (std::uint64_t k = 0; k < 8192; ++k) {
      std::uint64_t before = 2 + splitmix64(k + 77) % last_seq;  // 2 .. last_seq + 1
      sc.requests.push_back(http_request("GET",
                                         "/api/v1/conversations/" + cid + "/messages?before_seq=" +
                                             std::to_string(before) + "&limit=50",
                                         srv.port(), auth, ""));
    }
    auto sample = http_call(ep, "GET",
                            "/api/v1/conversations/" + cid + "/messages?before_seq=" +
                                std::to_string(last_seq / 2) + "&limit=50",
                            token, "");
    std::printf("   a page: HTTP %d, %zu bytes\n", sample.status, sample.body.size());
    auto r = run_scenario("history", opt.read_conns, threads, pid, ep, opt.warmup, opt.seconds,
                          false, [&](const Window& w, ThreadStats& st, unsigned c) {
                            return http_connection(sc, w, st, c, opt.read_conns);
                          });
    r.what = "GET /conversations/{id}/messages?before_seq=<random>&limit=50 over " +
             std::to_string(last_seq) + " messages, keep-alive, closed loop";
    print_result(r, cores);
    char line[400];
    std::snprintf(line, sizeof line,
                  "history page (50 messages, random before_seq, %llu stored, %u connections): "
                  "%.0f pages/s, p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms",
                  static_cast<unsigned long long>(last_seq), opt.read_conns, r.rate(),
                  percentile_ms(r.latency_ns, 0.5), percentile_ms(r.latency_ns, 0.99),
                  percentile_ms(r.latency_ns, 0.999));
    headlines.push_back(line);
    results.push_back(std::move(r));
  }

  if (opt.wants("search")) {
    // Candidate terms: words of 5+ letters; exact substring frequencies over the corpus.
    std::vector<std::string> cand;
    for (const auto& w : corpus.words())
      if (w.size() >= 5) cand.push_back(w);
    std::uint64_t scan = std::min<std::uint64_t>(total, 200'000);  // a sample suffices
    auto t0 = Clock::now();
    auto counts = substring_counts(corpus, scan, cand);
    std::vector<std::pair<double, std::string>> freq;  // fraction of messages, word
    for (std::size_t i = 0; i < cand.size(); ++i)
      freq.push_back({static_cast<double>(counts[i]) / static_cast<double>(scan), cand[i]});
    std::printf("   term frequencies from %llu messages in %.1f s\n",
                static_cast<unsigned long long>(scan),
                std::chrono::duration<double>(Clock::now() - t0).count());
    struct Band {
      const char* name;
      double target;  // fraction of messages matching
    };
    for (Band b : {Band{"search 1%", 0.01}, Band{"search 0.1%", 0.001}, Band{"search 10%", 0.1}}) {
      std::sort(freq.begin(), freq.end(), [&](const auto& x, const auto& y) {
        return std::fabs(std::log(x.first + 1e-9) - std::log(b.target)) <
               std::fabs(std::log(y.first + 1e-9) - std::log(b.target));
      });
      std::vector<std::pair<double, std::string>> terms(
          freq.begin(), freq.begin() + std::min<std::size_t>(6, freq.size()));
      HttpScenario sc;
      sc.pick = HttpScenario::Pick::cycle;
      std::string list;
      for (const auto& [f, w] : terms) {
        sc.requests.push_back(http_request("GET", "/api/v1/search/messages?q=" + w + "&limit=20",
                                           srv.port(), auth, ""));
        list += (list.empty() ? "" : ", ") + w + " " + fmt("%.2f%%", f * 100);
      }
      auto sample = http_call(
          ep, "GET", "/api/v1/search/messages?q=" + terms[0].second + "&limit=20", token, "");
      std::printf(
          "\n   %s terms (share of messages containing them): %s; a response: HTTP %d, %zu bytes\n",
          b.name, list.c_str(), sample.status, sample.body.size());
      double secs = b.target == 0.01 ? opt.seconds : std::max(2.0, opt.seconds / 2);
      auto r = run_scenario(b.name, opt.search_conns, threads, pid, ep, opt.warmup, secs, false,
                            [&](const Window& w, ThreadStats& st, unsigned c) {
                              return http_connection(sc, w, st, c, opt.search_conns);
                            });
      r.what = "GET /search/messages?q=<one word matching ~" + fmt("%g", b.target * 100) + "% of " +
               std::to_string(last_seq) + " messages>&limit=20, closed loop";
      print_result(r, cores);
      char line[400];
      std::snprintf(line, sizeof line,
                    "%s of %llu messages (%u connections): %.0f searches/s, p50 %.2f ms, "
                    "p99 %.2f ms, p99.9 %s ms",
                    b.name, static_cast<unsigned long long>(last_seq), opt.search_conns, r.rate(),
                    percentile_ms(r.latency_ns, 0.5), percentile_ms(r.latency_ns, 0.99),
                    r.has_p999 ? fmt("%.2f", percentile_ms(r.latency_ns, 0.999)).c_str() : "n/a");
      headlines.push_back(line);
      results.push_back(std::move(r));
    }
  }
  std::printf("\n   history/search server %s\n", srv.stop().c_str());
}

}  // namespace parley::bench
