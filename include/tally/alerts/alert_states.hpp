#pragma once
// Alert states on disk, so that a restart neither forgets a firing alert nor announces it
// a second time (the standing complaint about Prometheus's rule manager).
//
// One file, data_dir/alerts/states.data, holds every rule's state and history:
//
//   {"format": 1, "saved_at": ms,
//    "states": {"<rule id>": {"state", "since", "firing_since", "value",
//                             "history": [[at_ms, "from", "to", value|null], ...]}}}
//
// Its name does not end in ".json", so the rules' DocumentStore in the same directory
// leaves it alone. It is written whole after every round that changed a state: to
// states.data.tmp, fsynced, renamed over the old one, and the directory fsynced, so a
// crash leaves the old file or the new one, never a torn one. A file that cannot be read
// (damaged, or of a format this build does not know) is moved aside as states.data.damaged
// and logged; every rule then starts inactive.
//
// Cost: about 100 bytes a rule plus 40 a history entry (kHistoryLimit per rule at most), so
// 10,000 rules with full histories are ~20 MB; rounds that change nothing write nothing.

#include <filesystem>
#include <map>
#include <string>
#include <string_view>

#include "tally/alerts/evaluation.hpp"

namespace tally::alerts {

using States = std::map<std::string, AlertState>;  // by rule id

inline constexpr std::string_view kStatesFile = "states.data";

std::string encode_states(const States& states, std::int64_t now_ms);
/// false with `error` set when `text` is not a states file this build reads.
bool decode_states(std::string_view text, States& out, std::string& error);

/// Writes `text` to `dir`/states.data durably (tmp, fsync, rename, directory fsync);
/// false with `error` set when it could not.
bool save_states(const std::filesystem::path& dir, std::string_view text, std::string& error);
/// The states in `dir` (none when there is no file; a bad file is moved aside and logged).
States load_states(const std::filesystem::path& dir);

}  // namespace tally::alerts
