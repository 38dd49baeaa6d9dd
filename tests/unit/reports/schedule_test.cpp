// Schedules: parsing (every bad form refused with a message naming its part), and the
// due-time arithmetic across hour, day, week, month and year boundaries, leap days and
// times before 1970, checked against the civil calendar computed independently.

#include "tally/reports/schedule.hpp"

#include <gtest/gtest.h>

#include <random>

#include "tally/base/time.hpp"

namespace tally::reports {
namespace {

constexpr std::int64_t kHour = 3'600'000;
constexpr std::int64_t kMinute = 60'000;

std::int64_t at(const char* rfc3339) {
    const auto ms = parse_rfc3339_ms(rfc3339);
    EXPECT_TRUE(ms) << rfc3339;
    return ms.value_or(0);
}

Schedule parsed(const char* text) {
    auto result = parse_schedule(text);
    EXPECT_TRUE(std::holds_alternative<Schedule>(result)) << text;
    return std::holds_alternative<Schedule>(result) ? std::get<Schedule>(result) : Schedule{};
}

TEST(Schedule, ParsesTheThreeFormsToTheirCanonicalText) {
    EXPECT_EQ(parsed("hourly").kind, Schedule::Kind::hourly);
    const Schedule daily = parsed("daily@07:30");
    EXPECT_EQ(daily.kind, Schedule::Kind::daily);
    EXPECT_EQ(daily.minute_of_day, 7 * 60 + 30);
    const Schedule weekly = parsed("weekly@sun 23:59");
    EXPECT_EQ(weekly.kind, Schedule::Kind::weekly);
    EXPECT_EQ(weekly.weekday, 6);
    EXPECT_EQ(weekly.minute_of_day, 23 * 60 + 59);
    for (const char* text : {"hourly", "daily@00:00", "daily@23:59", "weekly@mon 09:00",
                             "weekly@wed 00:05", "weekly@sun 23:59"})
        EXPECT_EQ(parsed(text).text(), text);
    EXPECT_EQ(parsed("hourly").period_ms(), kHour);
    EXPECT_EQ(parsed("daily@01:00").period_ms(), kMsPerDay);
    EXPECT_EQ(parsed("weekly@mon 01:00").period_ms(), 7 * kMsPerDay);
}

TEST(Schedule, RefusesBadFormsSayingWhatIsWrong) {
    const std::vector<std::pair<const char*, const char*>> cases = {
        {"", "hourly, daily@HH:MM or weekly"},
        {"Hourly", "hourly, daily@HH:MM or weekly"},
        {"monthly@01 00:00", "hourly, daily@HH:MM or weekly"},
        {"daily", "hourly, daily@HH:MM or weekly"},
        {"daily@", "HH:MM"},
        {"daily@7:30", "HH:MM"},
        {"daily@07:30 ", "HH:MM"},
        {"daily@0730", "HH:MM"},
        {"daily@24:00", "hour"},
        {"daily@ab:00", "hour"},
        {"daily@12:60", "minute"},
        {"daily@12:-1", "minute"},
        {"weekly@monday 09:00", "mon tue wed"},
        {"weekly@Mon 09:00", "mon tue wed"},
        {"weekly@ 09:00", "mon tue wed"},
        {"weekly@mon", "weekly@<day> HH:MM"},
        {"weekly@mon 9:00", "HH:MM"},
        {"weekly@mon  09:00", "HH:MM"},
        {"weekly@fri 25:00", "hour"},
    };
    for (const auto& [text, words] : cases) {
        auto result = parse_schedule(text);
        ASSERT_TRUE(std::holds_alternative<std::string>(result)) << text;
        EXPECT_NE(std::get<std::string>(result).find(words), std::string::npos)
            << text << ": " << std::get<std::string>(result);
    }
}

TEST(Schedule, HourlyIsDueOnEveryWholeHour) {
    const Schedule s = parsed("hourly");
    EXPECT_EQ(next_due_after(s, at("2026-03-05T09:59:59.999Z")), at("2026-03-05T10:00:00Z"));
    EXPECT_EQ(next_due_after(s, at("2026-03-05T10:00:00Z")), at("2026-03-05T11:00:00Z"));
    EXPECT_EQ(next_due_after(s, at("2026-03-05T10:00:00.001Z")), at("2026-03-05T11:00:00Z"));
    EXPECT_EQ(last_due_at_or_before(s, at("2026-03-05T10:00:00Z")), at("2026-03-05T10:00:00Z"));
    EXPECT_EQ(last_due_at_or_before(s, at("2026-03-05T09:59:59.999Z")), at("2026-03-05T09:00:00Z"));
    // Across the end of a day, a month and a year.
    EXPECT_EQ(next_due_after(s, at("2026-12-31T23:00:00Z")), at("2027-01-01T00:00:00Z"));
    const Period p = previous_period(s, at("2027-01-01T00:00:00Z"));
    EXPECT_EQ(p.from_ms, at("2026-12-31T23:00:00Z"));
    EXPECT_EQ(p.to_ms, at("2027-01-01T00:00:00Z"));
}

TEST(Schedule, DailyIsDueAtItsTimeEveryDayAcrossMonthsYearsAndLeapDays) {
    const Schedule s = parsed("daily@23:30");
    EXPECT_EQ(next_due_after(s, at("2024-02-28T23:31:00Z")), at("2024-02-29T23:30:00Z"));
    EXPECT_EQ(next_due_after(s, at("2024-02-29T23:30:00Z")), at("2024-03-01T23:30:00Z"));
    EXPECT_EQ(next_due_after(s, at("2023-02-28T23:30:00Z")), at("2023-03-01T23:30:00Z"));
    EXPECT_EQ(next_due_after(s, at("2026-12-31T23:30:00Z")), at("2027-01-01T23:30:00Z"));
    EXPECT_EQ(last_due_at_or_before(s, at("2027-01-01T23:29:59.999Z")), at("2026-12-31T23:30:00Z"));
    const Schedule midnight = parsed("daily@00:00");
    EXPECT_EQ(next_due_after(midnight, at("2026-12-31T23:30:00Z")), at("2027-01-01T00:00:00Z"));
    const Period p = previous_period(midnight, at("2027-01-01T00:00:00Z"));
    EXPECT_EQ(p.from_ms, at("2026-12-31T00:00:00Z"));
    EXPECT_EQ(p.to_ms, at("2027-01-01T00:00:00Z"));
    // Before 1970: floor division, not truncation.
    EXPECT_EQ(last_due_at_or_before(s, at("1969-12-31T12:00:00Z")), at("1969-12-30T23:30:00Z"));
}

TEST(Schedule, WeeklyIsDueOnItsDayAcrossTheYearsEnd) {
    // 2026-12-31 is a Thursday, 2027-01-04 a Monday, 2027-01-03 a Sunday.
    const Schedule monday = parsed("weekly@mon 09:00");
    EXPECT_EQ(next_due_after(monday, at("2026-12-31T12:00:00Z")), at("2027-01-04T09:00:00Z"));
    EXPECT_EQ(last_due_at_or_before(monday, at("2026-12-31T12:00:00Z")),
              at("2026-12-28T09:00:00Z"));
    const Schedule sunday = parsed("weekly@sun 23:59");
    EXPECT_EQ(next_due_after(sunday, at("2026-12-31T12:00:00Z")), at("2027-01-03T23:59:00Z"));
    const Schedule thursday = parsed("weekly@thu 12:00");
    EXPECT_EQ(last_due_at_or_before(thursday, at("2026-12-31T12:00:00Z")),
              at("2026-12-31T12:00:00Z"));
    EXPECT_EQ(next_due_after(thursday, at("2026-12-31T12:00:00Z")), at("2027-01-07T12:00:00Z"));
    const Period p = previous_period(monday, at("2027-01-04T09:00:00Z"));
    EXPECT_EQ(p.from_ms, at("2026-12-28T09:00:00Z"));
    EXPECT_EQ(p.to_ms, at("2027-01-04T09:00:00Z"));
    // 1970-01-01 was a Thursday: the Thursday before it is 1969-12-25.
    EXPECT_EQ(last_due_at_or_before(parsed("weekly@thu 00:00"), at("1969-12-31T12:00:00Z")),
              at("1969-12-25T00:00:00Z"));
}

/// The civil weekday (0 = Monday) of epoch ms, from the day number alone.
int weekday_of(std::int64_t ms) {
    return static_cast<int>(((day_of(ms) + 3) % 7 + 7) % 7);
}

TEST(Schedule, EveryDueTimeFallsOnItsCalendarSlot) {
    std::mt19937_64 random(42);
    std::uniform_int_distribution<std::int64_t> times(at("1960-01-01T00:00:00Z"),
                                                      at("2100-01-01T00:00:00Z"));
    std::uniform_int_distribution<int> minutes(0, 24 * 60 - 1), days(0, 6), kinds(0, 2);
    for (int i = 0; i < 20'000; ++i) {
        Schedule s;
        s.kind = static_cast<Schedule::Kind>(kinds(random));
        if (s.kind != Schedule::Kind::hourly)
            s.minute_of_day = minutes(random);
        if (s.kind == Schedule::Kind::weekly)
            s.weekday = days(random);
        const std::int64_t t = times(random);
        const std::int64_t last = last_due_at_or_before(s, t);
        const std::int64_t next = next_due_after(s, t);
        ASSERT_LE(last, t);
        ASSERT_GT(next, t);
        ASSERT_EQ(next - last, s.period_ms());
        for (const std::int64_t due : {last, next}) {
            if (s.kind == Schedule::Kind::hourly) {
                ASSERT_EQ(((due % kHour) + kHour) % kHour, 0);
                continue;
            }
            ASSERT_EQ(minute_of_day(due), s.minute_of_day);
            ASSERT_EQ(((due % kMinute) + kMinute) % kMinute, 0);
            if (s.kind == Schedule::Kind::weekly) {
                ASSERT_EQ(weekday_of(due), s.weekday) << format_rfc3339_ms(due);
            }
        }
    }
}

}  // namespace
}  // namespace tally::reports
