#include "ws_fleet.h"

#include <poll.h>
#include <sys/resource.h>

#include <algorithm>

#include "chat_support.h"

namespace parley::itest {

using namespace chat;

long raise_fd_limit() {
  rlimit lim{};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &lim);
  ::getrlimit(RLIMIT_NOFILE, &lim);
  return static_cast<long>(lim.rlim_cur);
}

void FleetClient::saw(std::int64_t seq) {
  seqs.insert(seq);
  auto c = contiguous.load();
  while (seqs.count(c + 1)) ++c;
  contiguous = c;
}

// The clients of one thread: it connects them, reads their frames with poll(), and reconnects
// the dropped ones after their backoff.
class Fleet::Driver {
 public:
  Driver(Fleet& fleet, std::vector<FleetClient*> clients, std::uint64_t seed)
      : fleet_(fleet), clients_(std::move(clients)), rng_(seed) {}

  void run() {
    auto next_churn = Clock::now() + fleet_.churn_;
    std::size_t churn_at = 0;
    int drops_done = 0;
    while (!fleet_.stop_) {
      if (drops_done != fleet_.drop_generation_.load()) {
        drops_done = fleet_.drop_generation_.load();
        for (auto* c : clients_)
          if (c->ws) {
            c->ws->abort();
            drop(*c);
          }
      }
      const auto now = Clock::now();
      for (auto* c : clients_)
        if (!c->ws && now >= c->next_attempt) connect(*c);
      if (fleet_.churn_.count() > 0 && now >= next_churn && !clients_.empty()) {
        next_churn = now + fleet_.churn_;
        auto* c = clients_[churn_at++ % clients_.size()];
        if (c->ws) {
          c->ws->abort();
          drop(*c);
        }
      }
      std::vector<pollfd> fds;
      std::vector<FleetClient*> owners;
      for (auto* c : clients_)
        if (c->ws) {
          fds.push_back({c->ws->fd(), POLLIN, 0});
          owners.push_back(c);
        }
      ::poll(fds.data(), fds.size(), 20);
      for (std::size_t i = 0; i < fds.size(); ++i)
        if (fds[i].revents) serve(*owners[i]);
    }
  }

  std::string error() const { return error_; }

 private:
  void drop(FleetClient& c) {
    c.ws.reset();
    schedule_retry(c);
  }
  void schedule_retry(FleetClient& c) {
    auto cap = std::min<std::chrono::milliseconds>(
        kFleetBackoffCap, kFleetBackoffBase * (1 << std::min(c.attempts, 10)));
    std::uniform_int_distribution<long> jitter(0, cap.count());
    c.next_attempt = Clock::now() + std::chrono::milliseconds(jitter(rng_));
    ++c.attempts;
  }

  void connect(FleetClient& c) {
    const auto token = fleet_.account(c.account).access;
    c.ws = wire::WireSocket::connect(fleet_.port_.load(), 2s);
    if (!c.ws || !c.ws->handshake(5s).empty() ||
        !c.ws->send_text(boost::json::serialize(object{{"type", "hello"}, {"token", token}}))) {
      c.ws.reset();
      schedule_retry(c);
    }
  }

  // Reads what arrived on one client's socket.
  void serve(FleetClient& c) {
    bool open = c.ws->pump();
    while (auto f = c.ws->pop_frame()) {
      if (f->opcode == wire::kPing) {
        c.ws->write({wire::kPong, f->payload});
      } else if (f->opcode == wire::kClose) {
        // 1012 from a server draining, or a cap or admission refusal: answer and go.
        c.ws->write({wire::kClose, f->payload.substr(0, 2)});
        return drop(c);
      } else if (f->opcode == wire::kText) {
        handle_text(c, f->payload);
      }
    }
    if (!c.ws->violation().empty() && error_.empty()) error_ = c.ws->violation();
    if (!open) drop(c);
  }

