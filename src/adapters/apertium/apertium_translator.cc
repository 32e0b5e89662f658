#include "adapters/apertium/apertium_translator.h"

#include <algorithm>
#include <filesystem>
#include <map>

#include "core/subprocess.h"

namespace parley::apertium {
namespace {

// Apertium names languages by ISO 639-3 in newer pairs (eng-spa) and 639-1 in older ones.
std::string iso1(const std::string& code) {
  static const std::map<std::string, std::string> three = {
      {"eng", "en"}, {"spa", "es"}, {"cat", "ca"}, {"fra", "fr"}, {"por", "pt"},
      {"glg", "gl"}, {"ita", "it"}, {"deu", "de"}, {"oci", "oc"}, {"eus", "eu"},
      {"nld", "nl"}, {"ron", "ro"}, {"arg", "an"}, {"ast", "ast"}, {"epo", "eo"}};
  if (code.size() == 2) return code;
  auto it = three.find(code);
  return it == three.end() ? "" : it->second;
}

constexpr std::size_t kMaxOutput = 1 << 20;

class ApertiumTranslator final : public ai::Translator {
 public:
  explicit ApertiumTranslator(ApertiumOptions o) : opts_(std::move(o)) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(opts_.modes_dir, ec)) {
      const auto file = entry.path().filename().string();
      if (entry.path().extension() != ".mode") continue;
      const auto mode = file.substr(0, file.size() - 5);
      if (mode.find('_') != std::string::npos) continue;  // a variant (eng-cat_valencia)
      auto dash = mode.find('-');
      if (dash == std::string::npos || mode.find('-', dash + 1) != std::string::npos) continue;
      auto from = iso1(mode.substr(0, dash));
      auto to = iso1(mode.substr(dash + 1));
      if (from.empty() || to.empty()) continue;
      ai::LanguagePair p{from, to};
      if (!modes_.count(p.code())) {
        modes_[p.code()] = mode;
        pairs_.push_back(p);
      }
    }
    std::sort(pairs_.begin(), pairs_.end(),
              [](const auto& a, const auto& b) { return a.code() < b.code(); });
  }

  std::string name() const override { return "apertium"; }
  std::vector<ai::LanguagePair> pairs() const override { return pairs_; }

  Result<std::string> translate(const std::string& text, const ai::LanguagePair& pair,
                                ai::Deadline deadline) override {
    auto it = modes_.find(pair.code());
    if (it == modes_.end())
      return fail(Errc::invalid_argument, "the pair " + pair.code() + " is not installed", "to");
    return run({opts_.program, "-u", it->second}, text, deadline);
  }

 private:
  // The program's stdout, or unavailable. Apertium ends its output with the input's final
  // newline, or adds none; the input's is kept.
  static Result<std::string> run(const std::vector<std::string>& args, const std::string& input,
                                 ai::Deadline deadline) {
    auto out = process::run(args, input, {deadline, kMaxOutput});
    if (!out) return fail(Errc::unavailable, "apertium: " + out.error().message);
    std::string result = std::move(*out);
    while (!result.empty() && result.back() == '\n' && (input.empty() || input.back() != '\n'))
      result.pop_back();
    return result;
  }

  ApertiumOptions opts_;
  std::map<std::string, std::string> modes_;  // "en-es" -> "eng-spa"
  std::vector<ai::LanguagePair> pairs_;
};

}  // namespace

std::unique_ptr<ai::Translator> make_apertium_translator(ApertiumOptions options) {
  return std::make_unique<ApertiumTranslator>(std::move(options));
}

}  // namespace parley::apertium
