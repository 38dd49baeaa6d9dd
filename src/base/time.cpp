// UTC calendar arithmetic and RFC 3339 timestamps (hand-written because std::get_time is
// locale-bound and slow).
//
// days_from_civil/civil_from_days follow Howard Hinnant's public-domain algorithms
// (http://howardhinnant.github.io/date_algorithms.html): shift the year to start in March so
// the leap day is the last day of the year, then count in 400-year eras of exactly 146097
// days. Valid for any day number whose year fits an int.

#include "tally/base/time.hpp"

#include <charconv>
#include <chrono>

namespace tally {

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::int64_t days_from_civil(int year, unsigned month, unsigned day) {
    const std::int64_t y = static_cast<std::int64_t>(year) - (month <= 2 ? 1 : 0);
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto year_of_era = static_cast<unsigned>(y - era * 400);  // [0, 399]
    const unsigned day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
    const unsigned day_of_era =
        year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;  // [0, 146096]
    return era * 146097 + static_cast<std::int64_t>(day_of_era) - 719468;
}

void civil_from_days(std::int64_t days, int& year, unsigned& month, unsigned& day) {
    const std::int64_t z = days + 719468;  // days since 0000-03-01
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const auto day_of_era = static_cast<unsigned>(z - era * 146097);  // [0, 146096]
    const unsigned year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
    const unsigned day_of_year =
        day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    const unsigned mp = (5 * day_of_year + 2) / 153;  // March = 0
    day = day_of_year - (153 * mp + 2) / 5 + 1;
    month = mp < 10 ? mp + 3 : mp - 9;
    year =
        static_cast<int>(static_cast<std::int64_t>(year_of_era) + era * 400 + (month <= 2 ? 1 : 0));
}

namespace {

// Appends `value` (0..99) as two digits.
void append_2(std::string& out, unsigned value) {
    out.push_back(static_cast<char>('0' + value / 10));
    out.push_back(static_cast<char>('0' + value % 10));
}

// Years 0..9999 as exactly four digits; anything else (only reachable from absurd day
// numbers) with its sign and all its digits, so the output stays unambiguous.
void append_year(std::string& out, int year) {
    if (year >= 0 && year <= 9999) {
        append_2(out, static_cast<unsigned>(year) / 100);
        append_2(out, static_cast<unsigned>(year) % 100);
        return;
    }
    char buffer[16];
    const auto result = std::to_chars(buffer, buffer + sizeof buffer, year);
    out.append(buffer, result.ptr);
}

bool is_leap(int year) {
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

unsigned days_in_month(int year, unsigned month) {
    static constexpr unsigned kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month == 2 && is_leap(year)) {
        return 29;
    }
    return month >= 1 && month <= 12 ? kDays[month - 1] : 0;
}

// Reads `count` ASCII digits at `pos`; false when any is not a digit.
bool read_digits(std::string_view text, std::size_t pos, std::size_t count, unsigned& value) {
    value = 0;
    for (std::size_t i = pos; i < pos + count; ++i) {
        const unsigned digit = static_cast<unsigned char>(text[i]) - unsigned{'0'};
        if (digit > 9) {
            return false;
        }
        value = value * 10 + digit;
    }
    return true;
}

}  // namespace

std::string format_day(std::int64_t day) {
    int year = 0;
    unsigned month = 0;
    unsigned day_of_month = 0;
    civil_from_days(day, year, month, day_of_month);
    std::string out;
    out.reserve(10);
    append_year(out, year);
    out.push_back('-');
    append_2(out, month);
    out.push_back('-');
    append_2(out, day_of_month);
    return out;
}

std::optional<std::int64_t> parse_day(std::string_view text) {
    if (text.size() != 10 || text[4] != '-' || text[7] != '-') {
        return std::nullopt;
    }
    unsigned year = 0;
    unsigned month = 0;
    unsigned day = 0;
    if (!read_digits(text, 0, 4, year) || !read_digits(text, 5, 2, month) ||
        !read_digits(text, 8, 2, day)) {
        return std::nullopt;
    }
    const int y = static_cast<int>(year);
    if (month < 1 || month > 12 || day < 1 || day > days_in_month(y, month)) {
        return std::nullopt;
    }
    return days_from_civil(y, month, day);
}

// RFC 3339 date-time: "YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)". Accepted beyond the
// strict grammar, as RFC 3339 §5.6 allows: lower-case 't' and 'z', and a space instead of
// 'T'. Any number of fraction digits; they are truncated (not rounded) to milliseconds.
// A leap second (:60) is accepted and pinned to the last millisecond of its minute
// (HH:MM:59.999): epoch time has no leap seconds, and this keeps the event in the same
// minute and day and never reorders it before an earlier :59 timestamp.
std::optional<std::int64_t> parse_rfc3339_ms(std::string_view text) {
    // The fixed-width head "YYYY-MM-DDTHH:MM:SS" plus at least a one-byte zone.
    if (text.size() < 20) {
        return std::nullopt;
    }
    unsigned year = 0;
    unsigned month = 0;
    unsigned day = 0;
    unsigned hour = 0;
    unsigned minute = 0;
    unsigned second = 0;
    const char separator = text[10];
    if (!read_digits(text, 0, 4, year) || text[4] != '-' || !read_digits(text, 5, 2, month) ||
        text[7] != '-' || !read_digits(text, 8, 2, day) ||
        (separator != 'T' && separator != 't' && separator != ' ') ||
        !read_digits(text, 11, 2, hour) || text[13] != ':' || !read_digits(text, 14, 2, minute) ||
        text[16] != ':' || !read_digits(text, 17, 2, second)) {
        return std::nullopt;
    }
    const int y = static_cast<int>(year);
    if (month < 1 || month > 12 || day < 1 || day > days_in_month(y, month) || hour > 23 ||
        minute > 59 || second > 60) {
        return std::nullopt;
    }

    std::size_t pos = 19;
    unsigned millis = 0;
    if (text[pos] == '.') {
        const std::size_t first = ++pos;
        while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
            if (pos - first < 3) {
                millis = millis * 10 + static_cast<unsigned>(text[pos] - '0');
            }
            ++pos;
        }
        const std::size_t digits = pos - first;
        if (digits == 0) {
            return std::nullopt;
        }
        for (std::size_t i = digits; i < 3; ++i) {
            millis *= 10;  // ".5" is 500 ms
        }
    }

