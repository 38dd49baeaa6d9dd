// Fuzzes the dashboard formula language: any text either parses or is refused with an
// offset inside it; a parsed formula evaluates, with any mix of present and absent values,
// to nothing or to a finite number, and evaluates the same way twice.

#include <cmath>
#include <cstdint>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "tally/dashboards/formula.hpp"

using tally::dashboards::Formula;
using tally::dashboards::FormulaError;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto parsed = Formula::parse(text);
    if (const auto* error = std::get_if<FormulaError>(&parsed)) {
        TALLY_FUZZ_CHECK(!error->message.empty());
        TALLY_FUZZ_CHECK(error->offset <= text.size());
        return 0;
    }
    const Formula& formula = std::get<Formula>(parsed);
    TALLY_FUZZ_CHECK(text.size() <= tally::dashboards::kMaxFormulaBytes);
    std::vector<std::optional<double>> values;
    for (std::size_t i = 0; i < formula.names().size(); ++i) {
        const double pick[] = {0.0, 1.0, -2.5, 1e300, 7.0};
        values.push_back(i % 6 == 5 ? std::nullopt : std::optional(pick[(size + i) % 5]));
    }
    const auto first = formula.evaluate(values);
    TALLY_FUZZ_CHECK(!first || std::isfinite(*first));
    TALLY_FUZZ_CHECK(formula.evaluate(values) == first);
    // Fewer values than names: a name without one makes the result absent, never a crash.
    if (!values.empty()) {
        values.pop_back();
        TALLY_FUZZ_CHECK(!formula.evaluate(values).has_value() ||
                         formula.names().size() > values.size());
    }
    return 0;
}
