// Record framing: round trip, and every truncation or flipped byte is detected.

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

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

/// Every record the cursor hands out from `bytes`, and the status it stopped at (ok when
/// it read them all).
std::vector<LoggedRecord> read_all(std::string_view bytes, DecodeStatus* stopped = nullptr) {
    std::vector<LoggedRecord> records;
    RecordCursor cursor(bytes);
    DecodeStatus status = DecodeStatus::ok;
    while (!cursor.done()) {
        LoggedRecord record;
        status = cursor.next(record);
        if (status != DecodeStatus::ok)
            break;
        records.push_back(std::move(record));
    }
    if (stopped != nullptr)
        *stopped = status;
    return records;
}

MetricPoint point(int i) {
    MetricPoint p;
    p.type = MetricType::count;
    p.timestamp_ms = 1'700'000'000'000 + i;
    p.value = i;
    p.workspace = "default";
    p.name = "api.requests";
    p.tags = {{"route", "/r" + std::to_string(i)}};
    return p;
}

TEST(Record, RoundTrip) {
    std::string log;
    for (int i = 0; i < 50; ++i)
        append_record(sample(i), log);
    DecodeStatus stopped{};
    const auto records = read_all(log, &stopped);
    EXPECT_EQ(stopped, DecodeStatus::ok);
    ASSERT_EQ(records.size(), 50u);
    for (int i = 0; i < 50; ++i) {
        EXPECT_FALSE(records[static_cast<std::size_t>(i)].is_point);
        EXPECT_TRUE(same(records[static_cast<std::size_t>(i)].event, sample(i))) << i;
    }
}

TEST(Record, EveryTruncationIsNeedMore) {
    std::string rec;
    append_record(sample(3), rec);
    for (std::size_t cut = 0; cut < rec.size(); ++cut) {
        DecodeStatus stopped{};
        EXPECT_TRUE(read_all(std::string_view(rec).substr(0, cut), &stopped).empty());
        EXPECT_EQ(stopped, cut == 0 ? DecodeStatus::ok : DecodeStatus::need_more) << cut;
    }
}

TEST(Record, EveryFlippedByteIsDetected) {
    std::string rec;
    append_record(sample(5), rec);
    for (std::size_t i = 0; i < rec.size(); ++i) {
        for (unsigned char bit : {0x01, 0x80}) {
            std::string bad = rec;
            bad[i] = static_cast<char>(bad[i] ^ bit);
            DecodeStatus stopped{};
            // A flipped length byte may make the record look longer (need_more) or absurd
            // (corrupt); never a wrong "ok".
            EXPECT_TRUE(read_all(bad, &stopped).empty()) << "byte " << i;
            EXPECT_NE(stopped, DecodeStatus::ok) << "byte " << i;
        }
    }
}

// Records appended together share a frame; the cursor hands them out one by one, with the
// batch's offset, mixed with plain records before and after.
TEST(Record, BatchesRoundTripAmongPlainRecords) {
    std::vector<Event> events;
    for (int i = 0; i < 5; ++i)
        events.push_back(sample(i));
    std::vector<MetricPoint> points = {point(1), point(2), point(3)};
    std::string log;
    append_records(events.data(), 1, log);  // one record: plain
    const std::size_t batch_at = log.size();
    append_records(events.data() + 1, 4, log);
    const std::size_t points_at = log.size();
    append_records(points.data(), points.size(), log);
    append_record(sample(9), log);

    RecordCursor cursor(log);
    std::vector<std::size_t> frames;
    std::vector<LoggedRecord> records;
    while (!cursor.done()) {
        LoggedRecord record;
        ASSERT_EQ(cursor.next(record), DecodeStatus::ok);
        frames.push_back(cursor.frame_offset());
        records.push_back(std::move(record));
    }
    ASSERT_EQ(records.size(), 1u + 4u + 3u + 1u);
    EXPECT_EQ(cursor.end(), log.size());
    for (std::size_t i = 0; i < 5; ++i)
        EXPECT_TRUE(same(records[i].event, events[i])) << i;
    for (std::size_t i = 0; i < 3; ++i) {
        ASSERT_TRUE(records[5 + i].is_point);
        EXPECT_EQ(records[5 + i].point.tags, points[i].tags);
        EXPECT_EQ(frames[5 + i], points_at);
    }
    EXPECT_TRUE(same(records[8].event, sample(9)));
    EXPECT_EQ(frames[0], 0u);
    for (std::size_t i = 1; i < 5; ++i)
        EXPECT_EQ(frames[i], batch_at);
}

