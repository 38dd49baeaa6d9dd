// Calendar arithmetic and RFC 3339 timestamps.

#include "tally/base/time.hpp"

#include <gtest/gtest.h>

#include "tally/ingest/parse.hpp"

namespace tally::ingest {
namespace {

TEST(Civil, KnownDays) {
    EXPECT_EQ(days_from_civil(1970, 1, 1), 0);
    EXPECT_EQ(days_from_civil(1969, 12, 31), -1);
    EXPECT_EQ(days_from_civil(2000, 3, 1), 11017);
    EXPECT_EQ(days_from_civil(2024, 1, 15), 19737);
    EXPECT_EQ(days_from_civil(1600, 1, 1), -135140);
}

TEST(Civil, RoundTripsEveryDayOverCenturies) {
    int previous_year = 0;
    unsigned previous_month = 0;
    unsigned previous_day = 0;
    civil_from_days(-800'000, previous_year, previous_month, previous_day);
    for (std::int64_t day = -800'000; day <= 800'000; ++day) {
        int year = 0;
        unsigned month = 0;
        unsigned day_of_month = 0;
        civil_from_days(day, year, month, day_of_month);
        ASSERT_EQ(days_from_civil(year, month, day_of_month), day);
        ASSERT_GE(month, 1u);
        ASSERT_LE(month, 12u);
        ASSERT_GE(day_of_month, 1u);
        ASSERT_LE(day_of_month, 31u);
    }
}

TEST(Day, Format) {
    EXPECT_EQ(format_day(0), "1970-01-01");
    EXPECT_EQ(format_day(-1), "1969-12-31");
    EXPECT_EQ(format_day(19737), "2024-01-15");
    EXPECT_EQ(format_day(days_from_civil(2024, 2, 29)), "2024-02-29");
    EXPECT_EQ(format_day(days_from_civil(9, 7, 4)), "0009-07-04");
}

TEST(Day, ParseAcceptsRealDates) {
    EXPECT_EQ(parse_day("1970-01-01"), 0);
    EXPECT_EQ(parse_day("2024-01-15"), 19737);
    EXPECT_EQ(parse_day("2024-02-29"), days_from_civil(2024, 2, 29));
    EXPECT_EQ(parse_day("2000-02-29"), days_from_civil(2000, 2, 29));
    EXPECT_EQ(parse_day("2024-12-31"), days_from_civil(2024, 12, 31));
}

TEST(Day, ParseRejectsMalformedOrUnrealDates) {
    for (const char* text :
         {"", "2024-1-15", "2024-01-5", "2024/01/15", "2024-01-15 ", " 2024-01-15", "2024-00-10",
          "2024-13-01", "2024-01-00", "2024-01-32", "2023-02-29", "1900-02-29", "2024-04-31",
          "20a4-01-15", "+024-01-15", "2024-01-1a", "today"}) {
        EXPECT_FALSE(parse_day(text).has_value()) << text;
    }
}

constexpr std::int64_t kJan15 = 1705314600000;  // 2024-01-15T10:30:00Z

TEST(Rfc3339, Basic) {
    EXPECT_EQ(parse_rfc3339_ms("2024-01-15T10:30:00Z"), kJan15);
    EXPECT_EQ(parse_rfc3339_ms("1970-01-01T00:00:00Z"), 0);
    EXPECT_EQ(parse_rfc3339_ms("1969-12-31T23:59:59.999Z"), -1);
}

TEST(Rfc3339, FractionsAreTruncatedToMilliseconds) {
    EXPECT_EQ(parse_rfc3339_ms("2024-01-15T10:30:00.1Z"), kJan15 + 100);
    EXPECT_EQ(parse_rfc3339_ms("2024-01-15T10:30:00.12Z"), kJan15 + 120);
    EXPECT_EQ(parse_rfc3339_ms("2024-01-15T10:30:00.123Z"), kJan15 + 123);
    EXPECT_EQ(parse_rfc3339_ms("2024-01-15T10:30:00.1239Z"), kJan15 + 123);
    EXPECT_EQ(parse_rfc3339_ms("2024-01-15T10:30:00.999999999Z"), kJan15 + 999);
    EXPECT_EQ(parse_rfc3339_ms("2024-01-15T10:30:00.000001Z"), kJan15);
    // Python's isoformat with microseconds.
    EXPECT_EQ(parse_rfc3339_ms("2025-08-09T19:04:31.239503+00:00"),
              parse_rfc3339_ms("2025-08-09T19:04:31.239Z"));
}

TEST(Rfc3339, Offsets) {
    EXPECT_EQ(parse_rfc3339_ms("2024-01-15T12:30:00+02:00"), kJan15);
    EXPECT_EQ(parse_rfc3339_ms("2024-01-15T05:00:00-05:30"), kJan15);
    EXPECT_EQ(parse_rfc3339_ms("2024-01-15T10:30:00+00:00"), kJan15);
    EXPECT_EQ(parse_rfc3339_ms("2024-01-15T10:30:00-00:00"), kJan15);
    EXPECT_EQ(parse_rfc3339_ms("2024-01-16T00:29:00+13:59"), kJan15);
    // An offset can move the instant to another UTC day.
    EXPECT_EQ(parse_rfc3339_ms("2024-01-01T01:00:00+02:00"),
              parse_rfc3339_ms("2023-12-31T23:00:00Z"));
}

TEST(Rfc3339, LenientSpellingsFromRfc3339Section5_6) {
    EXPECT_EQ(parse_rfc3339_ms("2024-01-15t10:30:00z"), kJan15);
    EXPECT_EQ(parse_rfc3339_ms("2024-01-15 10:30:00Z"), kJan15);
}

TEST(Rfc3339, CalendarRanges) {
    EXPECT_TRUE(parse_rfc3339_ms("2024-02-29T00:00:00Z"));
    EXPECT_TRUE(parse_rfc3339_ms("2000-02-29T00:00:00Z"));
    EXPECT_FALSE(parse_rfc3339_ms("2023-02-29T00:00:00Z"));
    EXPECT_FALSE(parse_rfc3339_ms("1900-02-29T00:00:00Z"));
    EXPECT_FALSE(parse_rfc3339_ms("2024-04-31T00:00:00Z"));
    EXPECT_FALSE(parse_rfc3339_ms("2024-00-10T00:00:00Z"));
    EXPECT_FALSE(parse_rfc3339_ms("2024-13-10T00:00:00Z"));
    EXPECT_FALSE(parse_rfc3339_ms("2024-01-00T00:00:00Z"));
    EXPECT_TRUE(parse_rfc3339_ms("2024-01-15T23:59:59Z"));
    EXPECT_FALSE(parse_rfc3339_ms("2024-01-15T24:00:00Z"));
    EXPECT_FALSE(parse_rfc3339_ms("2024-01-15T10:60:00Z"));
    EXPECT_FALSE(parse_rfc3339_ms("2024-01-15T10:30:61Z"));
    EXPECT_FALSE(parse_rfc3339_ms("2024-01-15T10:30:00+24:00"));
    EXPECT_FALSE(parse_rfc3339_ms("2024-01-15T10:30:00+02:60"));
}

TEST(Rfc3339, LeapSecondIsPinnedToTheLastMillisecondOfItsMinute) {
    EXPECT_EQ(parse_rfc3339_ms("2016-12-31T23:59:60Z"),
              parse_rfc3339_ms("2016-12-31T23:59:59.999Z"));
    EXPECT_EQ(parse_rfc3339_ms("2016-12-31T23:59:60.5Z"),
              parse_rfc3339_ms("2016-12-31T23:59:59.999Z"));
}

TEST(Rfc3339, RejectsMalformedText) {
    for (const char* text : {
             "",
             "2024-01-15",
             "2024-01-15T10:30:00",       // no zone
             "2024-01-15T10:30Z",         // no seconds
             "2024-01-15T10:30:00.Z",     // empty fraction
             "2024-01-15T10:30:00,5Z",    // comma fraction (ISO 8601, not RFC 3339)
             "2024-01-15T10:30:00Z ",     // trailing byte
             " 2024-01-15T10:30:00Z",     // leading byte
             "2024-01-15T10:30:00+0200",  // offset without colon
             "2024-01-15T10:30:00+02",    // short offset
             "2024-01-15T10:30:00+02:000",
             "2024-01-15T10:30:00UTC",
             "2024-01-15X10:30:00Z",
             "2024-1-15T10:30:00Z",
             "24-01-15T10:30:00Z",
             "2024-01-15T1:30:00Z",
             "2024-01-15T10:30:0aZ",
             "+2024-01-15T10:30:00Z",
             "2024-01-15T10:30:00.123",
             "1705314600000",
         }) {
        EXPECT_FALSE(parse_rfc3339_ms(text).has_value()) << text;
    }
}

TEST(Rfc3339, Format) {
    EXPECT_EQ(format_rfc3339_ms(0), "1970-01-01T00:00:00Z");
    EXPECT_EQ(format_rfc3339_ms(kJan15), "2024-01-15T10:30:00Z");
    EXPECT_EQ(format_rfc3339_ms(kJan15 + 123), "2024-01-15T10:30:00.123Z");
    EXPECT_EQ(format_rfc3339_ms(kJan15 + 5), "2024-01-15T10:30:00.005Z");
    EXPECT_EQ(format_rfc3339_ms(kJan15 + 50), "2024-01-15T10:30:00.050Z");
    EXPECT_EQ(format_rfc3339_ms(-1), "1969-12-31T23:59:59.999Z");
    EXPECT_EQ(format_rfc3339_ms(951782400000), "2000-02-29T00:00:00Z");
}

TEST(Rfc3339, FormatThenParseRoundTrips) {
    for (std::int64_t ms = -5'000'000'000'000; ms < 5'000'000'000'000; ms += 7'777'777'777) {
        ASSERT_EQ(parse_rfc3339_ms(format_rfc3339_ms(ms)), ms) << ms;
    }
}

TEST(TimeOf, DayAndMinute) {
    EXPECT_EQ(day_of(kJan15), 19737);
    EXPECT_EQ(day_of(-1), -1);
    EXPECT_EQ(minute_of_day(kJan15), 10 * 60 + 30);
}

}  // namespace
}  // namespace tally::ingest
