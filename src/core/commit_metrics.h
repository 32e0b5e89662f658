// Storage and worker-pool latency histograms, shared by the storage adapters (SQLite writer,
// PostgreSQL send batcher) and the worker pool. Labels have fixed values only.
#pragma once

#include <cstddef>
#include <string_view>

namespace parley::metrics {

// One group commit: how long it took (BEGIN to durable COMMIT) and how many writes it held.
// engine: "sqlite" or "postgres".
void observe_commit(std::string_view engine, double seconds, std::size_t group_size);
// How long a task waited in a worker pool's queue before a thread took it. pool: the pool's
// name (a handful, fixed at start).
void observe_pool_wait(std::string_view pool, double seconds);

}  // namespace parley::metrics
