// HyperLogLog against a real redis-server: the same members give the same registers,
// PFCOUNT equals count() to the unit, the dense bytes are interchangeable both ways, and
// PFMERGE equals merge(). Skipped only when redis-server is not installed.

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "support/redis_server.hpp"
#include "tally/sketch/hyperloglog.hpp"

namespace {

using tally::sketch::HyperLogLog;
using tally::test::RedisReply;
using tally::test::RedisServer;
using tally::test::reply_integer;
using tally::test::reply_string;

// Members with every MurmurHash tail length, embedded NULs and high bytes, and the
// empty string, next to ordinary text: PFADD hashes the raw bytes, so must we.
std::vector<std::string> make_members(std::size_t n, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<std::string> members;
    members.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        if (i % 7 == 3) {
            std::string m(i % 23, '\0');
            for (char& c : m)
                c = static_cast<char>(rng());
            members.push_back(std::move(m));
        } else {
            members.push_back("visitor:" + std::to_string(seed) + ":" + std::to_string(i));
        }
    }
    return members;
}

class HyperLogLogRedis : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!RedisServer::available())
            GTEST_SKIP() << "redis-server is not installed";
        redis_ = std::make_unique<RedisServer>();
    }

    // PFADD in pipelined batches of 1000 members. With no members it still creates the
    // key, as PFADD does.
    void pfadd(const std::string& key, const std::vector<std::string>& members) {
        constexpr std::size_t kBatch = 1000;
        std::size_t sent = 0;
        std::size_t commands = 0;
        do {
            std::vector<std::string_view> args = {"PFADD", key};
            for (std::size_t end = std::min(members.size(), sent + kBatch); sent < end; ++sent) {
                args.emplace_back(members[sent]);
            }
            redis_->append_argv(args);
            ++commands;
        } while (sent < members.size());
        for (std::size_t i = 0; i < commands; ++i) {
            RedisReply reply = redis_->get_reply();
            ASSERT_EQ(reply->type, REDIS_REPLY_INTEGER) << reply_string(reply.get());
        }
    }

    std::uint64_t pfcount(const std::string& key) {
        return static_cast<std::uint64_t>(
            reply_integer(redis_->command("PFCOUNT %s", key.c_str()).get()));
    }

    std::string get(const std::string& key) {
        return reply_string(redis_->command("GET %s", key.c_str()).get());
    }

    void set(const std::string& key, const std::string& value) {
        RedisReply reply = redis_->command("SET %s %b", key.c_str(), value.data(), value.size());
        ASSERT_EQ(reply_string(reply.get()), "OK");
    }

    std::string encoding(const std::string& key) {
        return reply_string(redis_->command("PFDEBUG ENCODING %s", key.c_str()).get());
    }

    // PFDEBUG GETREG: the 16384 registers (it converts a sparse key to dense).
    void expect_registers(const std::string& key, const HyperLogLog& hll) {
        RedisReply reply = redis_->command("PFDEBUG GETREG %s", key.c_str());
        ASSERT_EQ(reply->type, REDIS_REPLY_ARRAY);
        ASSERT_EQ(reply->elements, HyperLogLog::kRegisters);
        for (std::size_t i = 0; i < HyperLogLog::kRegisters; ++i) {
            ASSERT_EQ(reply_integer(reply->element[i]), hll.register_at(i))
                << key << " register " << i;
        }
    }

    std::unique_ptr<RedisServer> redis_;
};

