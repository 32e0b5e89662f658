// The chat scenarios, a group per file, private to parley_bench: parley_bench.cc's table runs them
// in order against the server main started and the users it registered (Env); history, search
// and scaleout start servers of their own under env.tmp_dir. Each prints its figures as it goes
// and appends its Results (env.results) and summary lines (env.headlines). They block the
// calling thread; what they cannot do (too few users, a server that did not start) they print
// and skip.
#pragma once

#include "load_generator.h"

namespace parley::bench {

// http.cc: one operation in a closed loop on many connections.
void run_login(Env& env);   // POST /auth/login, users in turn (Argon2id-bound by design)
void run_health(Env& env);  // GET /health: the HTTP stack alone, a reference
void run_me(Env& env);      // GET /users/me with a bearer token
void run_ws(Env& env);      // WebSocket connect, upgrade, hello -> ready, close

// idle.cc: as many idle authenticated WebSockets as the descriptor limits allow, and the
// server's memory for each (env.idle_kb). Runs first, while the server's heap holds nothing else.
void run_idle(Env& env);

// fanout.cc: one sender, n receivers in one channel: closed loop, then at half that rate, and
// with at_20k at a fixed 20,000 deliveries/s (not in scaleout, which compares two configs).
void run_fanout(Env& env, unsigned n, bool at_20k = true);

// durable.cc: all three variants, or (ws_many_only, for comparing clusters) WebSocket sends into
// own DMs, with one_conversation also HTTP sends into one shared channel.
void run_durable(Env& env, bool ws_many_only = false, bool one_conversation = false);

// search.cc: history paging and search over a seeded store (cached between runs).
void run_history_search(Env& env);

// scaleout.cc: fan-out and durable sends on one node (SQLite, PostgreSQL) and on a cluster.
void run_scaleout(Env& env);

}  // namespace parley::bench
