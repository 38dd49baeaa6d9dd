// Record framing: round trip, and every truncation or flipped byte is detected.

#include <gtest/gtest.h>

#include "tally/durability/crc32c.hpp"
#include "tally/durability/record.hpp"

namespace tally::durability {
namespace {

Event sample(int i) {
    Event e;
    e.kind = i % 2 ? EventKind::custom : EventKind::pageview;
    e.device = static_cast<Device>(i % 3);
    e.timestamp_ms = 1'700'000'000'000 + i;
    e.site = "site" + std::to_string(i);
    e.page = "/page/" + std::string(static_cast<std::size_t>(i * 7), 'x');
    e.referrer = "example.com";
    e.country = "US";
    e.event_name = i % 2 ? "signup" : "";
    e.session_id = "session-" + std::to_string(i);
    e.user_id = i % 3 ? "user" : "";
    e.visitor_id = "0123456789abcdef";
    e.properties = i % 2 ? R"({"plan":"pro"})" : "";
    return e;
}

bool same(const Event& a, const Event& b) {
    return a.kind == b.kind && a.device == b.device && a.timestamp_ms == b.timestamp_ms &&
           a.site == b.site && a.page == b.page && a.referrer == b.referrer &&
           a.country == b.country && a.event_name == b.event_name && a.session_id == b.session_id &&
           a.user_id == b.user_id && a.visitor_id == b.visitor_id && a.properties == b.properties;
}

TEST(Crc32c, KnownVectors) {
    // RFC 3720 B.4 test vectors.
    EXPECT_EQ(crc32c(std::string(32, '\0')), 0x8A9136AAu);
    EXPECT_EQ(crc32c(std::string(32, '\xff')), 0x62A8AB43u);
    EXPECT_EQ(crc32c("123456789"), 0xE3069283u);
    // Incremental equals one shot.
    EXPECT_EQ(crc32c("6789", crc32c("12345")), crc32c("123456789"));
}

TEST(Record, RoundTrip) {
    std::string log;
    for (int i = 0; i < 50; ++i)
        append_record(sample(i), log);
    std::size_t offset = 0;
    for (int i = 0; i < 50; ++i) {
        Event e;
        auto r = decode_record(std::string_view(log).substr(offset), e);
        ASSERT_EQ(r.status, DecodeStatus::ok);
        EXPECT_TRUE(same(e, sample(i))) << i;
        offset += r.consumed;
    }
    EXPECT_EQ(offset, log.size());
}

TEST(Record, EveryTruncationIsNeedMore) {
    std::string rec;
    append_record(sample(3), rec);
    for (std::size_t cut = 0; cut < rec.size(); ++cut) {
        Event e;
        auto r = decode_record(std::string_view(rec).substr(0, cut), e);
        EXPECT_EQ(r.status, DecodeStatus::need_more) << cut;
    }
}

TEST(Record, EveryFlippedByteIsDetected) {
    std::string rec;
    append_record(sample(5), rec);
    for (std::size_t i = 0; i < rec.size(); ++i) {
        for (unsigned char bit : {0x01, 0x80}) {
            std::string bad = rec;
            bad[i] = static_cast<char>(bad[i] ^ bit);
            Event e;
            auto r = decode_record(bad, e);
            // A flipped length byte may make the record look longer (need_more) or absurd
            // (corrupt); never a wrong "ok".
            EXPECT_NE(r.status, DecodeStatus::ok) << "byte " << i;
        }
    }
}

TEST(Record, MalformedPayloadsAreRejected) {
    Event e;
    EXPECT_FALSE(decode_payload("", e));
    EXPECT_FALSE(decode_payload(std::string("\x02", 1), e));
    std::string rec;
    append_record(sample(1), rec);
    std::string payload = rec.substr(kRecordHeaderSize);
    EXPECT_TRUE(decode_payload(payload, e));
    EXPECT_FALSE(decode_payload(payload + "x", e));  // trailing bytes
    payload[1] = 7;                                  // unknown kind
    EXPECT_FALSE(decode_payload(payload, e));
}

}  // namespace
}  // namespace tally::durability
