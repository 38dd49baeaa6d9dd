#pragma once
// Funnel runs as files: the frame around a run's body (store/funnel_run.hpp), written so
// that it survives a crash and mapped for reading.
//
//   "TALLYFUN" | u32le format (1) | u32le crc32c of the body | u64le body size | body
//
// A run is written to <name>.tmp, fsynced, renamed into place and the directory fsynced,
// so a file with a run's name is whole; opening it checks the size and the checksum before
// the body's own checks, so a damaged file is reported and never read.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "tally/store/funnel_run.hpp"

namespace tally::durability {

inline constexpr std::string_view kFunnelRunSuffix = ".run";

/// A run's file name as the spiller makes them (letters, digits, '-', ending .run): what a
/// snapshot may name, so a damaged one cannot point outside the directory.
bool valid_funnel_run_name(std::string_view name);

/// Writes `log`'s first `steps` steps of `site` on `day` to `dir`/`name` and opens it.
/// Throws std::system_error naming the file when the disk refuses.
std::shared_ptr<const store::FunnelRun> write_funnel_run(const std::filesystem::path& dir,
                                                         const std::string& name,
                                                         std::string_view site, std::int64_t day,
                                                         const store::FunnelLog::View& log,
                                                         std::size_t steps);

/// Maps and checks `dir`/`name`. nullptr, with `why` set, when it is missing or damaged.
std::shared_ptr<const store::FunnelRun> open_funnel_run(const std::filesystem::path& dir,
                                                        const std::string& name, std::string& why);

}  // namespace tally::durability