    std::int64_t offset_minutes = 0;
    if (pos >= text.size()) {
        return std::nullopt;  // the zone is mandatory
    }
    const char zone = text[pos];
    if (zone == 'Z' || zone == 'z') {
        if (pos + 1 != text.size()) {
            return std::nullopt;
        }
    } else if (zone == '+' || zone == '-') {
        unsigned offset_hour = 0;
        unsigned offset_minute = 0;
        if (text.size() - pos != 6 || !read_digits(text, pos + 1, 2, offset_hour) ||
            text[pos + 3] != ':' || !read_digits(text, pos + 4, 2, offset_minute) ||
            offset_hour > 23 || offset_minute > 59) {
            return std::nullopt;
        }
        offset_minutes = offset_hour * 60 + offset_minute;
        if (zone == '-') {
            offset_minutes = -offset_minutes;
        }
    } else {
        return std::nullopt;
    }

    if (second == 60) {
        second = 59;
        millis = 999;
    }
    const std::int64_t days = days_from_civil(y, month, day);
    const std::int64_t minutes = (days * 24 + hour) * 60 + minute - offset_minutes;
    return (minutes * 60 + second) * 1000 + millis;
}

std::string format_rfc3339_ms(std::int64_t ms) {
    const std::int64_t day = day_of(ms);
    const std::int64_t ms_of_day = ms - day * kMsPerDay;
    const auto seconds_of_day = static_cast<unsigned>(ms_of_day / 1000);
    const auto millis = static_cast<unsigned>(ms_of_day % 1000);

    std::string out = format_day(day);
    out.reserve(24);
    out.push_back('T');
    append_2(out, seconds_of_day / 3600);
    out.push_back(':');
    append_2(out, seconds_of_day / 60 % 60);
    out.push_back(':');
    append_2(out, seconds_of_day % 60);
    if (millis != 0) {
        out.push_back('.');
        out.push_back(static_cast<char>('0' + millis / 100));
        append_2(out, millis % 100);
    }
    out.push_back('Z');
    return out;
}

}  // namespace tally