  void handle_text(FleetClient& c, const std::string& text) {
    boost::system::error_code ec;
    auto v = boost::json::parse(text, ec);
    if (ec) return;
    auto type = str(v, "type");
    if (type == "ready") {
      ++c.readies;
      c.attempts = 0;
      catch_up(c);
    } else if (type == "event" && str(v, "event") == "message.created") {
      const auto* d = field(v, "data");
      if (d && str(*d, "conversation_id") == fleet_.conv_) c.saw(num(*d, "seq"));
    }
  }

  // What a reconnecting client does: fetch every message after the last one it has.
  void catch_up(FleetClient& c) {
    if (!api_ || api_port_ != fleet_.port_.load()) {
      api_port_ = fleet_.port_.load();
      api_ = std::make_unique<Api>(api_port_);
    }
    const auto who = fleet_.account(c.account);
    std::int64_t after = c.contiguous.load();
    for (int pages = 0; pages < 1000; ++pages) {
      auto r =
          history(*api_, who, fleet_.conv_, "after_seq=" + std::to_string(after) + "&limit=200");
      if (r.status != 200) {  // a server going away again: the socket will tell
        if (error_.empty() && r.status >= 400) error_ = "catch-up: " + r.body.substr(0, 200);
        return;
      }
      auto msgs = arr(r.json, "messages");
      for (const auto& m : msgs) {
        if (!c.seqs.count(num(m, "seq"))) ++c.fetched;
        c.saw(num(m, "seq"));
      }
      if (!flag(r.json, "has_more") || msgs.empty()) return;
      after = num(msgs.back(), "seq");
    }
  }

  Fleet& fleet_;
  std::vector<FleetClient*> clients_;
  std::mt19937_64 rng_;
  std::unique_ptr<Api> api_;
  std::uint16_t api_port_ = 0;
  std::string error_;
};

Fleet::Fleet(int n, std::vector<Account> accounts, std::string conv,
             std::atomic<std::uint16_t>& port, int threads)
    : clients_(static_cast<std::size_t>(n)),
      accounts_(std::move(accounts)),
      conv_(std::move(conv)),
      port_(port),
      threads_(std::max(1, threads)) {
  for (int i = 0; i < n; ++i)
    clients_[static_cast<std::size_t>(i)].account = i % static_cast<int>(accounts_.size());
}

Fleet::~Fleet() { stop(); }

Account Fleet::account(int i) const {
  std::lock_guard lock(accounts_mu_);
  return accounts_.at(static_cast<std::size_t>(i));
}

void Fleet::set_account(int i, Account a) {
  std::lock_guard lock(accounts_mu_);
  accounts_.at(static_cast<std::size_t>(i)) = std::move(a);
}

void Fleet::start() {
  for (int t = 0; t < threads_; ++t) {
    std::vector<FleetClient*> mine;
    for (std::size_t i = static_cast<std::size_t>(t); i < clients_.size();
         i += static_cast<std::size_t>(threads_))
      mine.push_back(&clients_[i]);
    drivers_.push_back(
        std::make_unique<Driver>(*this, std::move(mine), 0x5eed + static_cast<std::uint64_t>(t)));
  }
  for (auto& d : drivers_) pool_.emplace_back([&d] { d->run(); });
}

void Fleet::stop() {
  stop_ = true;
  for (auto& t : pool_) t.join();
  pool_.clear();
}

bool Fleet::wait_all_have(std::int64_t seq, Clock::time_point deadline) const {
  for (;;) {
    if (lagging(seq) == 0) return true;
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
}

long Fleet::lagging(std::int64_t seq) const {
  return std::count_if(clients_.begin(), clients_.end(),
                       [&](const FleetClient& c) { return c.contiguous.load() < seq; });
}

std::string Fleet::error() const {
  for (const auto& d : drivers_)
    if (!d->error().empty()) return d->error();
  return {};
}

}  // namespace parley::itest
