// The driver fuzz targets link in `make test` (no libFuzzer there): runs every seed file of the
// target's corpus, then a fixed-seed stream of mutations of those seeds, through
// LLVMFuzzerTestOneInput. Deterministic, bounded, and a crash or sanitizer report fails the test.
// `make fuzz` links the same targets with libFuzzer instead, for open-ended fuzzing.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

void run(const std::string& input) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(input.data()), input.size());
}

std::string mutate(std::string s, std::mt19937_64& rng, const std::vector<std::string>& seeds) {
  const int edits = 1 + static_cast<int>(rng() % 8);
  for (int e = 0; e < edits; ++e) {
    switch (rng() % 6) {
      case 0:  // flip a byte
        if (!s.empty()) s[rng() % s.size()] = static_cast<char>(rng());
        break;
      case 1:  // insert a byte, often a structural one
        s.insert(s.begin() + static_cast<long>(s.empty() ? 0 : rng() % (s.size() + 1)),
                 "{}[]\",:%./\\\x80\xff\0"[rng() % 16]);
        break;
      case 2:  // delete a run
        if (!s.empty()) {
          auto at = rng() % s.size();
          s.erase(at, 1 + rng() % std::min<std::size_t>(16, s.size() - at));
        }
        break;
      case 3:  // duplicate a run
        if (!s.empty()) {
          auto at = rng() % s.size();
          s.insert(at, s.substr(at, 1 + rng() % 32));
        }
        break;
      case 4:  // splice in part of another seed
        if (!seeds.empty()) {
          const auto& o = seeds[rng() % seeds.size()];
          if (!o.empty()) s.insert(rng() % (s.size() + 1), o.substr(rng() % o.size(), 24));
        }
        break;
      default:  // truncate
        if (!s.empty()) s.resize(rng() % s.size());
    }
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR [MUTATIONS]\n", argv[0]);
    return 2;
  }
  std::vector<std::string> seeds;
  for (const auto& entry : std::filesystem::directory_iterator(argv[1])) {
    std::ifstream in(entry.path(), std::ios::binary);
    seeds.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  for (const auto& s : seeds) run(s);
  const long mutations = argc > 2 ? std::stol(argv[2]) : 20000;
  std::mt19937_64 rng(20261125);
  for (long i = 0; i < mutations && !seeds.empty(); ++i)
    run(mutate(seeds[rng() % seeds.size()], rng, seeds));
  std::printf("%zu seeds and %ld mutations ran clean\n", seeds.size(), mutations);
  return 0;
}
