#pragma once
// Whole-file I/O that survives a crash: what snapshot writers use.

#include <filesystem>
#include <string>
#include <string_view>

namespace tally::durability {

/// Writes `bytes` to `path` (created or truncated) and fsyncs it. Throws std::system_error
/// naming the file.
void write_file_synced(const std::filesystem::path& path, std::string_view bytes);
/// fsyncs a directory, so a rename into it survives a crash. Throws on failure.
void sync_directory(const std::filesystem::path& dir);
/// Reads a whole file; false with `error` set when it cannot.
bool read_file(const std::filesystem::path& path, std::string& out, std::string& error);

}  // namespace tally::durability