TEST_F(HyperLogLogRedis, SameMembersSameRegistersCountAndBytes) {
    const std::size_t sizes[] = {0, 1, 7, 100, 1000, 3000, 100'000, 250'000};
    bool saw_sparse = false, saw_dense = false;
    for (std::size_t n : sizes) {
        SCOPED_TRACE("n=" + std::to_string(n));
        const std::string key = "hll:" + std::to_string(n);
        const auto members = make_members(n, n + 1);
        HyperLogLog hll;
        for (const auto& m : members)
            hll.add(m);
        pfadd(key, members);

        // Redis's own estimate on Redis's own registers.
        const std::string enc = encoding(key);
        (enc == "sparse" ? saw_sparse : saw_dense) = true;
        EXPECT_EQ(pfcount(key), hll.count());

        // GET as Redis holds it (sparse or dense) parses to our registers.
        auto parsed = HyperLogLog::from_redis_bytes(get(key));
        ASSERT_TRUE(parsed.has_value()) << enc;
        EXPECT_EQ(*parsed, hll) << enc;

        // Forced dense, with the cache filled by PFCOUNT: the whole string equals ours,
        // header (magic, encoding, cached cardinality) and registers.
        // The reply is 1 when it converted, 0 when the key was dense already.
        const long long converted =
            reply_integer(redis_->command("PFDEBUG TODENSE %s", key.c_str()).get());
        EXPECT_EQ(converted, enc == "sparse" ? 1 : 0);
        EXPECT_EQ(encoding(key), "dense");
        EXPECT_EQ(pfcount(key), hll.count());
        const std::string redis_dense = get(key);
        const std::string ours = hll.dense_bytes();
        ASSERT_EQ(redis_dense.size(), HyperLogLog::kDenseSize);
        EXPECT_TRUE(redis_dense.compare(16, std::string::npos, ours, 16) == 0);
        EXPECT_EQ(redis_dense, ours);
        auto parsed_dense = HyperLogLog::from_redis_bytes(redis_dense);
        ASSERT_TRUE(parsed_dense.has_value());
        EXPECT_EQ(*parsed_dense, hll);

        expect_registers(key, hll);

        // Our bytes SET into Redis are a working HyperLogLog there: its cached count, a
        // recount from our registers with the cache invalidated, and further PFADDs.
        const std::string copy = key + ":ours";
        set(copy, ours);
        EXPECT_EQ(pfcount(copy), hll.count());
        std::string uncached = ours;
        uncached[15] = static_cast<char>(uncached[15] | 0x80);
        set(copy, uncached);
        EXPECT_EQ(pfcount(copy), hll.count());
        const auto more = make_members(500, n + 1000);
        pfadd(copy, more);
        for (const auto& m : more)
            hll.add(m);
        EXPECT_EQ(pfcount(copy), hll.count());
        expect_registers(copy, hll);
    }
    EXPECT_TRUE(saw_sparse);
    EXPECT_TRUE(saw_dense);
}

TEST_F(HyperLogLogRedis, PfmergeEqualsMerge) {
    struct Case {
        std::size_t a, b, dest;  // members in each source and already in the destination
    };
    // Sparse + sparse, sparse + dense, dense + dense; PFMERGE keeps the destination's own
    // registers in the union.
    const Case cases[] = {{50, 80, 0}, {40, 20'000, 10}, {30'000, 60'000, 2'000}};
    int round = 0;
    for (const Case& c : cases) {
        SCOPED_TRACE("case " + std::to_string(round));
        const std::string ka = "a" + std::to_string(round);
        const std::string kb = "b" + std::to_string(round);
        const std::string kd = "d" + std::to_string(round);
        ++round;
        auto ma = make_members(c.a, 100 + round);
        auto mb = make_members(c.b, 200 + round);
        ma.insert(ma.end(), mb.begin(), mb.begin() + static_cast<std::ptrdiff_t>(c.b / 3));
        const auto md = make_members(c.dest, 300 + round);
        HyperLogLog a, b, d;
        for (const auto& m : ma)
            a.add(m);
        for (const auto& m : mb)
            b.add(m);
        for (const auto& m : md)
            d.add(m);
        pfadd(ka, ma);
        pfadd(kb, mb);
        if (c.dest > 0)
            pfadd(kd, md);

        // Multi-key PFCOUNT: the union, without touching any key.
        HyperLogLog ab = a;
        ab.merge(b);
        EXPECT_EQ(static_cast<std::uint64_t>(reply_integer(
                      redis_->command("PFCOUNT %s %s", ka.c_str(), kb.c_str()).get())),
                  ab.count());

        ASSERT_EQ(
            reply_string(
                redis_->command("PFMERGE %s %s %s", kd.c_str(), ka.c_str(), kb.c_str()).get()),
            "OK");
        HyperLogLog merged = d;
        merged.merge(a);
        merged.merge(b);
        EXPECT_EQ(pfcount(kd), merged.count());
        auto parsed = HyperLogLog::from_redis_bytes(get(kd));
        ASSERT_TRUE(parsed.has_value());
        EXPECT_EQ(*parsed, merged);
        expect_registers(kd, merged);
    }
}