// A batch cut anywhere, or with any byte flipped, yields none of its records: the ones
// before it all, the cursor stopped at its start.
TEST(Record, ABatchIsReadWhollyOrNotAtAll) {
    std::vector<Event> events;
    for (int i = 0; i < 4; ++i)
        events.push_back(sample(i));
    std::string log;
    append_record(sample(7), log);
    const std::size_t batch_at = log.size();
    append_records(events.data(), events.size(), log);
    for (std::size_t cut = batch_at + 1; cut < log.size(); ++cut) {
        DecodeStatus stopped{};
        EXPECT_EQ(read_all(std::string_view(log).substr(0, cut), &stopped).size(), 1u) << cut;
        EXPECT_EQ(stopped, DecodeStatus::need_more) << cut;
    }
    for (std::size_t i = batch_at; i < log.size(); ++i) {
        std::string bad = log;
        bad[i] = static_cast<char>(bad[i] ^ 0x10);
        RecordCursor cursor(bad);
        LoggedRecord record;
        ASSERT_EQ(cursor.next(record), DecodeStatus::ok);
        EXPECT_NE(cursor.next(record), DecodeStatus::ok) << "byte " << i;
        EXPECT_EQ(cursor.end(), batch_at);
    }
}

/// A frame around `payload`, checksum right.
std::string framed(const std::string& payload) {
    std::string out(kRecordHeaderSize, '\0');
    const auto length = static_cast<std::uint32_t>(payload.size());
    const std::uint32_t checksum = crc32c(payload);
    for (int i = 0; i < 4; ++i) {
        out[static_cast<std::size_t>(i)] = static_cast<char>(length >> (8 * i));
        out[4 + static_cast<std::size_t>(i)] = static_cast<char>(checksum >> (8 * i));
    }
    return out + payload;
}

// Only what append_records writes is a batch: not one of a single record, not an empty
// one, not one inside another, not one with a record that does not decode.
TEST(Record, MalformedBatchesAreCorrupt) {
    std::string one;
    append_record(sample(1), one);
    std::string two = one;
    append_record(sample(2), two);
    const std::string version(1, static_cast<char>(kBatchVersion));
    for (const std::string& payload :
         {version, version + one, version + framed(version + two) + one,
          version + two + framed("\x01junk"), version + two + "x"}) {
        DecodeStatus stopped{};
        EXPECT_TRUE(read_all(framed(payload), &stopped).empty());
        EXPECT_EQ(stopped, DecodeStatus::corrupt);
    }
    DecodeStatus stopped{};
    EXPECT_EQ(read_all(framed(version + two), &stopped).size(), 2u);
    EXPECT_EQ(stopped, DecodeStatus::ok);
}

// A request too large for one frame is split into batches, none above the frame limit.
TEST(Record, AHugeAppendIsSplitIntoFramesUnderTheLimit) {
    std::vector<Event> events(1'100, sample(1));
    for (Event& e : events)
        e.properties.assign(32 * 1024, 'p');
    std::string log;
    append_records(events.data(), events.size(), log);
    ASSERT_GT(log.size(), kBatchSplitBytes);
    std::set<std::size_t> frames;
    RecordCursor cursor(log);
    std::size_t records = 0;
    while (!cursor.done()) {
        LoggedRecord record;
        ASSERT_EQ(cursor.next(record), DecodeStatus::ok);
        frames.insert(cursor.frame_offset());
        ++records;
    }
    EXPECT_EQ(records, events.size());
    EXPECT_EQ(frames.size(), 2u);
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
