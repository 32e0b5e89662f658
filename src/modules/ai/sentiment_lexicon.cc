// Parley's compact valence lexicon, on VADER's scale (-4 extremely negative .. +4 extremely
// positive): common words of workplace chat, emoticons and emoji. Written for Parley (values
// chosen to agree in sign and rough size with the published VADER ratings), so it ships under
// the project's licence.
#include <string_view>
#include <unordered_map>

#include "modules/ai/sentiment.h"

namespace parley::ai {
namespace {

const std::unordered_map<std::string_view, double>& table() {
  static const std::unordered_map<std::string_view, double> t = {
      // positive
      {"good", 1.9}, {"great", 3.1}, {"excellent", 3.2}, {"amazing", 2.8}, {"awesome", 3.1},
      {"fantastic", 2.6}, {"wonderful", 2.7}, {"brilliant", 2.8}, {"perfect", 2.7},
      {"superb", 3.1}, {"outstanding", 3.0}, {"terrific", 3.1}, {"fabulous", 2.4},
      {"nice", 1.8}, {"fine", 0.8}, {"cool", 1.3}, {"love", 3.2}, {"loved", 2.9},
      {"loves", 2.7}, {"lovely", 2.8}, {"like", 1.5}, {"liked", 1.8}, {"likes", 1.8},
      {"enjoy", 2.2}, {"enjoyed", 2.3}, {"happy", 2.7}, {"glad", 2.0}, {"pleased", 1.9},
      {"delighted", 2.8}, {"excited", 1.4}, {"exciting", 2.2}, {"thanks", 1.9},
      {"thank", 1.5}, {"thx", 1.5}, {"grateful", 2.0}, {"appreciate", 1.7},
      {"appreciated", 2.3}, {"helpful", 1.8}, {"useful", 1.9}, {"easy", 1.9}, {"best", 3.2},
      {"better", 1.9}, {"win", 2.8}, {"won", 2.7}, {"winning", 2.4}, {"success", 2.7},
      {"successful", 2.8}, {"congrats", 2.4}, {"congratulations", 2.9}, {"well", 1.1},
      {"beautiful", 2.9}, {"pretty", 2.2}, {"smart", 1.7}, {"clever", 1.9}, {"fun", 2.3},
      {"funny", 1.9}, {"haha", 2.0}, {"lol", 1.8}, {"yay", 2.4}, {"wow", 2.8}, {"yes", 1.7},
      {"agree", 1.5}, {"agreed", 1.1}, {"sure", 1.3}, {"ok", 1.2}, {"okay", 0.9},
      {"kind", 2.4}, {"friendly", 2.2}, {"welcome", 2.0}, {"hope", 1.9}, {"hopeful", 1.6},
      {"proud", 2.1}, {"impressive", 2.3}, {"impressed", 2.1}, {"incredible", 2.2},
      {"solid", 0.6}, {"fast", 0.8}, {"quick", 0.6}, {"clean", 1.7}, {"fixed", 1.1},
      {"works", 0.8}, {"working", 0.6}, {"worked", 0.9}, {"resolved", 1.2}, {"safe", 1.9},
      {"secure", 1.4}, {"support", 1.7}, {"supportive", 2.3}, {"calm", 1.3}, {"relaxed", 2.2},
      {"fresh", 1.3}, {"bright", 1.9}, {"positive", 2.6}, {"favorite", 2.0},
      {"favourite", 2.0}, {"recommend", 1.5}, {"recommended", 0.8}, {"wins", 2.7},
      {"cheer", 2.3}, {"cheers", 2.1}, {"smile", 1.5}, {"smiling", 2.1}, {"laugh", 2.6},
      {"laughing", 2.2}, {"joy", 2.8}, {"fortunate", 1.9}, {"lucky", 1.8}, {"free", 2.3},
      {"honest", 2.3}, {"trust", 2.3}, {"reliable", 1.8}, {"stable", 1.2}, {"improve", 1.9},
      {"improved", 2.1}, {"improvement", 2.0}, {"gain", 2.4}, {"benefit", 2.0},
      {"promising", 1.7}, {"ready", 1.5}, {"done", 0.9}, {"celebrate", 2.7}, {"generous", 2.3},
      {"sweet", 2.0}, {"neat", 2.0}, {"elegant", 2.1}, {"valuable", 2.1}, {"worth", 0.9},
      {"wise", 1.8}, {"adore", 2.6}, {"admire", 2.1}, {"peace", 2.5}, {"healthy", 1.7},
      {"strong", 2.3}, {"rocks", 1.6}, {"nailed", 1.8}, {"kudos", 2.3}, {"bravo", 2.4},
      {"interesting", 1.7}, {"productive", 1.6}, {"comfortable", 2.3}, {"satisfied", 1.8},
      {"satisfying", 2.0}, {"flawless", 2.3}, {"smooth", 0.8}, {"thrilled", 1.9},
      // negative
      {"bad", -2.5}, {"terrible", -2.1}, {"horrible", -2.5}, {"awful", -2.0},
      {"worst", -3.1}, {"worse", -2.1}, {"poor", -2.1}, {"hate", -2.7}, {"hated", -3.2},
      {"hates", -1.9}, {"dislike", -1.6}, {"sad", -2.1}, {"unhappy", -1.8}, {"angry", -2.3},
      {"mad", -2.2}, {"annoying", -1.7}, {"annoyed", -1.6}, {"upset", -1.6},
      {"disappointed", -1.9}, {"disappointing", -2.2}, {"frustrated", -2.4},
      {"frustrating", -1.9}, {"sorry", -0.3}, {"problem", -1.7}, {"problems", -1.7},
      {"issue", -0.9}, {"issues", -0.8}, {"bug", -1.0}, {"bugs", -1.0}, {"broken", -2.1},
      {"broke", -1.8}, {"fail", -2.5}, {"failed", -2.3}, {"fails", -2.1}, {"failure", -2.3},
      {"failing", -2.0}, {"error", -1.7}, {"errors", -1.4}, {"crash", -1.7},
      {"crashed", -1.9}, {"wrong", -2.1}, {"slow", -0.9}, {"ugly", -2.3}, {"stupid", -2.4},
      {"dumb", -2.3}, {"idiot", -2.3}, {"useless", -1.8}, {"pointless", -1.7},
      {"boring", -1.3}, {"bored", -1.1}, {"hard", -0.4}, {"difficult", -0.6},
      {"pain", -2.3}, {"painful", -1.9}, {"hurt", -2.4}, {"worry", -1.9}, {"worried", -1.2},
      {"afraid", -2.2}, {"scared", -2.2}, {"fear", -2.2}, {"nervous", -1.1},
      {"stress", -1.8}, {"stressed", -1.4}, {"stressful", -2.0}, {"tired", -1.9},
      {"sick", -2.3}, {"ill", -1.8}, {"lost", -1.3}, {"lose", -1.7}, {"losing", -1.6},
      {"loss", -1.3}, {"miss", -0.6}, {"missed", -1.2}, {"late", -0.4}, {"delay", -1.3},
      {"delayed", -0.9}, {"blocked", -1.3}, {"blocker", -1.0}, {"stuck", -1.0},
      {"confused", -1.3}, {"confusing", -0.9}, {"mess", -1.5}, {"messy", -1.5},
      {"nasty", -2.6}, {"disaster", -3.1}, {"catastrophe", -3.4}, {"tragic", -3.4},
      {"cry", -2.1}, {"crying", -2.1}, {"damn", -1.7}, {"hell", -3.6}, {"sucks", -1.5},
      {"suck", -1.9}, {"crap", -1.6}, {"shit", -2.6}, {"fuck", -2.5}, {"fucking", -1.8},
      {"wtf", -2.8}, {"ugh", -1.8}, {"meh", -0.3}, {"no", -1.2}, {"never", -0.4},
      {"reject", -1.7}, {"rejected", -2.3}, {"refuse", -1.2}, {"complain", -1.5},
      {"complaint", -1.2}, {"unfortunately", -1.4}, {"sadly", -1.9}, {"regret", -1.9},
      {"shame", -2.1}, {"ashamed", -2.1}, {"embarrassing", -1.6}, {"guilty", -1.8},
      {"lonely", -2.0}, {"alone", -1.0}, {"hopeless", -2.1}, {"miserable", -2.2},
      {"depressed", -2.3}, {"depressing", -1.6}, {"kill", -3.7}, {"killed", -3.5},
      {"dead", -3.3}, {"die", -2.9}, {"died", -2.6}, {"danger", -2.4}, {"dangerous", -2.1},
      {"threat", -2.4}, {"attack", -2.1}, {"abuse", -3.2}, {"rude", -2.0}, {"mean", -0.3},
      {"cruel", -2.8}, {"unfair", -2.1}, {"weak", -1.9}, {"nightmare", -1.9},
      {"chaos", -2.7}, {"outage", -1.5}, {"down", -0.9}, {"lag", -1.0}, {"laggy", -1.4},
      {"expensive", -0.4}, {"waste", -1.8}, {"wasted", -2.2}, {"unacceptable", -2.0},
      {"ridiculous", -1.5}, {"insane", -1.7}, {"terrified", -3.0}, {"furious", -2.7},
      {"hostile", -2.2}, {"toxic", -2.6}, {"worthless", -1.9}, {"pathetic", -2.3},
      {"garbage", -2.3}, {"trash", -1.4}, {"lame", -1.8}, {"disgusting", -2.4},
      {"gross", -2.1}, {"boo", -1.6}, {"argh", -1.0},
      // emoticons
      {":)", 2.0}, {":-)", 1.3}, {":d", 2.3}, {":-d", 2.3}, {";)", 1.4}, {";-)", 1.4},
      {":p", 1.5}, {"<3", 1.9}, {"(:", 1.6}, {":(", -1.9}, {":-(", -1.5}, {":'(", -2.2},
      {":/", -1.4}, {":-/", -1.4}, {">:(", -2.3}, {"d:", -2.9}, {"xd", 2.8}, {":o", -0.4},
      // emoji (UTF-8)
      {"\xF0\x9F\x98\x80", 2.3}, {"\xF0\x9F\x98\x81", 2.2}, {"\xF0\x9F\x98\x82", 2.4},
      {"\xF0\x9F\x98\x83", 2.4}, {"\xF0\x9F\x98\x84", 2.4}, {"\xF0\x9F\x98\x8A", 2.3},
      {"\xF0\x9F\x99\x82", 1.6}, {"\xF0\x9F\x98\x8D", 2.9}, {"\xF0\x9F\xA5\xB0", 2.9},
      {"\xF0\x9F\x98\x98", 2.3}, {"\xE2\x9D\xA4", 2.9}, {"\xF0\x9F\x92\x96", 2.8},
      {"\xF0\x9F\x91\x8D", 1.9}, {"\xF0\x9F\x91\x8F", 2.1}, {"\xF0\x9F\x8E\x89", 2.6},
      {"\xF0\x9F\x99\x8C", 2.2}, {"\xF0\x9F\x92\xAF", 2.0}, {"\xE2\x9C\x85", 1.2},
      {"\xF0\x9F\x98\x8E", 1.9}, {"\xF0\x9F\xA4\xA9", 2.6}, {"\xF0\x9F\x98\x87", 1.8},
      {"\xF0\x9F\x98\xA2", -2.1}, {"\xF0\x9F\x98\xAD", -2.4}, {"\xF0\x9F\x98\xA0", -2.4},
      {"\xF0\x9F\x98\xA1", -2.7}, {"\xF0\x9F\xA4\xAC", -2.9}, {"\xF0\x9F\x91\x8E", -1.9},
      {"\xF0\x9F\x92\x94", -2.5}, {"\xF0\x9F\x98\x9E", -2.0}, {"\xF0\x9F\x98\x92", -1.5},
      {"\xF0\x9F\x98\x94", -1.7}, {"\xF0\x9F\x98\x9F", -1.5}, {"\xF0\x9F\x98\xA9", -2.0},
      {"\xF0\x9F\x98\xAB", -2.0}, {"\xF0\x9F\x99\x81", -1.5}, {"\xE2\x98\xB9", -1.8},
      {"\xF0\x9F\x98\xB1", -2.3}, {"\xF0\x9F\x92\xA9", -1.2}, {"\xE2\x9D\x8C", -1.2},
  };
  return t;
}

}  // namespace

double lexicon_valence(std::string_view token) {
  auto it = table().find(token);
  return it == table().end() ? 0.0 : it->second;
}

std::size_t lexicon_size() { return table().size(); }

}  // namespace parley::ai