// Differential fuzzing: mutated HLL strings SET into Redis. Redis rejects exactly what we
// reject, and where both accept, its PFCOUNT (cache invalidated, so it recounts from the
// registers) equals our count().
TEST_F(HyperLogLogRedis, CorruptStringsJudgedLikeRedis) {
    const auto small = make_members(400, 77);
    const auto large = make_members(20'000, 78);
    pfadd("fz:sparse", small);
    pfadd("fz:dense", large);
    ASSERT_EQ(encoding("fz:sparse"), "sparse");
    ASSERT_EQ(encoding("fz:dense"), "dense");
    const std::string originals[] = {get("fz:sparse"), get("fz:dense")};

    std::mt19937_64 rng(2024);
    constexpr int kRounds = 3000;
    std::vector<std::string> inputs;
    for (int round = 0; round < kRounds; ++round) {
        std::string s = originals[round % 2];
        const int flips = 1 + static_cast<int>(rng() % 3);
        for (int f = 0; f < flips; ++f) {
            // Mostly the registers, sometimes the header.
            const std::size_t at = rng() % 8 == 0 ? rng() % 16 : 16 + rng() % (s.size() - 16);
            s[at] = static_cast<char>(s[at] ^ static_cast<char>(1 + rng() % 255));
        }
        if (rng() % 5 == 0)
            s.resize(rng() % (s.size() + 4), static_cast<char>(rng()));
        if (s.size() >= 16)
            s[15] = static_cast<char>(s[15] | 0x80);  // force a recount
        inputs.push_back(std::move(s));
    }
    for (const auto& s : inputs) {
        redis_->append_argv({"SET", "fz:x", s});
        redis_->append_argv({"PFCOUNT", "fz:x"});
    }
    int accepted = 0, rejected = 0;
    for (const auto& s : inputs) {
        RedisReply set_reply = redis_->get_reply();
        ASSERT_EQ(set_reply->type, REDIS_REPLY_STATUS);
        RedisReply count_reply = redis_->get_reply();
        const auto ours = HyperLogLog::from_redis_bytes(s);
        if (count_reply->type == REDIS_REPLY_ERROR) {
            ++rejected;
            EXPECT_FALSE(ours.has_value()) << reply_string(count_reply.get());
        } else {
            ++accepted;
            ASSERT_TRUE(ours.has_value()) << "Redis accepted what we rejected";
            EXPECT_EQ(ours->count(), static_cast<std::uint64_t>(reply_integer(count_reply.get())));
        }
    }
    EXPECT_GT(accepted, 100);
    EXPECT_GT(rejected, 100);
}

// The support class itself, as the Redis-mirror tests will use it: a crash (SIGKILL) and
// restart on the same port keeps what the append-only file holds.
TEST(RedisServerSupport, RestartKeepsAppendOnlyData) {
    if (!RedisServer::available())
        GTEST_SKIP() << "redis-server is not installed";
    RedisServer redis({"--appendonly", "yes"});
    const int port = redis.port();
    ASSERT_EQ(reply_string(redis.command("SET %s %b", "k", "v\0w", std::size_t{3}).get()), "OK");
    redis.stop();
    EXPECT_FALSE(redis.running());
    EXPECT_EQ(redis.context(), nullptr);
    EXPECT_THROW(redis.command("PING"), std::runtime_error);
    redis.start();
    EXPECT_TRUE(redis.running());
    EXPECT_EQ(redis.port(), port);
    EXPECT_EQ(reply_string(redis.command("GET k").get()), std::string("v\0w", 3));
    // A second, independent connection sees the same data.
    tally::test::RedisContext other = redis.connect();
    RedisReply reply(static_cast<redisReply*>(redisCommand(other.get(), "GET k")));
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply_string(reply.get()), std::string("v\0w", 3));
}

}  // namespace
