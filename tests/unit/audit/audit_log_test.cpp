// The audit log: entries framed and checksummed in day files, read back by workspace, time
// and limit; a torn or damaged tail cut at start wherever it is cut; retention.

#include "tally/audit/audit_log.hpp"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <sys/resource.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "support/process.hpp"
#include "tally/base/time.hpp"
#include "tally/telemetry/metrics.hpp"

namespace tally::audit {
namespace {

namespace fs = std::filesystem;

constexpr std::int64_t kDay = kMsPerDay;
constexpr std::int64_t kToday = 20'000;                   // 2024-10-04
constexpr std::int64_t kNoon = kToday * kDay + kDay / 2;  // 2024-10-04T12:00:00Z

Entry entry(std::int64_t time_ms, std::string workspace, std::string action,
            std::string object_id = "d1", std::int64_t before = 1, std::int64_t after = 2) {
    Entry e;
    e.time_ms = time_ms;
    e.workspace = std::move(workspace);
    e.token_id = "tok-" + e.workspace;
    e.action = std::move(action);
    e.object_id = std::move(object_id);
    e.version_before = before;
    e.version_after = after;
    e.detail = "PUT /api/v1/dashboards/" + e.object_id;
    return e;
}

std::string bytes_of(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& file, std::string_view bytes) {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::vector<std::string> names_in(const fs::path& dir) {
    std::vector<std::string> out;
    for (const auto& item : fs::directory_iterator(dir))
        out.push_back(item.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
}

/// Twelve entries over three workspaces, a minute apart, written to `dir`.
std::vector<Entry> write_sample(const fs::path& dir) {
    AuditLog log(AuditOptions{dir, 400});
    log.open(kNoon);
    std::vector<Entry> written;
    for (int i = 0; i < 12; ++i) {
        const char* workspace = i % 3 == 0 ? "team-a" : i % 3 == 1 ? "team-b" : "default";
        written.push_back(entry(kNoon + i * 60'000, workspace, "dashboard.update",
                                "d" + std::to_string(i), i + 1, i + 2));
        EXPECT_TRUE(log.append(written.back()));
    }
    EXPECT_EQ(log.entries_written(), 12u);
    return written;
}

TEST(AuditLog, ReadsBackByWorkspaceSinceAndLimitOldestFirst) {
    test::TempDir tmp;
    const fs::path dir = fs::path(tmp.path()) / "audit";
    const std::vector<Entry> written = write_sample(dir);
    AuditLog log(AuditOptions{dir, 400});
    log.open(kNoon + kDay / 4);
    EXPECT_EQ(log.read("", 0, 100), written);
    const std::vector<Entry> team_a = log.read("team-a", 0, 100);
    ASSERT_EQ(team_a.size(), 4u);
    for (std::size_t i = 0; i < team_a.size(); ++i)
        EXPECT_EQ(team_a[i], written[3 * i]);
    EXPECT_EQ(log.read("team-a", kNoon + 3 * 60'000, 100).front(), written[3]);
    EXPECT_EQ(log.read("team-a", kNoon + 3 * 60'000 + 1, 100).front(), written[6]);
    EXPECT_EQ(log.read("", kNoon + 5 * 60'000, 2), (std::vector<Entry>{written[5], written[6]}));
    EXPECT_TRUE(log.read("", 0, 0).empty());
    EXPECT_TRUE(log.read("team-c", 0, 100).empty());
    EXPECT_TRUE(log.read("", kNoon + kDay, 100).empty());
}

TEST(AuditLog, ReopenKeepsEverythingAndAppendsAfterIt) {
    test::TempDir tmp;
    const fs::path dir = fs::path(tmp.path()) / "audit";
    std::vector<Entry> written = write_sample(dir);
    for (int round = 0; round < 3; ++round) {
        AuditLog log(AuditOptions{dir, 400});
        log.open(kNoon);
        EXPECT_EQ(log.read("", 0, 1000), written);
        EXPECT_EQ(log.torn_tails(), 0u);
        written.push_back(entry(kNoon + kDay / 4 + round, "team-a", "alert.create", "a1", 0, 1));
        ASSERT_TRUE(log.append(written.back()));
    }
    EXPECT_EQ(names_in(dir), std::vector<std::string>{"2024-10-04.audit"});
}

TEST(AuditLog, TimesNeverGoBackwardsAndZeroIsNow) {
    test::TempDir tmp;
    AuditLog log(AuditOptions{fs::path(tmp.path()) / "audit", 400});
    log.open(kNoon);
    ASSERT_TRUE(log.append(entry(kNoon, "default", "report.run")));
    ASSERT_TRUE(log.append(entry(kNoon - 5'000, "default", "report.run")));  // a racing thread
    const std::int64_t before = now_ms();
    ASSERT_TRUE(log.append(entry(0, "default", "report.run")));
    const std::vector<Entry> read = log.read("", 0, 10);
    ASSERT_EQ(read.size(), 3u);
    EXPECT_EQ(read[1].time_ms, kNoon);
    EXPECT_GE(read[2].time_ms, before);
    EXPECT_LE(read[2].time_ms, now_ms());
}

TEST(AuditLog, OneFilePerDayAndReadsSkipOlderDays) {
    test::TempDir tmp;
    const fs::path dir = fs::path(tmp.path()) / "audit";
    AuditLog log(AuditOptions{dir, 400});
    log.open(kNoon);
    ASSERT_TRUE(log.append(entry(kNoon - kDay, "default", "dashboard.create")));
    ASSERT_TRUE(log.append(entry(kNoon, "default", "dashboard.update")));
    ASSERT_TRUE(log.append(entry(kNoon + kDay, "default", "dashboard.delete")));
    EXPECT_EQ(names_in(dir), (std::vector<std::string>{"2024-10-03.audit", "2024-10-04.audit",
                                                       "2024-10-05.audit"}));
    // Garbage in a day before `since` is never read.
    write_bytes(dir / "2024-10-03.audit", std::string(64, '\xff'));
    const std::vector<Entry> read = log.read("", kToday * kDay, 10);
    ASSERT_EQ(read.size(), 2u);
    EXPECT_EQ(read[0].action, "dashboard.update");
    EXPECT_EQ(read[1].action, "dashboard.delete");
    EXPECT_EQ(file_day("2024-10-05.audit"), kToday + 1);
    EXPECT_FALSE(file_day("2024-10-05.audit.torn-1"));
    EXPECT_FALSE(file_day("2024-13-05.audit"));
}

TEST(AuditLog, LongFieldsAreCutAndBadUtf8Replaced) {
    test::TempDir tmp;
    AuditLog log(AuditOptions{fs::path(tmp.path()) / "audit", 400});
    log.open(kNoon);
    Entry long_one = entry(kNoon, "default", "dashboard.update");
    long_one.detail = std::string(100'000, '\x01');
    long_one.object_id = "\xff\xfe not utf-8";
    ASSERT_TRUE(log.append(long_one));
    const std::vector<Entry> read = log.read("", 0, 10);
    ASSERT_EQ(read.size(), 1u);
    EXPECT_EQ(read[0].detail, std::string(kMaxField, '\x01'));
    EXPECT_EQ(read[0].object_id, "\xef\xbf\xbd\xef\xbf\xbd not utf-8");
    EXPECT_LE(encode_frame(long_one).size(), kFrameHeaderSize + kMaxPayload);
}

/// Keeps the log's warning about each cut out of a test that cuts a thousand times.
class Quiet {
  public:
    Quiet() : level_(spdlog::get_level()) { spdlog::set_level(spdlog::level::err); }
    ~Quiet() { spdlog::set_level(level_); }

  private:
    spdlog::level::level_enum level_;
};

/// Opens `dir` holding `bytes` as its newest day file; expects exactly `expected` back, then
/// that an entry appended after the cut reads back after them, also after a reopen.
void expect_cut_recovers(const fs::path& dir, std::string_view bytes,
                         const std::vector<Entry>& expected, std::uint64_t torn) {
    fs::remove_all(dir);
    fs::create_directories(dir);
    write_bytes(dir / "2024-10-04.audit", bytes);
    std::vector<Entry> after = expected;
    after.push_back(entry(kNoon + kDay / 4, "team-b", "alert.delete", "a9", 3, 0));
    {
        AuditLog log(AuditOptions{dir, 400});
        log.open(kNoon);
        ASSERT_EQ(log.read("", 0, 1000), expected) << "cut at " << bytes.size();
        EXPECT_EQ(log.torn_tails(), torn) << "cut at " << bytes.size();
        ASSERT_TRUE(log.append(after.back()));
        ASSERT_EQ(log.read("", 0, 1000), after) << "cut at " << bytes.size();
    }
    AuditLog again(AuditOptions{dir, 400});
    again.open(kNoon);
    EXPECT_EQ(again.read("", 0, 1000), after) << "cut at " << bytes.size();
    EXPECT_EQ(again.torn_tails(), 0u);
}

TEST(AuditLog, ATornTailCutAtEveryOffsetOfTheLastFrame) {
    const Quiet quiet;
    test::TempDir tmp;
    const fs::path sample = fs::path(tmp.path()) / "sample";
    const std::vector<Entry> written = write_sample(sample);
    const std::string whole = bytes_of(sample / "2024-10-04.audit");
    const std::size_t last = whole.size() - encode_frame(written.back()).size();
    const std::vector<Entry> complete(written.begin(), written.end() - 1);
    for (std::size_t cut = last; cut < whole.size(); ++cut) {
        expect_cut_recovers(fs::path(tmp.path()) / "cut", std::string_view(whole).substr(0, cut),
                            complete, cut == last ? 0 : 1);
        // A torn write is not kept aside: only damage is.
        EXPECT_EQ(names_in(fs::path(tmp.path()) / "cut").size(), 1u);
    }
}

TEST(AuditLog, AFileOfSeveralFramesCutAtEveryOffset) {
    const Quiet quiet;
    test::TempDir tmp;
    const fs::path sample = fs::path(tmp.path()) / "sample";
    std::vector<Entry> written = write_sample(sample);
    written.resize(4);
    std::string whole;
    std::vector<std::size_t> ends;  // where each frame ends
    for (const Entry& e : written) {
        whole += encode_frame(e);
        ends.push_back(whole.size());
    }
    for (std::size_t cut = 0; cut <= whole.size(); ++cut) {
        std::size_t complete = 0;
        while (complete < ends.size() && ends[complete] <= cut)
            ++complete;
        const bool clean = complete == 0 ? cut == 0 : cut == ends[complete - 1];
        expect_cut_recovers(fs::path(tmp.path()) / "cut", std::string_view(whole).substr(0, cut),
                            std::vector<Entry>(written.begin(), written.begin() + complete),
                            clean ? 0 : 1);
    }
}

TEST(AuditLog, AFlippedByteStopsReadingAtItsFrameAndTheRestIsKeptAside) {
    const Quiet quiet;
    test::TempDir tmp;
    const fs::path sample = fs::path(tmp.path()) / "sample";
    std::vector<Entry> written = write_sample(sample);
    written.resize(3);
    std::string whole;
    std::vector<std::size_t> starts;
    for (const Entry& e : written) {
        starts.push_back(whole.size());
        whole += encode_frame(e);
    }
    const fs::path dir = fs::path(tmp.path()) / "flip";
    for (std::size_t at = 0; at < whole.size(); ++at) {
        std::string damaged = whole;
        damaged[at] = static_cast<char>(damaged[at] ^ 0x20);
        const std::size_t frame =
            static_cast<std::size_t>(std::upper_bound(starts.begin(), starts.end(), at) -
                                     starts.begin()) -
            1;
        expect_cut_recovers(dir, damaged,
                            std::vector<Entry>(written.begin(), written.begin() + frame), 1);
        // A flip in a checksum or payload is damage: the bytes from that frame on are kept.
        if (at >= starts[frame] + 4) {
            const std::vector<std::string> names = names_in(dir);
            ASSERT_EQ(names.size(), 2u) << "flip at " << at;
            EXPECT_TRUE(names[1].starts_with("2024-10-04.audit.torn-"));
            EXPECT_EQ(bytes_of(dir / names[1]), damaged.substr(starts[frame]));
        }
    }
}

TEST(AuditLog, DamageInAnOlderFileStopsThatFileOnly) {
    test::TempDir tmp;
    const fs::path dir = fs::path(tmp.path()) / "audit";
    AuditLog log(AuditOptions{dir, 400});
    log.open(kNoon);
    const Entry first = entry(kNoon - kDay, "default", "dashboard.create");
    const Entry second = entry(kNoon - kDay + 1, "default", "dashboard.update");
    const Entry third = entry(kNoon, "default", "dashboard.delete");
    for (const Entry& e : {first, second, third})
        ASSERT_TRUE(log.append(e));
    std::string older = bytes_of(dir / "2024-10-03.audit");
    older[encode_frame(first).size() + 12] ^= 0x01;
    write_bytes(dir / "2024-10-03.audit", older);
    EXPECT_EQ(log.read("", 0, 10), (std::vector<Entry>{first, third}));
    AuditLog again(AuditOptions{dir, 400});
    again.open(kNoon);
    EXPECT_EQ(again.torn_tails(), 0u);  // only the newest file is ever cut
    EXPECT_EQ(again.read("", 0, 10), (std::vector<Entry>{first, third}));
}

TEST(AuditLog, RetentionDeletesDaysOlderThanItsWindow) {
    test::TempDir tmp;
    const fs::path dir = fs::path(tmp.path()) / "audit";
    fs::create_directories(dir);
    for (const std::int64_t back : {500, 400, 399, 1}) {
        std::string frame = encode_frame(entry((kToday - back) * kDay, "default", "x.y"));
        write_bytes(dir / file_name(kToday - back), frame);
    }
    write_bytes(dir / (file_name(kToday - 500) + ".torn-1"), "xx");
    write_bytes(dir / "notes.txt", "kept");
    AuditLog log(AuditOptions{dir, 400});
    log.open(kNoon);
    EXPECT_EQ(names_in(dir),
              (std::vector<std::string>{"2023-09-01.audit", "2024-10-03.audit", "notes.txt"}));
    EXPECT_EQ(log.read("", 0, 10).size(), 2u);
    ASSERT_TRUE(log.append(entry(kNoon, "default", "x.z")));
    log.remove_expired(kNoon + 399 * kDay);
    EXPECT_EQ(names_in(dir), (std::vector<std::string>{"2024-10-04.audit", "notes.txt"}));
    log.remove_expired(kNoon + 400 * kDay);
    EXPECT_EQ(names_in(dir), std::vector<std::string>{"notes.txt"});
    // The expired file was the open one: the next entry starts a new file.
    ASSERT_TRUE(log.append(entry(kNoon + 400 * kDay, "default", "x.w")));
    EXPECT_EQ(log.read("", 0, 10).size(), 1u);
}

TEST(AuditLog, AFailedWriteIsCountedAndRefusedAndOpenNamesABadDirectory) {
    test::TempDir tmp;
    const fs::path dir = fs::path(tmp.path()) / "audit";
    AuditLog log(AuditOptions{dir, 400});
    log.open(kNoon);
    ASSERT_TRUE(log.append(entry(kNoon, "default", "x.y")));
    fs::remove_all(dir);
    write_bytes(dir, "a file where the directory was");
    EXPECT_FALSE(log.append(entry(kNoon + kDay, "default", "x.y")));
    EXPECT_EQ(log.write_failures(), 1u);
    AuditLog other(AuditOptions{dir / "sub", 400});
    EXPECT_THROW(other.open(kNoon), std::system_error);
}

TEST(AuditLog, AWriteCutShortIsTakenBackSoTheNextEntryFollowsAWholeFrame) {
    test::TempDir tmp;
    const fs::path dir = fs::path(tmp.path()) / "audit";
    const Entry first = entry(kNoon, "default", "dashboard.create");
    const Entry refused = entry(kNoon + 1, "default", "dashboard.update");
    const Entry third = entry(kNoon + 2, "default", "dashboard.delete");
    AuditLog log(AuditOptions{dir, 400});
    log.open(kNoon);
    ASSERT_TRUE(log.append(first));
    const auto size = fs::file_size(dir / "2024-10-04.audit");
    // A disk that fills up mid-entry: the file may grow by 20 bytes, not a whole frame.
    rlimit before{};
    ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &before), 0);
    rlimit small = before;
    small.rlim_cur = size + 20;
    const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
    const bool written = log.append(refused);
    ::setrlimit(RLIMIT_FSIZE, &before);
    std::signal(SIGXFSZ, old_handler);
    EXPECT_FALSE(written);
    EXPECT_EQ(log.write_failures(), 1u);
    EXPECT_EQ(fs::file_size(dir / "2024-10-04.audit"), size);
    ASSERT_TRUE(log.append(third));
    EXPECT_EQ(log.read("", 0, 10), (std::vector<Entry>{first, third}));
    AuditLog again(AuditOptions{dir, 400});
    again.open(kNoon);
    EXPECT_EQ(again.torn_tails(), 0u);
    EXPECT_EQ(again.read("", 0, 10), (std::vector<Entry>{first, third}));
}

TEST(AuditLog, ConcurrentAppendsAreAllKeptInTimeOrder) {
    test::TempDir tmp;
    AuditLog log(AuditOptions{fs::path(tmp.path()) / "audit", 400});
    log.open(kNoon);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&log, t] {
            for (int i = 0; i < 25; ++i)
                log.append(entry(kNoon + i, "w" + std::to_string(t), "dashboard.update"));
        });
    }
    for (auto& thread : threads)
        thread.join();
    const std::vector<Entry> read = log.read("", 0, 1000);
    ASSERT_EQ(read.size(), 100u);
    for (std::size_t i = 1; i < read.size(); ++i)
        EXPECT_LE(read[i - 1].time_ms, read[i].time_ms);
    EXPECT_EQ(log.read("w2", 0, 1000).size(), 25u);
}

TEST(AuditLog, ExportsItsFigures) {
    test::TempDir tmp;
    const fs::path dir = fs::path(tmp.path()) / "audit";
    write_sample(dir);
    std::string bytes = bytes_of(dir / "2024-10-04.audit");
    write_bytes(dir / "2024-10-04.audit", bytes.substr(0, bytes.size() - 3));
    AuditLog log(AuditOptions{dir, 400});
    log.open(kNoon);
    ASSERT_TRUE(log.append(entry(kNoon + kDay / 4, "default", "x.y")));
    telemetry::Metrics metrics(1);
    log.register_metrics(metrics);
    const std::string text = metrics.render();
    EXPECT_NE(text.find("tally_audit_entries_total 1\n"), std::string::npos) << text;
    EXPECT_NE(text.find("tally_audit_write_failures_total 0\n"), std::string::npos);
    EXPECT_NE(text.find("tally_audit_torn_tails_total 1\n"), std::string::npos);
}

}  // namespace
}  // namespace tally::audit
