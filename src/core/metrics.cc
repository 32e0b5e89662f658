#include "core/metrics.h"

#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace parley::metrics {

prometheus::Registry& registry() {
  static auto* r = new prometheus::Registry();  // never destroyed: recorded into until exit
  return *r;
}

std::string render_text() {
  prometheus::TextSerializer s;
  return s.Serialize(registry().Collect());
}

}  // namespace parley::metrics
