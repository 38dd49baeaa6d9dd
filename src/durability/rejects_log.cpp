#include "tally/durability/rejects_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>
#include <system_error>

#include "tally/ingest/parse.hpp"

namespace tally::durability {

RejectsLog::RejectsLog(const std::filesystem::path& path) {
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0)
        throw std::system_error(errno, std::generic_category(), "cannot open " + path.string());
}

RejectsLog::~RejectsLog() {
    if (fd_ >= 0)
        ::close(fd_);
}

void RejectsLog::append(std::int64_t now_ms, std::string_view route, std::string_view reason,
                        std::string_view field, std::string_view error, std::string_view payload) {
    nlohmann::ordered_json j;
    j["time"] = ingest::format_rfc3339_ms(now_ms);
    j["route"] = route;
    j["reason"] = reason;
    j["field"] = field;
    j["error"] = error;
    const std::string_view cut = payload.substr(0, kMaxPayload);
    j["payload"] = std::string(cut);
    if (cut.size() < payload.size())
        j["payload_bytes"] = payload.size();
    // Payloads are arbitrary bytes: replace invalid UTF-8 rather than refuse to log them.
    std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    line += '\n';
    std::lock_guard lock(mutex_);
    // A failed write of the audit trail must not fail the answer; the metric still counts it.
    (void)::write(fd_, line.data(), line.size());
}

}  // namespace tally::durability
