#include "modules/ai/openai_engine.h"

#include <algorithm>
#include <boost/json.hpp>

#include "modules/ai/replies.h"

namespace parley::ai {
namespace {

const char* language_name(const std::string& code) {
  static const std::pair<const char*, const char*> names[] = {
      {"en", "English"}, {"es", "Spanish"}, {"fr", "French"},   {"de", "German"},
      {"it", "Italian"}, {"pt", "Portuguese"}, {"ca", "Catalan"}, {"nl", "Dutch"},
      {"pl", "Polish"},  {"sv", "Swedish"}, {"ja", "Japanese"}, {"zh", "Chinese"}};
  for (const auto& [c, n] : names)
    if (code == c) return n;
  return nullptr;
}

}  // namespace

OpenAiEngine::OpenAiEngine(outbound::HttpFetcher& fetcher, OpenAiOptions options)
    : fetcher_(fetcher), opts_(std::move(options)) {
  while (!opts_.base_url.empty() && opts_.base_url.back() == '/') opts_.base_url.pop_back();
}

std::vector<LanguagePair> OpenAiEngine::pairs() const {
  std::vector<LanguagePair> out;
  for (const auto& a : opts_.languages)
    for (const auto& b : opts_.languages)
      if (a != b) out.push_back({a, b});
  std::sort(out.begin(), out.end(),
            [](const auto& x, const auto& y) { return x.code() < y.code(); });
  return out;
}

Result<std::string> OpenAiEngine::complete(const std::vector<ChatTurn>& turns,
                                           Deadline deadline) {
  boost::json::array messages;
  for (const auto& t : turns) messages.push_back({{"role", t.role}, {"content", t.content}});
  boost::json::object body{{"model", opts_.model},
                           {"messages", std::move(messages)},
                           {"temperature", 0.2},
                           {"max_tokens", opts_.max_tokens}};
  outbound::FetchRequest req;
  req.method = "POST";
  req.url = opts_.base_url + "/v1/chat/completions";
  req.headers = {{"Content-Type", "application/json"}, {"Accept", "application/json"}};
  if (!opts_.api_key.empty()) req.headers.push_back({"Authorization", "Bearer " + opts_.api_key});
  req.body = boost::json::serialize(body);
  req.user_agent = "Parley AI gateway";
  req.limits.max_redirects = 0;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0) return fail(Errc::unavailable, "the chat engine's time ran out");
  req.limits.timeout = left;
  auto got = fetcher_.fetch(req);
  if (!got) return fail(Errc::unavailable, "the chat engine did not answer: " + got.error().message);
  if (got->status < 200 || got->status > 299)
    return fail(Errc::unavailable,
                "the chat engine answered HTTP " + std::to_string(got->status));
  boost::system::error_code ec;
  auto v = boost::json::parse(got->body, ec);
  if (ec || !v.is_object()) return fail(Errc::unavailable, "the chat engine answered non-JSON");
  const auto* choices = v.as_object().if_contains("choices");
  if (!choices || !choices->is_array() || choices->as_array().empty())
    return fail(Errc::unavailable, "the chat engine answered no choices");
  const auto& first = choices->as_array()[0];
  const boost::json::value* content = nullptr;
  if (first.is_object())
    if (const auto* m = first.as_object().if_contains("message"); m && m->is_object())
      content = m->as_object().if_contains("content");
  if (!content || !content->is_string())
    return fail(Errc::unavailable, "the chat engine answered no message");
  return std::string(content->as_string());
}

Result<std::string> OpenAiEngine::translate(const std::string& text, const LanguagePair& pair,
                                            Deadline deadline) {
  const char* from = language_name(pair.from);
  const char* to = language_name(pair.to);
  if (!from || !to ||
      std::find(opts_.languages.begin(), opts_.languages.end(), pair.from) ==
          opts_.languages.end() ||
      std::find(opts_.languages.begin(), opts_.languages.end(), pair.to) ==
          opts_.languages.end())
    return fail(Errc::invalid_argument, "no translation for " + pair.code(), "to");
  return complete(
      {{"system", std::string("Translate the user's message from ") + from + " to " + to +
                      ". Answer with the translation only. Keep every token of the form XQ<n>X "
                      "exactly as it is."},
       {"user", text}},
      deadline);
}

Result<std::vector<std::string>> OpenAiEngine::suggest(const ReplyContext& context, int max,
                                                       Deadline deadline) {
  std::string convo;
  for (const auto& l : context.recent) convo += (l.mine ? "Me: " : "Them: ") + l.text + "\n";
  auto got = complete({{"system", "Suggest up to " + std::to_string(max) +
                                      " short, polite replies (at most 8 words each) that I "
                                      "could send next. One per line, no numbering."},
                       {"user", convo}},
                      deadline);
  if (!got) return fail(got.error());
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < got->size() && static_cast<int>(out.size()) < max) {
    auto end = got->find('\n', start);
    std::string line = got->substr(start, end == std::string::npos ? std::string::npos : end - start);
    start = end == std::string::npos ? got->size() : end + 1;
    // Drop list markers and quotes the model may add, and control characters.
    auto first = line.find_first_not_of(" \t-*\"0123456789.)");
    if (first == std::string::npos) continue;
    line = line.substr(first);
    while (!line.empty() && (line.back() == ' ' || line.back() == '"' || line.back() == '\r'))
      line.pop_back();
    line.erase(std::remove_if(line.begin(), line.end(),
                              [](char c) { return static_cast<unsigned char>(c) < 0x20; }),
               line.end());
    if (line.empty() || line.size() > 120 || is_offensive(line)) continue;
    out.push_back(line);
  }
  return out;
}

}  // namespace parley::ai
