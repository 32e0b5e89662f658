#include "adapters/cld2/cld2_detector.h"

#include <cld2/public/compact_lang_det.h>

#include <cstring>

namespace parley::cld2 {
namespace {

class Cld2Detector final : public ai::LanguageDetector {
 public:
  std::string name() const override { return "cld2"; }
  ai::Detection detect(const std::string& text) const override {
    CLD2::Language top3[3];
    int percent3[3];
    int text_bytes = 0;
    bool reliable = false;
    CLD2::Language lang = CLD2::DetectLanguageSummary(text.data(), static_cast<int>(text.size()),
                                                      true, top3, percent3, &text_bytes,
                                                      &reliable);
    if (lang == CLD2::UNKNOWN_LANGUAGE) return {"und", 0};
    std::string code = CLD2::LanguageCode(lang);
    // CLD2 names a few languages by longer codes ("zh-Hant"); the 639-1 part is what pairs use.
    if (auto dash = code.find('-'); dash != std::string::npos) code.resize(dash);
    const double share = percent3[0] / 100.0;
    return {code, reliable ? share : share * 0.5};
  }
};

}  // namespace

std::unique_ptr<ai::LanguageDetector> make_cld2_detector() {
  return std::make_unique<Cld2Detector>();
}

}  // namespace parley::cld2
