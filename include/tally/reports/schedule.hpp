#pragma once
// When a scheduled report is due, and which period it covers.
//
// A schedule is one of three texts, all in UTC:
//
//   hourly              every whole hour (10:00, 11:00, ...)
//   daily@HH:MM         every day at HH:MM
//   weekly@mon HH:MM    every week, on that day (mon tue wed thu fri sat sun) at HH:MM
//
// UTC has no daylight-saving jumps, so every schedule is a fixed period (1 h, 24 h, 7 d)
// with a phase: its due times are exactly { phase + k * period }. Everything below is that
// arithmetic on epoch milliseconds (floor division, so times before 1970 work too): no
// calendar tables, no loops, and year or leap-day boundaries need no special case.
//
// The period a due time reports on is the one that just ended: [due - period, due). For
// hourly that is the previous whole hour, for daily the 24 hours before the due time, for
// weekly the 7 days before it.

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace tally::reports {

struct Schedule {
    enum class Kind { hourly, daily, weekly };
    Kind kind = Kind::hourly;
    int weekday = 0;        // weekly: 0 = Monday ... 6 = Sunday
    int minute_of_day = 0;  // daily and weekly: HH * 60 + MM; hourly: 0

    std::int64_t period_ms() const;
    /// The canonical text ("hourly", "daily@07:30", "weekly@mon 09:00").
    std::string text() const;
    friend bool operator==(const Schedule&, const Schedule&) = default;
};

/// The schedule of `text`, or a message saying what is wrong with it.
std::variant<Schedule, std::string> parse_schedule(std::string_view text);

/// The first due time strictly after `t_ms`.
std::int64_t next_due_after(const Schedule& schedule, std::int64_t t_ms);
/// The last due time at or before `t_ms`.
std::int64_t last_due_at_or_before(const Schedule& schedule, std::int64_t t_ms);

/// The period a run due at `due_ms` reports on: [from_ms, to_ms) = [due - period, due).
struct Period {
    std::int64_t from_ms = 0;
    std::int64_t to_ms = 0;
};
Period previous_period(const Schedule& schedule, std::int64_t due_ms);

}  // namespace tally::reports
