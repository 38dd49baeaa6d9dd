// SipHash-2-4 and the per-day salts of the cookieless visitor id.

#include "tally/ingest/visitor_hash.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <set>
#include <thread>
#include <vector>

#include "support/process.hpp"
#include "tally/base/time.hpp"

namespace tally::ingest {
namespace {

namespace fs = std::filesystem;

std::array<std::uint8_t, 16> reference_key() {
    std::array<std::uint8_t, 16> key{};
    for (std::size_t i = 0; i < key.size(); ++i) {
        key[i] = static_cast<std::uint8_t>(i);
    }
    return key;
}

// The message 00 01 02 ... (length-1) of the reference test vectors.
std::string counting_bytes(std::size_t length) {
    std::string data(length, '\0');
    for (std::size_t i = 0; i < length; ++i) {
        data[i] = static_cast<char>(i);
    }
    return data;
}

TEST(SipHash24, PaperTestVector) {
    // Appendix A of the SipHash paper: key 00..0f, message 00..0e.
    EXPECT_EQ(siphash24(reference_key(), counting_bytes(15)), 0xa129ca6149be45e5ULL);
}

TEST(SipHash24, ReferenceVectorsAcrossWordBoundaries) {
    // From the reference implementation's vectors (key 00..0f, message 00..len-1),
    // read as little-endian 64-bit values.
    EXPECT_EQ(siphash24(reference_key(), counting_bytes(0)), 0x726fdb47dd0e0e31ULL);
    EXPECT_EQ(siphash24(reference_key(), counting_bytes(1)), 0x74f839c593dc67fdULL);
    EXPECT_EQ(siphash24(reference_key(), counting_bytes(7)), 0xab0200f58b01d137ULL);
    EXPECT_EQ(siphash24(reference_key(), counting_bytes(8)), 0x93f5f5799a932462ULL);
    EXPECT_EQ(siphash24(reference_key(), counting_bytes(63)), 0x958a324ceb064572ULL);
}

class VisitorHasherTest : public ::testing::Test {
  protected:
    test::TempDir temp_;
    fs::path salts_ = fs::path(temp_.path()) / "data" / "salts";
    static constexpr std::int64_t kDay = 19737;  // 2024-01-15
    static constexpr const char* kUa = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Firefox/121.0";
};

TEST_F(VisitorHasherTest, CreatesTheSaltDirectory) {
    VisitorHasher hasher(salts_);
    EXPECT_TRUE(fs::is_directory(salts_));
}

TEST_F(VisitorHasherTest, RefusesADirectoryItCannotCreate) {
    const fs::path file = fs::path(temp_.path()) / "plain-file";
    std::ofstream(file) << "x";
    EXPECT_THROW(VisitorHasher{file / "salts"}, std::runtime_error);
    EXPECT_THROW(VisitorHasher{file}, std::runtime_error);
}

TEST_F(VisitorHasherTest, IdIsSixteenLowerCaseHexDigits) {
    VisitorHasher hasher(salts_);
    const std::string id = hasher.visitor_id(kDay, "default", "203.0.113.7", kUa);
    ASSERT_EQ(id.size(), 16u);
    for (const char c : id) {
        EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << id;
    }
}

TEST_F(VisitorHasherTest, IdIsSipHashOfTheSaltAndTheThreeParts) {
    VisitorHasher hasher(salts_);
    const std::string id = hasher.visitor_id(kDay, "site", "10.0.0.1", "UA");
    std::ifstream file(salts_ / "2024-01-15");
    std::string hex;
    file >> hex;
    ASSERT_EQ(hex.size(), 32u);
    std::array<std::uint8_t, 16> salt{};
    for (std::size_t i = 0; i < 16; ++i) {
        salt[i] = static_cast<std::uint8_t>(std::stoul(hex.substr(2 * i, 2), nullptr, 16));
    }
    char expected[17];
    std::snprintf(expected, sizeof expected, "%016llx",
                  static_cast<unsigned long long>(siphash24(salt, std::string("site\0"
                                                                              "10.0.0.1\0"
                                                                              "UA",
                                                                              16))));
    EXPECT_EQ(id, expected);
}

TEST_F(VisitorHasherTest, SameInputsSameIdAndEachPartMatters) {
    VisitorHasher hasher(salts_);
    const std::string id = hasher.visitor_id(kDay, "default", "203.0.113.7", kUa);
    EXPECT_EQ(hasher.visitor_id(kDay, "default", "203.0.113.7", kUa), id);
    EXPECT_NE(hasher.visitor_id(kDay, "other", "203.0.113.7", kUa), id);
    EXPECT_NE(hasher.visitor_id(kDay, "default", "203.0.113.8", kUa), id);
    EXPECT_NE(hasher.visitor_id(kDay, "default", "203.0.113.7", "curl/8"), id);
    EXPECT_NE(hasher.visitor_id(kDay + 1, "default", "203.0.113.7", kUa), id);
    // The separators keep the parts apart.
    EXPECT_NE(hasher.visitor_id(kDay, "ab", "c", ""), hasher.visitor_id(kDay, "a", "bc", ""));
}

TEST_F(VisitorHasherTest, SaltSurvivesARestart) {
    std::string before;
    {
        VisitorHasher first(salts_);
        before = first.visitor_id(kDay, "default", "203.0.113.7", kUa);
    }
    EXPECT_TRUE(fs::exists(salts_ / "2024-01-15"));
    VisitorHasher second(salts_);
    EXPECT_EQ(second.visitor_id(kDay, "default", "203.0.113.7", kUa), before);
}

TEST_F(VisitorHasherTest, TwoInstancesOnOneDirectoryAgree) {
    VisitorHasher a(salts_);
    const std::string id = a.visitor_id(kDay, "s", "1.2.3.4", kUa);
    VisitorHasher b(salts_);
    EXPECT_EQ(b.visitor_id(kDay, "s", "1.2.3.4", kUa), id);
}

TEST_F(VisitorHasherTest, EachDayHasItsOwnSaltFile) {
    VisitorHasher hasher(salts_);
    hasher.visitor_id(kDay, "s", "ip", kUa);
    hasher.visitor_id(kDay + 1, "s", "ip", kUa);
    const auto read = [this](const char* name) {
        std::ifstream file(salts_ / name);
        return std::string(std::istreambuf_iterator<char>(file), {});
    };
    const std::string day1 = read("2024-01-15");
    const std::string day2 = read("2024-01-16");
    EXPECT_EQ(day1.size(), 33u);
    EXPECT_EQ(day2.size(), 33u);
    EXPECT_NE(day1, day2);
    // Nothing but the salt files is left behind (no temp files).
    std::set<std::string> names;
    for (const auto& entry : fs::directory_iterator(salts_)) {
        names.insert(entry.path().filename().string());
    }
    EXPECT_EQ(names, (std::set<std::string>{"2024-01-15", "2024-01-16"}));
}

TEST_F(VisitorHasherTest, FreshDirectoriesGetFreshSalts) {
    VisitorHasher a(salts_ / "a");
    VisitorHasher b(salts_ / "b");
    EXPECT_NE(a.visitor_id(kDay, "s", "ip", kUa), b.visitor_id(kDay, "s", "ip", kUa));
}

TEST_F(VisitorHasherTest, CorruptSaltFileIsReplaced) {
    fs::create_directories(salts_);
    std::ofstream(salts_ / "2024-01-15") << "not a salt";
    VisitorHasher hasher(salts_);
    const std::string id = hasher.visitor_id(kDay, "s", "ip", kUa);
    EXPECT_EQ(fs::file_size(salts_ / "2024-01-15"), 33u);
    VisitorHasher again(salts_);
    EXPECT_EQ(again.visitor_id(kDay, "s", "ip", kUa), id);
}

TEST_F(VisitorHasherTest, ForgetBeforeDeletesOlderSaltsOnly) {
    VisitorHasher hasher(salts_);
    const std::string old_id = hasher.visitor_id(kDay - 3, "s", "ip", kUa);
    hasher.visitor_id(kDay - 2, "s", "ip", kUa);
    const std::string kept_id = hasher.visitor_id(kDay - 1, "s", "ip", kUa);
    hasher.visitor_id(kDay, "s", "ip", kUa);
    std::ofstream(salts_ / "2024-01-12.tmp.999") << "left over";
    std::ofstream(salts_ / "README") << "not a salt";

    hasher.forget_before(kDay - 1);

    EXPECT_FALSE(fs::exists(salts_ / "2024-01-12"));
    EXPECT_FALSE(fs::exists(salts_ / "2024-01-12.tmp.999"));
    EXPECT_FALSE(fs::exists(salts_ / "2024-01-13"));
    EXPECT_TRUE(fs::exists(salts_ / "2024-01-14"));
    EXPECT_TRUE(fs::exists(salts_ / "2024-01-15"));
    EXPECT_TRUE(fs::exists(salts_ / "README"));

    // Kept days keep their ids; a forgotten day can no longer be recomputed: asking again
    // creates a new salt.
    EXPECT_EQ(hasher.visitor_id(kDay - 1, "s", "ip", kUa), kept_id);
    EXPECT_NE(hasher.visitor_id(kDay - 3, "s", "ip", kUa), old_id);
    VisitorHasher restarted(salts_);
    EXPECT_EQ(restarted.visitor_id(kDay - 1, "s", "ip", kUa), kept_id);
}

TEST_F(VisitorHasherTest, ConcurrentFirstUseCreatesOneSalt) {
    VisitorHasher hasher(salts_);
    std::vector<std::string> ids(8);
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < ids.size(); ++t) {
        threads.emplace_back([&hasher, &ids, t] {
            for (int i = 0; i < 1000; ++i) {
                ids[t] = hasher.visitor_id(kDay + i % 3, "s", "ip", kUa);
            }
        });
    }
    for (std::thread& thread : threads) {
        thread.join();
    }
    for (const std::string& id : ids) {
        EXPECT_EQ(id, hasher.visitor_id(kDay, "s", "ip", kUa));
    }
}

}  // namespace
}  // namespace tally::ingest
