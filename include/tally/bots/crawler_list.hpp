#pragma once
// The crawler list: which User-Agents belong to robots, crawlers and HTTP tools, so the
// tracking endpoints can leave them uncounted.
//
// Where the list comes from
//   The patterns are the npm package crawler-user-agents (web/package.json pins its
//   version, web/package-lock.json locks it): one JSON array of entries
//   {"pattern": ..., "instances": [...], ...}, maintained upstream and validated there
//   with Go's regexp, whose syntax is RE2's. Nothing here is hand-written: updating the
//   list is bumping the package.
//
// How a User-Agent is matched
//   All patterns form one RE2::Set, searched unanchored, like the package's own matchers
//   (Go's IsCrawler, Python's is_crawler, validate.py): a User-Agent is a crawler when any
//   pattern occurs in it. Matching is case-sensitive, as in those matchers by default and
//   in the package's tests, which check every instance case-sensitively. One search
//   costs about 0.2 us for a 130-byte User-Agent (tests/bench/bots_bench.cpp); RE2 keeps
//   it linear in the length of the User-Agent, whatever the patterns, so no input can make
//   a search slow. When RE2's DFA runs out of its memory budget on an input (never seen
//   in practice; random 8 KiB inputs do not), the same patterns joined into one
//   alternation answer instead, which RE2 falls back to its NFA for: slower, never wrong.
//
// What fails a load
//   A missing or unreadable file, a file that is not JSON, a file that is not an array of
//   entries each with a string "pattern", no patterns at all, a pattern RE2 refuses, and
//   a pattern that matches the empty string (it would match every User-Agent). One bad
//   pattern fails the whole load rather than being skipped: upstream checks every pattern
//   with an RE2-syntax engine, so a refused one means the file is not what we think it is
//   (a wrong file, a damaged install, a change of dialect), and skipping it would quietly
//   count some crawler's traffic as people. Failing at start, with the pattern named,
//   makes an upgrade that breaks the list impossible to miss.
//
// The empty User-Agent
//   matches no pattern, so it is not a crawler. That is Plausible's choice too (a request
//   without a User-Agent is parsed as nothing and counted), and it suits Tally, whose
//   tracking API also takes server-side events whose senders may not forward one.
//
// Cost and sharing
//   A loaded list is immutable and RE2 matching on it is thread-safe, so one list serves
//   every I/O worker; copies share it (a reference count). Loading the 1,500-pattern file
//   takes about 35 ms and adds about 5 MiB resident (the compiled programs, and what the
//   JSON parse leaves in the allocator); RE2 then builds DFA states lazily while
//   matching, capped by kRegexMemory per program.
//   The hot path should go through UserAgentCache (user_agent_cache.hpp), which remembers
//   answers per worker.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace tally::bots {

/// The memory budget of each compiled program (the set and its fallback alternation):
/// a cap on RE2's lazily built DFA states, not memory taken up front.
inline constexpr std::int64_t kRegexMemory = std::int64_t{32} << 20;

class CrawlerList {
  public:
    /// Reads the package's JSON file and compiles its patterns. On failure returns nothing
    /// and sets `error` to one line naming the file and the problem (see "What fails a
    /// load" above). The version comes from the package.json beside the file; without
    /// one it is "unknown version".
    static std::optional<CrawlerList> load(const std::filesystem::path& json_file,
                                           std::string& error);

    /// Whether any pattern occurs in `user_agent` (case-sensitive, unanchored).
    bool matches(std::string_view user_agent) const;

    std::size_t pattern_count() const;

    /// The package and its version, e.g. "crawler-user-agents 1.60.0": for logs and
    /// /metrics, so an answer can be traced to the list that gave it.
    const std::string& version() const;

  private:
    struct Impl;
    explicit CrawlerList(std::shared_ptr<const Impl> impl);

    std::shared_ptr<const Impl> impl_;
};

}  // namespace tally::bots
