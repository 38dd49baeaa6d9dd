#include "tally/bots/crawler_list.hpp"

#include <re2/re2.h>
#include <re2/set.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>
#include <vector>

namespace fs = std::filesystem;
using nlohmann::json;

namespace tally::bots {

struct CrawlerList::Impl {
    explicit Impl(const RE2::Options& options) : set(options, RE2::UNANCHORED) {}

    RE2::Set set;
    // The same patterns as one alternation, asked only when the set's DFA fails.
    std::unique_ptr<const RE2> fallback;
    std::size_t pattern_count = 0;
    std::string version;
};

namespace {

// A pattern quoted in an error message, shortened so the message stays one line.
std::string shown(std::string_view pattern) {
    constexpr std::size_t kShown = 60;
    std::string out = "\"";
    out += pattern.substr(0, kShown);
    out += pattern.size() > kShown ? "...\"" : "\"";
    return out;
}

bool read_file(const fs::path& path, std::string& bytes, std::string& error) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        std::error_code ec;
        error = fs::exists(path, ec) ? "cannot be read" : "no such file";
        return false;
    }
    std::ostringstream buffer;
    buffer << in.rdbuf();
    bytes = std::move(buffer).str();
    return true;
}

// The patterns of the package's array, in file order, or why there are none.
bool read_patterns(const json& file, std::vector<std::string>& patterns, std::string& error) {
    if (!file.is_array()) {
        error = "not a JSON array of {\"pattern\": ...} entries";
        return false;
    }
    patterns.reserve(file.size());
    for (std::size_t i = 0; i < file.size(); ++i) {
        const json& entry = file[i];
        if (!entry.is_object() || !entry.contains("pattern") || !entry["pattern"].is_string()) {
            error = "entry " + std::to_string(i) + " has no string \"pattern\"";
            return false;
        }
        patterns.push_back(entry["pattern"].get<std::string>());
    }
    if (patterns.empty()) {
        error = "no patterns";
        return false;
    }
    return true;
}

RE2::Options regex_options() {
    RE2::Options options;
    options.set_log_errors(false);  // a refused pattern is reported by load(), once
    options.set_never_capture(true);
    options.set_max_mem(kRegexMemory);
    return options;
}

// Compiles the set and its fallback; names the first pattern RE2 refuses, or one that
// matches the empty string.
bool compile(const std::vector<std::string>& patterns, RE2::Set& set,
             std::unique_ptr<const RE2>& fallback, std::string& error) {
    std::string alternation;
    for (std::size_t i = 0; i < patterns.size(); ++i) {
        std::string why;
        if (set.Add(patterns[i], &why) < 0) {
            error = "pattern " + std::to_string(i) + " " + shown(patterns[i]) +
                    " refused by RE2: " + why;
            return false;
        }
        alternation += alternation.empty() ? "(?:" : "|(?:";
        alternation += patterns[i];
        alternation += ')';
    }
    if (!set.Compile()) {
        error = "the patterns exceed RE2's memory budget";
        return false;
    }
    std::vector<int> matched;
    if (set.Match("", &matched) && !matched.empty()) {
        const auto i = static_cast<std::size_t>(matched.front());
        error = "pattern " + std::to_string(i) + " " + shown(patterns[i]) +
                " matches the empty string, so every User-Agent";
        return false;
    }
    fallback = std::make_unique<const RE2>(alternation, regex_options());
    if (!fallback->ok()) {
        error = "the patterns do not compile as one alternation: " + fallback->error();
        return false;
    }
    return true;
}

// "name version" from the package.json beside the list; a list without one still loads.
std::string package_version(const fs::path& json_file) {
    std::string bytes;
    std::string ignored;
    if (!read_file(json_file.parent_path() / "package.json", bytes, ignored))
        return "unknown version";
    const json package = json::parse(bytes, nullptr, false);
    if (!package.is_object() || !package.contains("name") || !package["name"].is_string() ||
        !package.contains("version") || !package["version"].is_string())
        return "unknown version";
    return package["name"].get<std::string>() + " " + package["version"].get<std::string>();
}

}  // namespace

CrawlerList::CrawlerList(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

std::optional<CrawlerList> CrawlerList::load(const fs::path& json_file, std::string& error) {
    const auto fail = [&](const std::string& why) {
        error = json_file.string() + ": " + why;
        return std::nullopt;
    };
    std::string bytes;
    std::string why;
    if (!read_file(json_file, bytes, why))
        return fail(why);
    const json file = json::parse(bytes, nullptr, false);
    if (file.is_discarded())
        return fail("not JSON");
    std::vector<std::string> patterns;
    if (!read_patterns(file, patterns, why))
        return fail(why);
    auto impl = std::make_shared<Impl>(regex_options());
    if (!compile(patterns, impl->set, impl->fallback, why))
        return fail(why);
    impl->pattern_count = patterns.size();
    impl->version = package_version(json_file);
    return CrawlerList(std::move(impl));
}

bool CrawlerList::matches(std::string_view user_agent) const {
    const re2::StringPiece text(user_agent.data(), user_agent.size());
    RE2::Set::ErrorInfo info{};
    if (impl_->set.Match(text, nullptr, &info))
        return true;
    if (info.kind == RE2::Set::kNoError)
        return false;
    // The set's DFA gave up on this input (its memory budget); the alternation's search
    // falls back to the NFA instead of failing.
    return RE2::PartialMatch(text, *impl_->fallback);
}

std::size_t CrawlerList::pattern_count() const {
    return impl_->pattern_count;
}

const std::string& CrawlerList::version() const {
    return impl_->version;
}

}  // namespace tally::bots
