#pragma once
// The calendar every module shares: UTC arithmetic on epoch milliseconds and day numbers
// (days since 1970-01-01), their text forms (YYYY-MM-DD, RFC 3339), and the wall clock.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tally {

inline constexpr std::int64_t kMsPerMinute = 60'000;
inline constexpr std::int64_t kMsPerDay = 86'400'000;

/// value / divisor rounded towards minus infinity (divisor > 0): the number of the window
/// of `divisor` ms that holds `value`, also for times before 1970.
inline std::int64_t floor_div(std::int64_t value, std::int64_t divisor) {
    return value >= 0 ? value / divisor : (value - divisor + 1) / divisor;
}
inline std::int64_t day_of(std::int64_t ms) {
    return floor_div(ms, kMsPerDay);
}
/// Minutes since the epoch (floor, also for times before 1970).
inline std::int64_t minute_number(std::int64_t ms) {
    return floor_div(ms, kMsPerMinute);
}
inline int minute_of_day(std::int64_t ms) {
    return static_cast<int>((ms - day_of(ms) * kMsPerDay) / kMsPerMinute);
}

/// The wall clock, in epoch milliseconds (what events without a timestamp get).
std::int64_t now_ms();

/// "YYYY-MM-DD" for a day number.
std::string format_day(std::int64_t day);
/// Day number of "YYYY-MM-DD"; nullopt when malformed or not a real date.
std::optional<std::int64_t> parse_day(std::string_view text);
/// Day numbers from a civil date (proleptic Gregorian) and back.
std::int64_t days_from_civil(int year, unsigned month, unsigned day);
void civil_from_days(std::int64_t days, int& year, unsigned& month, unsigned& day);

/// Parses RFC 3339 ("2024-01-15T10:30:00Z", fractions, "+02:00" offsets) to epoch ms.
std::optional<std::int64_t> parse_rfc3339_ms(std::string_view text);
/// Formats epoch ms as RFC 3339 UTC with a "Z" suffix and no fraction when it is zero.
std::string format_rfc3339_ms(std::int64_t ms);

}  // namespace tally
