#include "tally/reports/schedule.hpp"

#include <array>

#include "tally/base/time.hpp"

namespace tally::reports {

namespace {

constexpr std::int64_t kMsPerHour = 3'600'000;
constexpr std::int64_t kMsPerWeek = 7 * kMsPerDay;
// 1970-01-01 was a Thursday: the first Monday is day 4.
constexpr std::int64_t kFirstMondayDay = 4;
constexpr std::array<std::string_view, 7> kWeekdays = {"mon", "tue", "wed", "thu",
                                                       "fri", "sat", "sun"};

constexpr std::string_view kForms =
    "schedule must be hourly, daily@HH:MM or weekly@<mon..sun> HH:MM (UTC)";

bool two_digits(std::string_view text, int max, int& out) {
    if (text.size() != 2 || text[0] < '0' || text[0] > '9' || text[1] < '0' || text[1] > '9')
        return false;
    out = (text[0] - '0') * 10 + (text[1] - '0');
    return out <= max;
}

/// "HH:MM" as minutes of the day, or an error.
std::variant<int, std::string> parse_clock(std::string_view text) {
    int hours = 0;
    int minutes = 0;
    if (text.size() != 5 || text[2] != ':')
        return std::string("the time of a schedule is HH:MM (two digits each, UTC), not \"") +
               std::string(text) + "\"";
    if (!two_digits(text.substr(0, 2), 23, hours))
        return std::string("the hour of a schedule is 00 to 23, not \"") +
               std::string(text.substr(0, 2)) + "\"";
    if (!two_digits(text.substr(3, 2), 59, minutes))
        return std::string("the minute of a schedule is 00 to 59, not \"") +
               std::string(text.substr(3, 2)) + "\"";
    return hours * 60 + minutes;
}

/// The first due time: due times are phase + k * period.
std::int64_t phase_ms(const Schedule& schedule) {
    const std::int64_t minutes = std::int64_t{schedule.minute_of_day} * kMsPerMinute;
    switch (schedule.kind) {
        case Schedule::Kind::hourly:
            return 0;
        case Schedule::Kind::daily:
            return minutes;
        case Schedule::Kind::weekly:
            return (kFirstMondayDay + schedule.weekday) * kMsPerDay + minutes;
    }
    return 0;
}

std::string clock_text(int minute_of_day) {
    std::string out = "00:00";
    out[0] = static_cast<char>('0' + minute_of_day / 60 / 10);
    out[1] = static_cast<char>('0' + minute_of_day / 60 % 10);
    out[3] = static_cast<char>('0' + minute_of_day % 60 / 10);
    out[4] = static_cast<char>('0' + minute_of_day % 60 % 10);
    return out;
}

}  // namespace

std::int64_t Schedule::period_ms() const {
    switch (kind) {
        case Kind::hourly:
            return kMsPerHour;
        case Kind::daily:
            return kMsPerDay;
        case Kind::weekly:
            return kMsPerWeek;
    }
    return kMsPerHour;
}

std::string Schedule::text() const {
    switch (kind) {
        case Kind::hourly:
            return "hourly";
        case Kind::daily:
            return "daily@" + clock_text(minute_of_day);
        case Kind::weekly:
            return "weekly@" + std::string(kWeekdays[static_cast<std::size_t>(weekday)]) + " " +
                   clock_text(minute_of_day);
    }
    return "hourly";
}

std::variant<Schedule, std::string> parse_schedule(std::string_view text) {
    Schedule schedule;
    if (text == "hourly")
        return schedule;
    std::string_view clock;
    if (text.starts_with("daily@")) {
        schedule.kind = Schedule::Kind::daily;
        clock = text.substr(6);
    } else if (text.starts_with("weekly@")) {
        schedule.kind = Schedule::Kind::weekly;
        const std::string_view rest = text.substr(7);
        const std::size_t space = rest.find(' ');
        const std::string_view day = rest.substr(0, space);
        std::size_t i = 0;
        while (i < kWeekdays.size() && kWeekdays[i] != day)
            ++i;
        if (i == kWeekdays.size())
            return std::string(
                       "the day of a weekly schedule is one of mon tue wed thu fri sat "
                       "sun, not \"") +
                   std::string(day) + "\"";
        if (space == std::string_view::npos)
            return std::string("a weekly schedule is weekly@<day> HH:MM (UTC)");
        schedule.weekday = static_cast<int>(i);
        clock = rest.substr(space + 1);
    } else {
        return std::string(kForms);
    }
    auto minutes = parse_clock(clock);
    if (auto* error = std::get_if<std::string>(&minutes))
        return std::move(*error);
    schedule.minute_of_day = std::get<int>(minutes);
    return schedule;
}

std::int64_t next_due_after(const Schedule& schedule, std::int64_t t_ms) {
    return last_due_at_or_before(schedule, t_ms) + schedule.period_ms();
}

std::int64_t last_due_at_or_before(const Schedule& schedule, std::int64_t t_ms) {
    const std::int64_t phase = phase_ms(schedule);
    const std::int64_t period = schedule.period_ms();
    return phase + floor_div(t_ms - phase, period) * period;
}

Period previous_period(const Schedule& schedule, std::int64_t due_ms) {
    return {due_ms - schedule.period_ms(), due_ms};
}

}  // namespace tally::reports
