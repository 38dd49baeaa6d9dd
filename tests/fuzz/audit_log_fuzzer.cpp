// Fuzzes the audit log's start-up (what open() reads from a possibly damaged day file):
// any bytes as the newest file are opened, their whole entries read back, the rest cut;
// never a crash, a hang or a read past the input. Then an entry appended after the cut
// reads back last, also after a reopen.
//
// A random input almost never passes a checksum, so an input whose first byte is odd is
// read as payloads separated by '\n' that this fuzzer frames with the right lengths and
// checksums, so that the entry decoder behind the checksum gets fuzzed too.

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "tally/audit/audit_log.hpp"
#include "tally/base/time.hpp"
#include "tally/durability/crc32c.hpp"

namespace {

namespace fs = std::filesystem;
using namespace tally::audit;

constexpr std::int64_t kDay = 20'000;  // 2024-10-04
constexpr std::int64_t kNoon = kDay * tally::kMsPerDay + tally::kMsPerDay / 2;

void put_u32(std::string& out, std::uint32_t v) {
    for (int i = 0; i < 4; ++i)
        out.push_back(static_cast<char>(v >> (8 * i)));
}

/// The input as the file's bytes: raw, or each '\n'-separated payload framed.
std::string file_bytes(std::string_view in) {
    if (in.empty() || (static_cast<unsigned char>(in[0]) & 1u) == 0)
        return std::string(in);
    std::string out;
    in.remove_prefix(1);
    while (!in.empty()) {
        const std::string_view payload = in.substr(0, in.find('\n'));
        put_u32(out, static_cast<std::uint32_t>(payload.size()));
        put_u32(out, tally::durability::crc32c(payload));
        out += payload;
        in.remove_prefix(std::min(in.size(), payload.size() + 1));
    }
    return out;
}

/// How many whole entries lead `bytes`, by decoding them in memory.
std::size_t whole_entries(std::string_view bytes) {
    std::size_t count = 0;
    Entry entry;
    std::size_t size = 0;
    while (decode_frame(bytes, entry, size) == FrameStatus::ok) {
        TALLY_FUZZ_CHECK(size >= kFrameHeaderSize && size <= bytes.size());
        bytes.remove_prefix(size);
        ++count;
        // What decodes re-encodes to an entry that decodes the same (fields within bounds).
        if (entry.workspace.size() <= kMaxField && entry.token_id.size() <= kMaxField &&
            entry.action.size() <= kMaxField && entry.object_id.size() <= kMaxField &&
            entry.detail.size() <= kMaxField) {
            Entry again;
            std::size_t again_size = 0;
            TALLY_FUZZ_CHECK(decode_frame(encode_frame(entry), again, again_size) ==
                             FrameStatus::ok);
            TALLY_FUZZ_CHECK(again == entry);
        }
    }
    return count;
}

// A private directory, in memory when /dev/shm is there (fsync is then free, and the
// fuzzer runs hundreds of times faster), removed at exit; the log's warnings about every
// cut are silenced.
class Scratch {
  public:
    Scratch() {
        spdlog::set_level(spdlog::level::off);
        const fs::path base =
            fs::is_directory("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
        std::string pattern = (base / "tally-fuzz-audit-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr)
            std::abort();
        path_ = pattern;
    }
    ~Scratch() {
        std::error_code ignored;
        fs::remove_all(path_, ignored);
    }
    const fs::path& path() const { return path_; }

  private:
    fs::path path_;
};

const fs::path& scratch() {
    static const Scratch dir;
    return dir.path();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string bytes =
        file_bytes(std::string_view(reinterpret_cast<const char*>(data), size));
    const fs::path dir = scratch() / "audit";
    std::error_code ignored;
    fs::remove_all(dir, ignored);
    fs::create_directories(dir);
    {
        std::ofstream out(dir / file_name(kDay), std::ios::binary);
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    }
    const std::size_t expected = whole_entries(bytes);
    Entry last;
    last.time_ms = kNoon + tally::kMsPerDay / 4;
    last.workspace = "default";
    last.action = "fuzz.append";
    {
        AuditLog log(AuditOptions{dir, 400});
        log.open(kNoon);
        TALLY_FUZZ_CHECK(log.read("", 0, 100'000).size() == expected);
        TALLY_FUZZ_CHECK(log.append(last));
    }
    AuditLog again(AuditOptions{dir, 400});
    again.open(kNoon);
    TALLY_FUZZ_CHECK(again.torn_tails() == 0);
    const std::vector<Entry> read = again.read("", 0, 100'000);
    TALLY_FUZZ_CHECK(read.size() == expected + 1);
    // Times never go backwards, so the appended entry may be stamped later, never earlier.
    TALLY_FUZZ_CHECK(read.back().action == last.action && read.back().time_ms >= last.time_ms);
    return 0;
}
